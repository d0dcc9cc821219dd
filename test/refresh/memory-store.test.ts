import t from 'tap'
import { MemoryRefreshStore } from '../../lib/refresh/memory-store.js'
import type { RefreshFamily } from '../../lib/refresh/store.js'
import { refreshFamily, T0 } from '../helpers/store-tests.js'

function clocked (options: { maxFamilies?: number } = {}) {
  const clock = { now: T0 }
  return { clock, store: new MemoryRefreshStore({ ...options, now: () => clock.now }) }
}

const family = refreshFamily

const ids = (families: readonly RefreshFamily[]) => families.map(({ id }) => id).sort()

t.test('create, get, rotate, delete, listFor', async (t) => {
  const { store } = clocked()
  const first = family()
  const second = family({ jkt: 'thumbprint' })
  const bob = family({ sub: 'bob' })
  store.create(first, 60)
  store.create(second, 60)
  store.create(bob, 60)
  t.strictSame(store.get(first.id), first, 'get gives the family as it was given')
  t.equal(store.get('nobody'), null)
  t.strictSame(ids(store.listFor({ sub: 'alice', iss: 'https://issuer.example' })), ids([first, second]))
  t.strictSame(ids(store.listFor({ sub: 'bob', iss: 'https://issuer.example' })), [bob.id])
  t.strictSame(store.listFor({ sub: 'alice', iss: '' }), [], 'another issuer\'s alice is another subject')
  t.strictSame(store.listFor({ sub: 'carol', iss: 'https://issuer.example' }), [])

  const rotation = store.rotate(first.id, 0, T0 + 5000, 60)
  t.strictSame(rotation, { rotated: true, family: { ...first, generation: 1, rotatedAt: T0 + 5000, lastUsedAt: T0 + 5000 } })
  t.strictSame(store.get(first.id), rotation.family, 'the rotated family is what get gives now')
  t.strictSame(store.listFor({ sub: 'alice', iss: 'https://issuer.example' }).find(({ id }) => id === first.id), rotation.family)
  t.strictSame(store.rotate(first.id, 1, T0 + 6000, 60).family?.generation, 2, 'and rotates on from there')

  t.equal(store.delete(first.id), true)
  t.equal(store.delete(first.id), false, 'a second delete finds nothing')
  t.equal(store.get(first.id), null)
  t.strictSame(store.rotate(first.id, 2, T0, 60), { rotated: false, family: null }, 'a deleted family does not rotate')
  t.strictSame(ids(store.listFor({ sub: 'alice', iss: 'https://issuer.example' })), [second.id], 'the subject index follows the delete')
  t.equal(store.delete(second.id), true)
  t.strictSame(store.listFor({ sub: 'alice', iss: 'https://issuer.example' }), [])
  t.equal(store.size, 1, 'bob\'s family only')
})

t.test('a rotation from a stale (or future) generation does not rotate, and gives the family as it is', async (t) => {
  const { store } = clocked()
  const f = family()
  store.create(f, 60)
  const won = store.rotate(f.id, 0, T0 + 1, 60)
  const lost = store.rotate(f.id, 0, T0 + 2, 60)
  t.equal(won.rotated, true)
  t.strictSame(lost, { rotated: false, family: won.family }, 'the same from twice: the second does not rotate, and sees generation 1')
  t.strictSame(store.rotate(f.id, 5, T0 + 3, 60), { rotated: false, family: won.family }, 'a generation ahead does not rotate either')
  t.equal(store.get(f.id)?.rotatedAt, T0 + 1, 'the failed rotations changed nothing')
})

t.test('families expire after their time to live, renewed by each rotation only', async (t) => {
  const { clock, store } = clocked()
  const f = family()
  store.create(f, 60)
  clock.now += 59_999
  t.ok(store.get(f.id))
  clock.now += 1
  t.equal(store.get(f.id), null, 'gone when its time to live ends')
  t.equal(store.size, 0, 'and dropped when read')

  const g = family()
  store.create(g, 60)
  clock.now += 30_000
  t.equal(store.rotate(g.id, 0, clock.now, 60).rotated, true)
  clock.now += 40_000
  t.equal(store.rotate(g.id, 0, clock.now, 3600).rotated, false)
  clock.now += 19_999
  t.ok(store.get(g.id), 'alive 89.999 s after its creation: the rotation at 30 s renewed it for 60 s')
  clock.now += 1
  t.equal(store.get(g.id), null, 'a rotation that did not happen renewed nothing')

  const h = family()
  store.create(h, 3600)
  t.equal(store.rotate(h.id, 0, clock.now, 0.0001).rotated, true)
  clock.now += 1
  t.equal(store.get(h.id), null, 'a rotation with a shorter time to live shortens it: 0.1 ms is kept 1 ms')

  const i = family()
  store.create(i, 2.5)
  clock.now += 2500
  t.equal(store.get(i.id), null, 'fractions of a second count')
})

