import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { RedisRefreshStore, type RedisRefreshClientLike } from '../../lib/refresh/redis-store.js'
import type { RefreshFamily } from '../../lib/refresh/store.js'
import { startRedis } from '../helpers/redis-server.js'
import { capturingLog, FAMILY_SECRET, refreshFamily, T0, until, type LogLine } from '../helpers/store-tests.js'

// A real Redis server: what one store instance writes, another on the same Redis sees at once.

const PREFIX = 'fastify-jwt-security:refresh:'
const SECRET = FAMILY_SECRET
const family = refreshFamily

const ids = (families: readonly RefreshFamily[]) => families.map(({ id }) => id).sort()
const ALICE = { sub: 'alice', iss: 'https://issuer.example' }
const ALICE_INDEX = `${PREFIX}sub:22:https://issuer.examplealice`

// Two instances of the app on one Redis, and a client to look at what they keep.
async function redisWithStores (t: Test) {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const stores: [RedisRefreshStore, RedisRefreshStore] = [new RedisRefreshStore({ url: redis.url }), new RedisRefreshStore({ url: redis.url })]
  t.teardown(() => { for (const store of stores) store.close() })
  for (const store of stores) await store.init(capturingLog())
  return { client, stores }
}

t.test('two stores on one Redis: create, get, rotate, delete and listFor, seen by both', async (t) => {
  const { stores: [a, b] } = await redisWithStores(t)
  const first = family({ jkt: 'thumbprint' })
  const second = family()
  const bob = family({ sub: 'bob' })
  await a.create(first, 60)
  await b.create(second, 60)
  await a.create(bob, 60)
  t.strictSame(await b.get(first.id), first, 'the other instance reads the family as it was given')
  t.equal(await b.get('nobody'), null)
  t.strictSame(ids(await b.listFor(ALICE)), ids([first, second]))
  t.strictSame(ids(await a.listFor({ sub: 'bob', iss: 'https://issuer.example' })), [bob.id])
  t.strictSame(await a.listFor({ sub: 'alice', iss: '' }), [], 'another issuer\'s alice is another subject')

  const rotation = await b.rotate(first.id, 0, T0 + 5000, 60)
  t.strictSame(rotation, { rotated: true, family: { ...first, generation: 1, rotatedAt: T0 + 5000, lastUsedAt: T0 + 5000 } })
  t.ok(Object.isFrozen(rotation) && Object.isFrozen(rotation.family) && Object.isFrozen(rotation.family?.claims), 'frozen, as the memory store\'s')
  t.strictSame(await a.get(first.id), rotation.family)
  t.strictSame(await a.rotate(first.id, 0, T0 + 6000, 60), { rotated: false, family: rotation.family }, 'a stale generation: no rotation, the family as it is')
  t.strictSame(await a.rotate(first.id, 7, T0 + 6000, 60), { rotated: false, family: rotation.family }, 'a generation ahead: none either')
  t.equal((await a.rotate(first.id, 1, T0 + 7000, 60)).family?.generation, 2)
  t.strictSame(await a.rotate('nobody', 0, T0, 60), { rotated: false, family: null })

  t.equal(await b.delete(first.id), true)
  t.equal(await a.delete(first.id), false, 'a second delete finds nothing')
  t.equal(await a.get(first.id), null)
  t.strictSame(await a.rotate(first.id, 2, T0, 60), { rotated: false, family: null }, 'a deleted family does not rotate')
  t.strictSame(ids(await a.listFor(ALICE)), [second.id])
  await t.rejects(a.create(second, 60), { message: 'the Redis refresh store already holds a family of this id' })
  t.strictSame(await a.get(second.id), second, 'and left it as it was')
})

t.test('two instances rotating the same generation at once: exactly one rotates, twenty times over', async (t) => {
  const { stores: [a, b] } = await redisWithStores(t)
  for (let pair = 0; pair < 20; pair++) {
    const f = family()
    await a.create(f, 60)
    const results = await Promise.all([a.rotate(f.id, 0, T0 + 1, 60), b.rotate(f.id, 0, T0 + 2, 60)])
    t.equal(results.filter(({ rotated }) => rotated).length, 1, `pair ${pair}: one rotation`)
    const [won, lost] = results[0].rotated ? results : [results[1], results[0]]
    t.strictSame(lost.family, won.family, `pair ${pair}: the loser sees the family the winner left, at generation 1`)
    t.equal(won.family?.generation, 1)
  }
  const f = family()
  await a.create(f, 60)
  const many = await Promise.all(Array.from({ length: 20 }, async (_, at) => await (at % 2 === 0 ? a : b).rotate(f.id, 0, T0 + at, 60)))
  t.equal(many.filter(({ rotated }) => rotated).length, 1, 'twenty at once: one rotation')
  t.equal((await a.get(f.id))?.generation, 1)
})

