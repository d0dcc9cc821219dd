import t from 'tap'
import { MemoryRevocationStore } from '../../lib/revocation/memory-store.js'

function clocked (options: { maxEntries?: number } = {}) {
  const clock = { now: 1_800_000_000_000 }
  return { clock, store: new MemoryRevocationStore({ ...options, now: () => clock.now }) }
}

t.test('a revoked jti is revoked for its issuer only, until its time to live ends', async (t) => {
  const { clock, store } = clocked()
  store.revokeToken({ jti: 'j1', iss: 'https://a.example' }, 60)
  t.equal(store.isRevoked({ jti: 'j1', iss: 'https://a.example', sub: 'alice', iat: 0 }), true)
  t.equal(store.isRevoked({ jti: 'j1', iss: 'https://b.example', sub: 'alice', iat: 0 }), false, 'another issuer\'s j1 is another token')
  t.equal(store.isRevoked({ jti: 'j1', sub: 'alice', iat: 0 }), false)
  t.equal(store.isRevoked({ jti: 'j2', iss: 'https://a.example', sub: 'alice', iat: 0 }), false)
  clock.now += 59_999
  t.equal(store.isRevoked({ jti: 'j1', iss: 'https://a.example', sub: 'alice', iat: 0 }), true)
  clock.now += 1
  t.equal(store.isRevoked({ jti: 'j1', iss: 'https://a.example', sub: 'alice', iat: 0 }), false, 'gone when the token has expired')
  t.equal(store.size, 0, 'an expired entry read is dropped')
})

t.test('a revoked session revokes every token that carries its sid', async (t) => {
  const { clock, store } = clocked()
  store.revokeSession({ sid: 's1', iss: 'https://a.example' }, 60)
  t.equal(store.isRevoked({ jti: 'j1', sid: 's1', iss: 'https://a.example', sub: 'alice', iat: 0 }), true)
  t.equal(store.isRevoked({ jti: 'j2', sid: 's1', iss: 'https://a.example', sub: 'alice', iat: 0 }), true, 'another token of the session')
  t.equal(store.isRevoked({ jti: 'j3', sid: 's2', iss: 'https://a.example', sub: 'alice', iat: 0 }), false)
  t.equal(store.isRevoked({ jti: 's1', iss: 'https://a.example', sub: 'alice', iat: 0 }), false, 'a jti equal to the sid is not the session')
  clock.now += 60_000
  t.equal(store.isRevoked({ sid: 's1', iss: 'https://a.example', sub: 'alice', iat: 0 }), false)
})

t.test('keys cannot run into each other: iss "ab" + jti "c" is not iss "a" + jti "bc"', async (t) => {
  const { store } = clocked()
  store.revokeToken({ jti: 'c', iss: 'ab' }, 60)
  t.equal(store.isRevoked({ jti: 'bc', iss: 'a', sub: 'x', iat: 0 }), false)
  store.revokeAllFor({ sub: 'c', iss: 'ab' }, 100, 60)
  t.equal(store.isRevoked({ sub: 'bc', iss: 'a', iat: 0 }), false)
})

t.test('revokeAllFor revokes the tokens issued before notBefore, keeps the later notBefore, and expires', async (t) => {
  const { clock, store } = clocked()
  store.revokeAllFor({ sub: 'alice' }, 1000, 30)
  t.equal(store.isRevoked({ sub: 'alice', iat: 999 }), true)
  t.equal(store.isRevoked({ jti: 'any', sub: 'alice', iat: 999 }), true)
  t.equal(store.isRevoked({ sub: 'alice', iat: 1000 }), false, 'issued at notBefore: valid')
  t.equal(store.isRevoked({ sub: 'bob', iat: 1 }), false)
  store.revokeAllFor({ sub: 'alice' }, 900, 30)
  t.equal(store.isRevoked({ sub: 'alice', iat: 950 }), true, 'an earlier notBefore never moves it back')
  t.equal(store.isRevoked({ sub: 'alice', iat: 999 }), true)
  clock.now += 30_000
  t.equal(store.isRevoked({ sub: 'alice', iat: 1 }), false)
  store.revokeAllFor({ sub: 'carol' }, 10, null)
  clock.now += 10 * 365 * 86_400_000
  t.equal(store.isRevoked({ sub: 'carol', iat: 1 }), true, 'a null time to live never expires')
})

t.test('revokeAllFor twice: a later notBefore moves the cut-off forward; the later expiry wins', async (t) => {
  const { clock, store } = clocked()
  store.revokeAllFor({ sub: 'alice' }, 1000, 7200)
  store.revokeAllFor({ sub: 'alice' }, 2000, 60)
  t.same([1500, 1999, 2000].map((iat) => store.isRevoked({ sub: 'alice', iat })), [true, true, false], 'tokens issued between the two calls are refused')
  clock.now += 3600_000
  t.equal(store.isRevoked({ sub: 'alice', iat: 1999 }), true, 'a shorter time to live does not shorten the entry')
  store.revokeAllFor({ sub: 'alice' }, 1500, 7200)
  clock.now += 7199_000
  t.equal(store.isRevoked({ sub: 'alice', iat: 1999 }), true, 'a longer one lengthens it; the cut-off stays')
  clock.now += 1000
  t.equal(store.isRevoked({ sub: 'alice', iat: 1999 }), false)
  store.revokeAllFor({ sub: 'carol' }, 10, null)
  store.revokeAllFor({ sub: 'carol' }, 20, 60)
  clock.now += 10 * 365 * 86_400_000
  t.equal(store.isRevoked({ sub: 'carol', iat: 19 }), true, 'an entry without expiry keeps none')
})

t.test('bounded: expired entries make room; a store full of live entries refuses new ones', async (t) => {
  const { clock, store } = clocked({ maxEntries: 3 })
  store.revokeToken({ jti: 'a' }, 10)
  store.revokeToken({ jti: 'b' }, 10)
  store.revokeToken({ jti: 'c' }, 100)
  store.revokeToken({ jti: 'c' }, 100)
  t.equal(store.size, 3, 'rewriting an entry takes no room')
  t.throws(() => store.revokeToken({ jti: 'd' }, 100), { code: 'FST_JWT_SECURITY_REVOCATION_STORE_FULL', message: 'The revocation store holds 3 live entries, its maximum' })
  t.equal(store.isRevoked({ jti: 'c', sub: 'x', iat: 0 }), true, 'nothing was forgotten to make room')
  clock.now += 10_000
  store.revokeToken({ jti: 'd' }, 100)
  t.equal(store.size, 2, 'the two expired entries were swept')
  t.equal(store.isRevoked({ jti: 'd', sub: 'x', iat: 0 }), true)
})

t.test('options are checked', async (t) => {
  const invalid = (message: RegExp) => ({ code: 'FST_JWT_SECURITY_INVALID_OPTION', message })
  t.throws(() => new MemoryRevocationStore({ maxEntries: 0 }), invalid(/"maxEntries": expected a positive integer/))
  t.throws(() => new MemoryRevocationStore({ maxEntries: 1.5 }), invalid(/"maxEntries"/))
  t.throws(() => new MemoryRevocationStore({ now: 'now' as unknown as () => number }), invalid(/"now": expected a function/))
  t.throws(() => new MemoryRevocationStore({ maxEntires: 10 } as never), invalid(/"maxEntires": unknown option/), 'a misspelt option is refused, not ignored')
  t.equal(new MemoryRevocationStore().failOpen, false)
  t.equal(new MemoryRevocationStore().isRevoked({ sub: 'a', iat: 1 }), false, 'the real clock by default')
})