t.test('an expired family is absent for rotate, delete and listFor, and the subject index follows', async (t) => {
  const { clock, store } = clocked()
  const short = family()
  const long = family()
  store.create(short, 10)
  store.create(long, 100)
  clock.now += 10_000
  t.strictSame(store.rotate(short.id, 0, clock.now, 60), { rotated: false, family: null })
  t.equal(store.delete(short.id), false)
  t.strictSame(ids(store.listFor({ sub: 'alice', iss: 'https://issuer.example' })), [long.id])
  clock.now += 90_000
  t.strictSame(store.listFor({ sub: 'alice', iss: 'https://issuer.example' }), [], 'both expired')
  t.equal(store.size, 0, 'listFor dropped what it found expired')

  const again = family({ id: short.id })
  store.create(again, 60)
  t.strictSame(store.listFor({ sub: 'alice', iss: 'https://issuer.example' }), [again], 'an id can be used again once its family expired')
  store.create(family({ sub: 'bob' }), 60)
  clock.now += 60_000
  t.strictSame(store.listFor({ sub: 'bob', iss: 'https://issuer.example' }), [])
  t.equal(store.get(again.id), null)
})

t.test('an id used again by another subject, after a delete or an expiry, is not listed under the first', async (t) => {
  const { clock, store } = clocked()
  const deleted = family()
  store.create(deleted, 60)
  store.delete(deleted.id)
  const expired = family()
  store.create(expired, 10)
  clock.now += 10_000
  t.equal(store.get(expired.id), null)
  const bobs = [family({ id: deleted.id, sub: 'bob' }), family({ id: expired.id, sub: 'bob' })]
  for (const f of bobs) store.create(f, 60)
  t.strictSame(store.listFor({ sub: 'alice', iss: 'https://issuer.example' }), [], 'alice\'s index kept neither id')
  t.strictSame(ids(store.listFor({ sub: 'bob', iss: 'https://issuer.example' })), ids(bobs))
})

t.test('subject keys cannot run into each other: iss "ab" + sub "c" is not iss "a" + sub "bc"', async (t) => {
  const { store } = clocked()
  const f = family({ sub: 'c', iss: 'ab' })
  store.create(f, 60)
  t.strictSame(store.listFor({ sub: 'bc', iss: 'a' }), [])
  t.strictSame(store.listFor({ sub: 'c', iss: 'ab' }), [f])
  const unicode = family({ sub: 'é', iss: 'ü' })
  store.create(unicode, 60)
  t.strictSame(store.listFor({ sub: 'é', iss: 'ü' }), [unicode])
})

t.test('bounded: expired families make room; a store full of live ones refuses a new one and evicts none', async (t) => {
  const { clock, store } = clocked({ maxFamilies: 3 })
  const [a, b, c] = [family(), family({ sub: 'bob' }), family()]
  store.create(a, 10)
  store.create(b, 10)
  store.create(c, 100)
  const full = { message: 'the refresh store holds 3 live families, its maxFamilies: a new session cannot be kept' }
  t.throws(() => store.create(family(), 100), full)
  clock.now += 5000
  t.throws(() => store.create(family(), 100), full, 'still full before the first expiry')
  t.equal(store.rotate(a.id, 0, clock.now, 100).rotated, true, 'a renews its time to live')
  clock.now += 5000
  const d = family()
  store.create(d, 100)
  t.equal(store.size, 3, 'b expired and was swept; a was renewed')
  t.strictSame(store.listFor({ sub: 'bob', iss: 'https://issuer.example' }), [], 'the sweep kept the subject index right')
  t.strictSame(ids(store.listFor({ sub: 'alice', iss: 'https://issuer.example' })), ids([a, c, d]))
  t.throws(() => store.create(family(), 100), full, 'full again, of live families')
  t.throws(() => store.create(family(), 100), full)
  t.ok(store.get(c.id) && store.get(a.id) && store.get(d.id), 'nothing was evicted to make room')
  store.delete(c.id)
  store.create(family(), 100)
  t.equal(store.size, 3, 'a delete makes room at once')
})