t.test('time to live: set at create, renewed by a rotation only; the subject set lives as long as its longest family', async (t) => {
  const { client, stores: [store] } = await redisWithStores(t)
  const near = (actual: number, ms: number) => actual > ms - 1000 && actual <= ms
  const f = family()
  await store.create(f, 60)
  const key = `${PREFIX}family:${f.id}`
  t.ok(near(await client.pttl(key), 60_000), 'the family: 60 s')
  t.ok(near(await client.pttl(ALICE_INDEX), 60_000), 'its subject\'s set: 60 s')
  await store.rotate(f.id, 0, T0, 120)
  t.ok(near(await client.pttl(key), 120_000), 'a rotation keeps it 120 s more')
  t.ok(near(await client.pttl(ALICE_INDEX), 120_000), 'and the set as long')
  await store.rotate(f.id, 0, T0, 3600)
  t.ok(near(await client.pttl(key), 120_000), 'a stale rotation renews nothing')
  const g = family()
  await store.create(g, 30)
  t.ok(near(await client.pttl(ALICE_INDEX), 120_000), 'a shorter-lived family does not shrink the set')
  await store.rotate(f.id, 1, T0, 10)
  t.ok(near(await client.pttl(key), 10_000), 'a rotation with a shorter time to live shortens the family')
  t.ok(near(await client.pttl(ALICE_INDEX), 120_000), 'but never the set')
  await store.create(family({ sub: 'bob' }), 2.5)
  const bob = await client.pttl(`${PREFIX}sub:22:https://issuer.examplebob`)
  t.ok(bob > 2000 && bob <= 2500, `fractions of a second count: 2.5 s (${bob} ms)`)

  // The rotation script derives the subject's key from the family: the same key as create's, in bytes.
  const unicode = family({ sub: 'zoë', iss: 'https://émetteur.example' })
  await store.create(unicode, 5)
  await store.rotate(unicode.id, 0, T0, 600)
  const index = `${PREFIX}sub:${Buffer.byteLength('https://émetteur.example')}:https://émetteur.examplezoë`
  t.ok(near(await client.pttl(index), 600_000), 'a non-ASCII subject\'s set is renewed too')
  t.strictSame((await client.keys(`${PREFIX}sub:*émetteur*`)), [index], 'one set for the subject, not two')
  t.strictSame(await store.listFor({ sub: 'zoë', iss: 'https://émetteur.example' }), [{ ...unicode, generation: 1 }])
})

t.test('a rotation rewrites the generation and times only: claims that cjson would change come back as they were', async (t) => {
  const { stores: [store] } = await redisWithStores(t)
  const claims = { empty: [], nested: { list: [1, null, { deep: 'a/b "quoted" \\ é 😀' }], none: {} }, big: 123456789012345, float: 0.1 + 0.2, neg: -1e-7 }
  const f = family({ claims, createdAt: T0 + 0.25 })
  await store.create(f, 60)
  const at = T0 + 1234.5678
  const rotation = await store.rotate(f.id, 0, at, 60)
  t.strictSame(rotation.family, { ...f, generation: 1, rotatedAt: at, lastUsedAt: at }, 'the rotation\'s answer')
  t.strictSame(await store.get(f.id), rotation.family, 'what Redis keeps')
  for (let generation = 1; generation < 12; generation++) await store.rotate(f.id, generation, at + generation, 60)
  t.strictSame(await store.get(f.id), { ...f, generation: 12, rotatedAt: at + 11, lastUsedAt: at + 11 }, 'two-digit generations too')
})

t.test('the subject set follows deletes and expiries; listFor forgets the ids of expired families', async (t) => {
  const { client, stores: [store] } = await redisWithStores(t)
  const [short, long, gone] = [family(), family(), family()]
  await store.create(short, 0.2)
  await store.create(long, 60)
  await store.create(gone, 60)
  t.strictSame((await client.smembers(ALICE_INDEX)).sort(), ids([short, long, gone]))
  await store.delete(gone.id)
  t.strictSame((await client.smembers(ALICE_INDEX)).sort(), ids([short, long]), 'delete removed the id from the set')
  t.ok(await until(async () => await client.exists(`${PREFIX}family:${short.id}`) === 0, 30), 'the short family expires')
  t.equal(await store.get(short.id), null)
  t.strictSame(await store.rotate(short.id, 0, T0, 60), { rotated: false, family: null })
  t.strictSame(await store.listFor(ALICE), [long])
  t.strictSame(await client.smembers(ALICE_INDEX), [long.id], 'listFor removed the expired family\'s id')
  await store.delete(long.id)
  t.equal(await client.exists(ALICE_INDEX), 0, 'the set goes with its last id')
  t.strictSame(await store.listFor(ALICE), [])
})

t.test('a store created from a url closes its own client; a client of your own is used and left open', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const owned = new RedisRefreshStore({ url: redis.url, prefix: 'billing:refresh:' })
  await owned.init(capturingLog())
  await owned.init(capturingLog())
  const f = family()
  await owned.create(f, 60)
  owned.close()
  await t.rejects(owned.get(f.id), 'a closed store cannot answer, and says so')

  const client = new Redis(redis.url, { enableOfflineQueue: false, commandTimeout: 500 })
  await new Promise((resolve) => client.once('ready', resolve))
  t.teardown(() => client.disconnect())
  const given: RedisRefreshClientLike = client
  const store = new RedisRefreshStore({ client: given, prefix: 'billing:refresh:' })
  t.strictSame(await store.get(f.id), f, 'a given client works before init, with the prefix')
  await store.init(capturingLog())
  store.close()
  t.equal(await client.ping(), 'PONG', 'close() left the given client open')
  t.strictSame((await client.keys('*')).sort(), [`billing:refresh:family:${f.id}`, 'billing:refresh:sub:22:https://issuer.examplealice'])
  const byDefault = new RedisRefreshStore({ client })
  await byDefault.create(f, 60)
  t.ok(await client.exists(`${PREFIX}family:${f.id}`), 'the default prefix')
})

t.test('Redis killed: every method rejects at once, one log line; Redis back: it works again', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const lines: LogLine[] = []
  // A long timeout: answers within it come from the closed offline queue, not from waiting.
  const store = new RedisRefreshStore({ url: redis.url, timeout: '5s' })
  t.teardown(() => store.close())
  await store.init(capturingLog(lines))
  const f = family()
  await store.create(f, 60)

  await redis.kill()
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['create', async () => await store.create(family(), 60)],
    ['get', async () => await store.get(f.id)],
    ['rotate', async () => await store.rotate(f.id, 0, T0, 60)],
    ['delete', async () => await store.delete(f.id)],
    ['listFor', async () => await store.listFor(ALICE)]
  ]
  for (const [name, call] of calls) {
    const started = Date.now()
    await t.rejects(call(), `${name} fails closed: never "no family"`)
    const elapsed = Date.now() - started
    t.ok(elapsed < 1000, `${name} rejected in ${elapsed} ms`)
  }
  t.ok(await until(() => lines.length > 0, 30), 'the outage is logged')
  t.same(lines.map((line) => [line.level, line.msg]), [[50, 'the Redis refresh store is unreachable: refreshes are refused (503) until it is back']])

  await redis.start()
  t.ok(await until(async () => await store.listFor(ALICE).then(() => true, () => false)), 'works again once Redis is back')
  const g = family()
  await store.create(g, 60)
  t.equal((await store.rotate(g.id, 0, T0, 60)).rotated, true)
  t.same(lines.map((line) => line.msg).at(-1), 'the Redis refresh store is reachable again')
})