t.test('a family is kept as a frozen copy: neither the caller nor a reader can change what is stored', async (t) => {
  const { store } = clocked()
  const claims = { roles: ['admin'], org: { id: 7 }, empty: [] as string[], big: 123456789012345, dropped: undefined }
  const given = { ...family(), claims, extra: 'not a field' }
  store.create(given, 60)
  claims.roles.push('root')
  claims.org.id = 8
  const stored = store.get(given.id) as RefreshFamily
  t.strictSame(stored.claims, { roles: ['admin'], org: { id: 7 }, empty: [], big: 123456789012345 }, 'a copy, as JSON keeps it')
  t.notOk('extra' in stored, 'only the fields of a family')
  t.ok(Object.isFrozen(stored) && Object.isFrozen(stored.claims) && Object.isFrozen(stored.claims.roles) && Object.isFrozen(stored.claims.org))
  t.throws(() => { (stored.claims.roles as string[]).push('root') }, TypeError)
  t.throws(() => { (stored as { generation: number }).generation = 9 }, TypeError)
  const rotation = store.rotate(given.id, 0, T0, 60)
  t.ok(Object.isFrozen(rotation) && Object.isFrozen(rotation.family))
  t.ok(Object.isFrozen(store.rotate(given.id, 0, T0, 60)), 'a rotation that did not happen too')
  t.ok(Object.isFrozen(store.rotate('none', 0, T0, 60)))
})

t.test('create refuses an id in use, and what is not a family', async (t) => {
  const { store } = clocked()
  const f = family()
  store.create(f, 60)
  t.throws(() => store.create({ ...f, sub: 'bob' }, 60), { message: 'the refresh store already holds a family of this id' })
  t.strictSame(store.listFor({ sub: 'bob', iss: 'https://issuer.example' }), [], 'and indexed nothing')
  const notFamily = { name: 'TypeError', message: 'a refresh store keeps refresh families: this is not one' }
  const bad: unknown[] = [
    null, 'family', { ...family(), id: '' }, { ...family(), id: 1 }, { ...family(), sub: undefined }, { ...family(), iss: undefined },
    { ...family(), secret: null }, { ...family(), generation: -1 }, { ...family(), generation: 1.5 }, { ...family(), createdAt: Number.NaN },
    { ...family(), expiresAt: Infinity }, { ...family(), rotatedAt: '1' }, { ...family(), lastUsedAt: undefined }, { ...family(), claims: null },
    { ...family(), claims: [] }, { ...family(), claims: 'x' }, { ...family(), jkt: undefined }, { ...family(), jkt: 1 }
  ]
  for (const value of bad) t.throws(() => store.create(value as RefreshFamily, 60), notFamily, JSON.stringify(value))
  t.throws(() => store.create({ ...family(), claims: { toJSON: () => 'claims' } }, 60), { name: 'TypeError', message: /does not survive JSON/ })
  t.equal(store.size, 1, 'none was kept')
})

t.test('times to live, generations and times are checked', async (t) => {
  const { store } = clocked()
  const f = family()
  for (const ttl of [0, -1, Number.NaN, Infinity, '60' as unknown as number]) {
    t.throws(() => store.create(f, ttl), { name: 'RangeError', message: /needs a positive, finite time to live/ }, String(ttl))
    t.throws(() => store.rotate(f.id, 0, T0, ttl), { name: 'RangeError' })
  }
  store.create(f, 60)
  for (const from of [-1, 0.5, Number.NaN, 2 ** 53]) t.throws(() => store.rotate(f.id, from, T0, 60), { name: 'RangeError', message: /rotates from a generation/ }, String(from))
  for (const at of [Number.NaN, Infinity]) t.throws(() => store.rotate(f.id, 0, at, 60), { name: 'RangeError', message: /rotates at a finite time/ }, String(at))
  t.equal(store.get(f.id)?.generation, 0, 'none rotated')
  t.throws(() => store.listFor({ sub: 'alice' } as never), { name: 'TypeError', message: 'a subject of refresh families is a sub and an iss, both strings' })
  t.throws(() => store.listFor({ sub: 1, iss: '' } as never), { name: 'TypeError' })
})

t.test('options are checked', async (t) => {
  const invalid = (message: RegExp) => ({ code: 'FST_JWT_SECURITY_INVALID_OPTION', message })
  t.throws(() => new MemoryRefreshStore({ maxFamilies: 0 }), invalid(/"maxFamilies": expected a positive integer/))
  t.throws(() => new MemoryRefreshStore({ maxFamilies: 1.5 }), invalid(/"maxFamilies"/))
  t.throws(() => new MemoryRefreshStore({ now: 'now' as unknown as () => number }), invalid(/"now": expected a function/))
  t.throws(() => new MemoryRefreshStore({ maxEntries: 10 } as never), invalid(/"maxEntries": unknown option/), 'a misspelt option is refused, not ignored')
  t.throws(() => new MemoryRefreshStore(null as never), invalid(/"options": expected an object/))
  const store = new MemoryRefreshStore()
  const f = family({ createdAt: Date.now() })
  store.create(f, 60)
  t.strictSame(store.get(f.id), f, 'the real clock by default')
})