t.test('a value that is not a family rejects, without quoting it; nothing is written by a script that fails', async (t) => {
  const { client, stores: [store] } = await redisWithStores(t)
  const notFamily = { message: 'the Redis refresh store found a value that is not a refresh family' }
  const key = (id: string) => `${PREFIX}family:${id}`
  const leaks = (error: unknown) => String((error as Error).message).includes(SECRET)

  await client.set(key('broken'), `{"secret":"${SECRET}"`)
  const error = await store.get('broken').catch((error: unknown) => error)
  t.match(error, notFamily, 'bad JSON')
  t.notOk(leaks(error), 'the message does not quote the value')
  await t.rejects(store.rotate('broken', 0, T0, 60), /Expected|cjson|decode/, 'the rotation script refuses it')
  await t.rejects(store.delete('broken'))
  t.equal(await client.get(key('broken')), `{"secret":"${SECRET}"`, 'and it is still there')
  await client.sadd(ALICE_INDEX, 'broken')
  await t.rejects(store.listFor(ALICE), notFamily)

  await client.set(key('number'), '5')
  await t.rejects(store.get('number'), notFamily)
  await t.rejects(store.rotate('number', 0, T0, 60), /not a refresh family/)
  await t.rejects(store.delete('number'), /not a refresh family/)

  const wrong = family()
  await client.set(key('partial'), JSON.stringify({ ...wrong, id: 'partial', secret: undefined }))
  await t.rejects(store.get('partial'), notFamily, 'JSON of something else')
  await t.rejects(store.rotate('partial', 0, T0, 60), /not a refresh family as the store writes it/)
  await t.rejects(store.rotate('partial', 3, T0, 60), notFamily, 'not even when the generation differs')

  const other = family()
  await client.set(key('elsewhere'), JSON.stringify(other))
  await t.rejects(store.get('elsewhere'), { message: 'the Redis refresh store found a family under the key of another' })

  // A family in another order than the store writes it: readable, but not rewritten.
  const reordered = family()
  await client.set(key(reordered.id), JSON.stringify(reordered))
  t.strictSame(await store.get(reordered.id), reordered)
  await t.rejects(store.rotate(reordered.id, 0, T0, 60), /not a refresh family as the store writes it/)
  t.equal(await client.get(key(reordered.id)), JSON.stringify(reordered), 'the failed script wrote nothing')

  const noSubject = JSON.stringify({ generation: 0, rotatedAt: T0, lastUsedAt: T0, id: 'nosub', iss: '' })
  await client.set(key('nosub'), noSubject)
  await t.rejects(store.rotate('nosub', 0, T0, 60), /not a refresh family/)
  t.equal(await client.get(key('nosub')), noSubject, 'checked before any write')

  const bobs = family({ sub: 'bob' })
  await store.create(bobs, 60)
  await client.del(ALICE_INDEX)
  await client.sadd(ALICE_INDEX, bobs.id)
  await t.rejects(store.listFor(ALICE), { message: 'the Redis refresh store found a family of another subject in a subject\'s set' }, 'another user\'s session is never listed')
  await client.del(ALICE_INDEX)
  await client.sadd(ALICE_INDEX, bobs.id.slice(0, -1))
  t.strictSame(await store.listFor(ALICE), [], 'an id without a family is no family')
})

t.test('each method is one command; unexpected replies and failures reject; bad arguments send nothing', async (t) => {
  const calls: Array<[string, unknown[]]> = []
  const replies: unknown[] = []
  const reply = async (name: string, args: unknown[]) => {
    calls.push([name, args])
    const next = replies.shift()
    if (next instanceof Error) throw next
    return next
  }
  const client: RedisRefreshClientLike = {
    get: async (...args) => await reply('get', args) as string | null,
    mget: async (...args) => await reply('mget', args) as Array<string | null>,
    smembers: async (...args) => await reply('smembers', args) as string[],
    srem: async (...args) => await reply('srem', args),
    eval: async (_script, ...args) => await reply('eval', args)
  }
  const store = new RedisRefreshStore({ client, prefix: 'p:' })
  const f = family({ sub: 'c', iss: 'ab' })

  replies.push(1, 'OK', new Error('READONLY You can\'t write against a read only replica.'))
  await store.create(f, 2.5)
  t.strictSame(calls.pop(), ['eval', [2, `p:family:${f.id}`, 'p:sub:2:abc', JSON.stringify({ generation: 0, rotatedAt: T0, lastUsedAt: T0, id: f.id, sub: 'c', iss: 'ab', secret: SECRET, createdAt: T0, expiresAt: f.expiresAt, claims: f.claims, jkt: null }), 2500, f.id, 'p:']])
  await t.rejects(store.create(f, 60), { message: 'the Redis refresh store got an unexpected reply to its create script' })
  await t.rejects(store.create(f, 60), { message: /READONLY/ }, 'a Redis error rejects')

  replies.push([0], null, [2, JSON.stringify(f)], [1], 'x', [1, JSON.stringify(f)])
  t.strictSame(await store.rotate(f.id, 3, T0 + 0.5, 0.0001), { rotated: false, family: null })
  t.strictSame(calls.pop(), ['eval', [1, `p:family:${f.id}`, 3, 4, '1800000000000.5', 1, 'p:', f.id]])
  for (let at = 0; at < 4; at++) await t.rejects(store.rotate(f.id, 0, T0, 60), { message: 'the Redis refresh store got an unexpected reply to its rotation script' })
  t.strictSame(await store.rotate(f.id, 0, T0, 60), { rotated: true, family: f })

  replies.push(1, 0, 'OK')
  t.equal(await store.delete(f.id), true)
  t.strictSame(calls.pop(), ['eval', [1, `p:family:${f.id}`, 'p:', f.id]])
  t.equal(await store.delete(f.id), false)
  await t.rejects(store.delete(f.id), { message: 'the Redis refresh store got an unexpected reply to its delete script' })

  const g = family({ sub: 'c', iss: 'ab' })
  calls.length = 0
  replies.push([], ['x', f.id, g.id], [null, JSON.stringify(f), null], 1, [f.id], [JSON.stringify(f)])
  t.strictSame(await store.listFor({ sub: 'c', iss: 'ab' }), [])
  t.strictSame(await store.listFor({ sub: 'c', iss: 'ab' }), [f])
  t.strictSame(await store.listFor({ sub: 'c', iss: 'ab' }), [f])
  t.strictSame(calls, [
    ['smembers', ['p:sub:2:abc']],
    ['smembers', ['p:sub:2:abc']], ['mget', ['p:family:x', `p:family:${f.id}`, `p:family:${g.id}`]], ['srem', ['p:sub:2:abc', 'x', g.id]],
    ['smembers', ['p:sub:2:abc']], ['mget', [`p:family:${f.id}`]]
  ], 'SMEMBERS, MGET, and SREM only for ids without a family')

  replies.push(null)
  t.equal(await store.get('none'), null)
  calls.length = 0
  for (const ttl of [0, -1, Number.NaN, Infinity]) {
    await t.rejects(store.create(f, ttl), { name: 'RangeError', message: /needs a positive, finite time to live/ })
    await t.rejects(store.rotate(f.id, 0, T0, ttl), { name: 'RangeError' })
  }
  await t.rejects(store.rotate(f.id, -1, T0, 60), { name: 'RangeError', message: /rotates from a generation/ })
  await t.rejects(store.rotate(f.id, 0, Number.NaN, 60), { name: 'RangeError', message: /rotates at a finite time/ })
  await t.rejects(store.create({ ...f, claims: [] as never }, 60), { name: 'TypeError', message: 'a refresh store keeps refresh families: this is not one' })
  await t.rejects(store.listFor({ sub: 'c' } as never), { name: 'TypeError' })
  t.strictSame(calls, [], 'nothing was sent')
})

t.test('options are checked', async (t) => {
  const client: RedisRefreshClientLike = { get: async () => null, mget: async () => [], smembers: async () => [], srem: async () => 0, eval: async () => 0 }
  const bad: Array<[unknown, RegExp]> = [
    [{}, /"url": give either url or client/],
    [{ url: 'redis://127.0.0.1:6379', client }, /"url": give either url or client/],
    [{ url: 'http://127.0.0.1' }, /"url": expected a redis:\/\//],
    [{ client: {} }, /"client": expected an ioredis client/],
    [{ client: { ...client, srem: undefined } }, /"client": expected an ioredis client/],
    [{ client: { set: async () => 'OK' } }, /"client": expected an ioredis client/],
    [{ url: 'redis://127.0.0.1:6379', prefix: 1 }, /"prefix": expected a string/],
    [{ url: 'redis://127.0.0.1:6379', timeout: 0 }, /"timeout": must be more than 0 seconds/],
    [{ url: 'redis://127.0.0.1:6379', timeout: '1 hour' }, /"timeout": expected seconds or a duration/],
    [{ client, timeout: '2s' }, /"timeout": applies to the client created from url: set commandTimeout on your own client/],
    [{ url: 'redis://127.0.0.1:6379', maxFamilies: 10 }, /"maxFamilies": unknown option/],
    [null, /"options": expected an object/]
  ]
  for (const [options, message] of bad) t.throws(() => new RedisRefreshStore(options as never), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message }, String(message))
  t.ok(new RedisRefreshStore({ url: 'rediss://cache.internal:6380/0', prefix: '', timeout: '2s' }), 'a TLS URL, an empty prefix and a duration string')
  await t.rejects(new RedisRefreshStore({ url: 'redis://127.0.0.1:6379' }).get('id'), { message: 'the Redis refresh store is not initialised: register it with the plugin' })
})

t.test('a login drops the ids of the subject\'s expired families: the set does not grow with short sessions', async (t) => {
  const { client, stores: [store] } = await redisWithStores(t)
  await store.create(family(), 60)
  for (let index = 0; index < 5; index++) await store.create(family(), 0.05)
  t.equal(await client.scard(ALICE_INDEX), 6)
  await new Promise((resolve) => setTimeout(resolve, 120))
  await store.create(family(), 60)
  t.equal(await client.scard(ALICE_INDEX), 2, 'the long session and the new one')
})
