import { createHmac } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { promisesDuring } from '../helpers/promises.js'
import { decodeJwt, jwtVerify, type JWK } from 'jose'
import jwtSecurity, { MemoryRevocationStore, type JwtClaims, type JwtSecurityOptions } from '../../lib/index.js'
import { fingerprintOf, TokenCache } from '../../lib/tokens/token-cache.js'
import { SECRET } from '../helpers/app.js'
import { startJwksServer } from '../helpers/jwks-server.js'
import { keyPair } from '../helpers/keys.js'
import { withBadSignature } from '../helpers/tokens.js'

const START = 1_800_000_000_000
const S = START / 1000
const b64u = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
const hs512 = (payload: object, header: object = { alg: 'HS512', typ: 'JWT' }) => {
  const input = `${b64u(header)}.${b64u(payload)}`
  return `${input}.${createHmac('sha512', SECRET).update(input).digest('base64url')}`
}

// Counts signature checks: a cache hit makes none.
function countVerifications (t: { teardown: (fn: () => void) => void }): { count: number } {
  const subtle = globalThis.crypto.subtle
  const original = subtle.verify
  const counter = { count: 0 }
  subtle.verify = async function (...args: Parameters<typeof original>) { counter.count++; return await original.apply(subtle, args) }
  t.teardown(() => { subtle.verify = original })
  return counter
}

async function buildApp (options: Partial<JwtSecurityOptions> = {}, routes: (app: FastifyInstance) => void = () => {}) {
  const clock = { now: START }
  const app = Fastify({ disableRequestLogging: true })
  await app.register(jwtSecurity, { secret: SECRET, now: () => clock.now, ...options })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => request.authenticatedUserid)
  app.get('/public', async (request) => request.authFailure)
  routes(app)
  await app.ready()
  return { app, clock }
}

// Two token-like strings with the same cache key, found by the birthday bound (about 2^15 tries).
function collidingTokens (): [string, string] {
  const byKey = new Map<number, string>()
  for (let index = 0; ; index++) {
    const token = `header.payload.${createHmac('sha256', 'collide').update(String(index)).digest('base64url')}`
    const key = fingerprintOf(token)
    const earlier = byKey.get(key)
    if (earlier !== undefined) return [earlier, token]
    byKey.set(key, token)
  }
}

function exposedGc (): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

async function status (app: FastifyInstance, token: string): Promise<number> {
  return (await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })).statusCode
}

t.test('a token verified twice is not verified again; only the exact string hits', async (t) => {
  const counter = countVerifications(t)
  const { app } = await buildApp()
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  t.equal(await status(app, token), 200)
  t.equal(counter.count, 1)
  t.same([await status(app, token), await status(app, token), await status(app, token)], [200, 200, 200])
  t.equal(counter.count, 2, 'admitted on its second verification: two signature checks for four requests')
  t.equal(await status(app, `${token.slice(0, -1)}${token.endsWith('A') ? 'Q' : 'A'}`), 401, 'another string is another token')
  t.equal(counter.count, 3)
})

t.test('tokens presented once are not kept and do not push out the tokens in use', async (t) => {
  const counter = countVerifications(t)
  const { app } = await buildApp({ cache: { maxEntries: 100 } })
  t.teardown(() => app.close())
  const inUse = await app.createJwtToken('alice')
  await status(app, inUse)
  await status(app, inUse)
  const flood = await Promise.all(Array.from({ length: 300 }, async (_, index) => await app.createJwtToken(`user-${index}`)))
  for (const token of flood) t.equal(await status(app, token), 200)
  const before = counter.count
  t.equal(await status(app, inUse), 200)
  t.equal(counter.count, before, 'three times the capacity in one-shot tokens later, the token in use is still a hit')
})

t.test('refused tokens are never cached: each try is verified again', async (t) => {
  const counter = countVerifications(t)
  const { app } = await buildApp()
  t.teardown(() => app.close())
  const forged = withBadSignature(await app.createJwtToken('alice'))
  for (let attempt = 0; attempt < 3; attempt++) t.equal(await status(app, forged), 401)
  t.equal(counter.count, 3)
})

t.test('an entry ends when verification would refuse the token: exp + leeway, to the millisecond (F4)', async (t) => {
  const { app, clock } = await buildApp({ leeway: 5 })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice', {}, { expiresIn: 60 })
  t.equal(await status(app, token), 200)
  clock.now = START + 65_000 - 1
  t.equal(await status(app, token), 200, 'a hit just before exp + leeway')
  clock.now = START + 65_000
  t.equal(await status(app, token), 401, 'refused at exp + leeway, as a full verification would')
  t.same((await app.inject({ url: '/public', headers: { authorization: `Bearer ${token}` } })).json(), { error: 'invalid_token', reason: 'token_expired', claim: 'exp' })
})

t.test('maxTokenAge ends an entry as jose would (iat + maxTokenAge + leeway, whole seconds)', async (t) => {
  const { app, clock } = await buildApp({ maxTokenAge: 30, expiresIn: 30 })
  t.teardown(() => app.close())
  const token = hs512({ sub: 'alice', iat: S, exp: S + 3600 })
  t.equal(await status(app, token), 200)
  clock.now = START + 30_999
  t.equal(await status(app, token), 200)
  clock.now = START + 31_000
  t.equal(await status(app, token), 401)
})

t.test('a token without iat, or with a future nbf, is never cached as valid (F4)', async (t) => {
  const { app, clock } = await buildApp()
  t.teardown(() => app.close())
  t.equal(await status(app, hs512({ sub: 'alice', exp: S + 60 })), 401, 'no iat: refused, so never cached')
  const early = hs512({ sub: 'alice', iat: S, nbf: S + 10, exp: S + 60 })
  t.equal(await status(app, early), 401, 'not yet valid')
  clock.now = START + 10_000
  t.equal(await status(app, early), 200, 'valid at nbf: the earlier refusal was not cached')
})

t.test('the cache ttl bounds an entry whatever the exp', async (t) => {
  const counter = countVerifications(t)
  const { app, clock } = await buildApp({ cache: { ttl: 2 } })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  await status(app, token)
  await status(app, token)
  clock.now = START + 1999
  await status(app, token)
  t.equal(counter.count, 2, 'the ttl counts from the verification that admitted the token')
  clock.now = START + 2000
  t.equal(await status(app, token), 200, 'verified again after the ttl')
  t.equal(counter.count, 3)
})

t.test('revocation and the identity callback still run on a hit', async (t) => {
  const seen: string[] = []
  const { app } = await buildApp({
    revocation: new MemoryRevocationStore(),
    callback: (userid) => { seen.push(userid); return userid === 'blocked' ? null : ['role:user'] }
  })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  t.same([await status(app, token), await status(app, token)], [200, 200])
  t.same(seen, ['alice', 'alice'], 'the callback ran on the hit too')
  await app.revokeToken(decodeJwt(token))
  t.equal(await status(app, token), 401, 'revoked after it was cached: refused')
})

t.test('requests that present a new token at once share its verification; each still runs the callback and revocation', async (t) => {
  const counter = countVerifications(t)
  const seen: string[] = []
  const { app } = await buildApp({
    cache: false,
    revocation: new MemoryRevocationStore(),
    callback: (userid) => { seen.push(userid); return ['role:user'] }
  })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  t.same(await Promise.all([status(app, token), status(app, token), status(app, token), status(app, token)]), [200, 200, 200, 200])
  t.equal(counter.count, 1, 'four requests at once, one signature verification, even with the cache off')
  t.same(seen, ['alice', 'alice', 'alice', 'alice'], 'the callback ran for each request')
  await app.revokeToken(decodeJwt(token))
  t.same(await Promise.all([status(app, token), status(app, token)]), [401, 401], 'revoked: each request refused')
  t.equal(counter.count, 2, 'settled verifications are not kept: verified again (and shared again)')
  const forged = withBadSignature(token)
  const refusals = await Promise.all([1, 2, 3].map(() => app.inject({ url: '/me', headers: { authorization: `Bearer ${forged}` } })))
  t.equal(counter.count, 3, 'a forged token sent three times at once: one verification')
  for (const refusal of refusals) {
    t.equal(refusal.statusCode, 401, 'a shared refusal is a 401 for each request')
    t.match(refusal.headers['www-authenticate'], /^Bearer realm="[^"]*", error="invalid_token"/, 'with the RFC 6750 challenge')
    t.notMatch(refusal.body, forged.slice(-12), 'and no echo of the token')
  }
})

t.test('cached claims are the same frozen object, and so is the identity built from them on hits', async (t) => {
  const claims: JwtClaims[] = []
  const identities: unknown[] = []
  const { app } = await buildApp({}, (app) => {
    app.get('/claims', async (request) => { claims.push(request.jwtClaims as JwtClaims); identities.push(request.identity); return 'ok' })
  })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice', { roles: ['a'] })
  for (let index = 0; index < 4; index++) await app.inject({ url: '/claims', headers: { authorization: `Bearer ${token}` } })
  t.not(claims[0], claims[1], 'verified twice before it is admitted: two copies')
  t.equal(claims[1], claims[2], 'the hit serves the admitted copy')
  t.ok(Object.isFrozen(claims[0]))
  t.ok(Object.isFrozen(claims[1]?.roles))
  t.not(identities[1], identities[2], 'the admitting verification builds its own identity')
  t.equal(identities[2], identities[3], 'hits share the identity kept with the entry')
  t.same(identities[3], { userid: 'alice', principals: ['system.Everyone', 'system.Authenticated', 'alice', 'a'], claims: claims[2] })
  t.ok(Object.isFrozen(identities[3]))
  const other = await app.createJwtToken('bob')
  for (let index = 0; index < 3; index++) await app.inject({ url: '/claims', headers: { authorization: `Bearer ${other}` } })
  t.equal((identities[6] as { userid: string }).userid, 'bob', 'each entry keeps its own identity')
})

t.test('promises per request: none of its own on a hit, no more than a bare jose hook for a new token', async (t) => {
  const bare = Fastify()
  bare.get('/me', async () => 'alice')
  // The smallest verifier on jose: an async hook awaiting jwtVerify with a CryptoKey.
  const key = await crypto.subtle.importKey('raw', Buffer.from(SECRET), { name: 'HMAC', hash: 'SHA-512' }, false, ['verify'])
  bare.get('/jose', { onRequest: async (request) => { await jwtVerify((request.headers.authorization as string).slice(7), key, { algorithms: ['HS512'] }) } }, async () => 'alice')
  await bare.ready()
  const { app } = await buildApp({}, (app) => {
    app.get('/view', { config: { permission: 'view' } }, async (request) => request.authenticatedUserid)
  })
  t.teardown(async () => { await bare.close(); await app.close() })
  const headers = { authorization: `Bearer ${await app.createJwtToken('alice', { roles: ['view'] })}` }
  // Every route once before counting; the token verified twice (then admitted), then hits.
  for (let index = 0; index < 3; index++) {
    await app.inject({ url: '/me', headers })
    await app.inject({ url: '/view', headers })
    await app.inject({ url: '/public' })
    await bare.inject({ url: '/me', headers })
    await bare.inject({ url: '/jose', headers })
  }
  t.equal((await bare.inject({ url: '/jose', headers })).statusCode, 200, 'the jose hook verifies the plugin\'s tokens')
  const baseline = await promisesDuring(async () => await bare.inject({ url: '/me', headers }))
  t.ok(baseline > 0, 'the count sees the promises of inject and the route')
  t.equal(await promisesDuring(async () => await app.inject({ url: '/me', headers })), baseline, 'a hit, app.permits() in preHandler')
  t.equal(await promisesDuring(async () => await app.inject({ url: '/view', headers })), baseline, 'a hit, config.permission in onRequest')
  t.equal(await promisesDuring(async () => await app.inject({ url: '/public' })), baseline, 'no credential, public route')
  const fresh = async () => ({ authorization: `Bearer ${await app.createJwtToken('alice', { roles: ['view'] })}` })
  const [forJose, forPlugin] = [await fresh(), await fresh()]
  const jose = await promisesDuring(async () => await bare.inject({ url: '/jose', headers: forJose }))
  // The policy's step and the identity hook's cost two promises, and jose makes two fewer when it
  // is given a key rather than a resolver, whose answer it awaits: the service gives it the key of a
  // header it has seen, so such a token costs as many as in the jose hook.
  t.equal(await promisesDuring(async () => await app.inject({ url: '/view', headers: forPlugin })), jose, 'a new token, its header known')
})

t.test('a clock that throws, at any of its reads: a logged 500 with the cache on or off, and nothing left waiting', async (t) => {
  for (const cache of [false, true]) {
    let reads = 0
    let failingRead = 0
    const { app } = await buildApp({ cache, now: () => { if (++reads === failingRead) throw new Error('clock down'); return START } })
    t.teardown(() => app.close())
    // Each round makes one more read throw, until a request reads the clock fewer times than that.
    for (let read = 1; ; read++) {
      const headers = { authorization: `Bearer ${await app.createJwtToken('alice')}` }
      reads = 0
      failingRead = read
      const failed = await app.inject({ url: '/me', headers })
      if (reads < read) {
        t.equal(failed.statusCode, 200, `a new token reads the clock ${read - 1} time(s) (cache ${cache ? 'on' : 'off'})`)
        t.ok(read > 1)
        break
      }
      t.same(failed.json(), { statusCode: 500, code: 'FST_JWT_SECURITY_POLICY_FAILED', error: 'Internal Server Error', message: 'The security policy failed' }, `read ${read} throws`)
      failingRead = 0
      const next = await Promise.race([app.inject({ url: '/me', headers }), sleep(5000, null)])
      t.equal(next?.statusCode, 200, 'the clock back, the same token is verified')
    }
  }
})

t.test('an entry is bound to the keys that verified it: a refetched JWK Set verifies again', async (t) => {
  const pair = keyPair('ec256')
  const jwk: JWK = { ...pair.publicKeyObject.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }
  const server = await startJwksServer([jwk])
  t.teardown(() => server.close())
  const issuer = Fastify()
  await issuer.register(jwtSecurity, { keys: [{ kid: 'k1', privateKey: pair.privateKey, algorithm: 'ES256' }], now: () => START })
  t.teardown(() => issuer.close())
  const counter = countVerifications(t)
  const { app, clock } = await buildApp({ secret: undefined, jwks: { url: server.url, cacheMaxAge: 0.2, cooldown: 0.1 } })
  t.teardown(() => app.close())
  const token = await issuer.createJwtToken('alice')
  t.same([await status(app, token), await status(app, token), await status(app, token)], [200, 200, 200])
  t.equal(counter.count, 2)
  server.keys = []
  await new Promise((resolve) => setTimeout(resolve, 250))
  clock.now += 250
  t.equal(await status(app, token), 401, 'the key left the set: the cached token is refused')
})

t.test('offer: a token is kept the second time it is offered, and only then', async (t) => {
  const rules = { leeway: 0, maxTokenAge: undefined }
  const claims = (sub: string): JwtClaims => Object.freeze({ sub, iat: S, exp: S + 60 })
  const cache = new TokenCache({ maxEntries: 10 }, rules)
  cache.offer('header.payload.signature-one', claims('a'), START, 0)
  t.equal(cache.size, 0, 'offered once: only remembered')
  t.equal(cache.lookup('header.payload.signature-one', START, 0)?.claims, undefined)
  cache.offer('header.payload.signature-one', claims('a'), START, 0)
  t.equal(cache.lookup('header.payload.signature-one', START, 0)?.claims.sub, 'a', 'offered twice: kept')
  // 1,024 slots (the least): among 5,000 tokens, many share a slot with an earlier one.
  const offered = Array.from({ length: 5000 }, (_, index) => `h.p.${index.toString(36).padStart(12, '0')}`)
  for (const token of offered) cache.offer(token, claims(token), START, 0)
  t.equal(cache.size, 1, 'tokens offered once are never kept, whatever slot they share')
  let admitted = 0
  for (const token of offered) {
    cache.offer(token, claims(token), START, 0)
    const hit = cache.lookup(token, START, 0)?.claims
    if (hit !== undefined) {
      admitted++
      t.equal(hit.sub, token, 'a kept token maps to its own claims')
    }
  }
  t.ok(admitted > 0 && admitted < offered.length, `${admitted} of ${offered.length} admitted: those whose fingerprint survived`)
  t.ok(cache.size <= 10, 'maxEntries still bounds the cache')
  cache.offer('', claims('empty'), START, 0)
  cache.offer('', claims('empty'), START, 0)
  t.equal(cache.lookup('', START, 0)?.claims.sub, 'empty', 'any string has a fingerprint, even one shorter than the key')
})

t.test('bounds: entries and bytes; the oldest goes first', async (t) => {
  const rules = { leeway: 0, maxTokenAge: undefined }
  const claims = (sub: string): JwtClaims => Object.freeze({ sub, iat: S, exp: S + 60 })
  const byCount = new TokenCache({ maxEntries: 2 }, rules)
  byCount.set('t1', claims('a'), START, 0)
  byCount.set('t2', claims('b'), START, 0)
  byCount.set('t3', claims('c'), START, 0)
  t.equal(byCount.size, 2)
  t.equal(byCount.lookup('t1', START, 0)?.claims, undefined, 'the oldest was dropped')
  t.equal(byCount.lookup('t3', START, 0)?.claims.sub, 'c')
  byCount.set('t3', claims('c'), START, 0)
  t.equal(byCount.size, 2, 'setting a token again replaces it')
  const bySize = new TokenCache({ maxBytes: 2048 }, rules)
  for (let index = 0; index < 10; index++) bySize.set(`token-${index}-${'x'.repeat(300)}`, claims(String(index)), START, 0)
  t.ok(bySize.bytes <= 2048, `at most maxBytes (${bySize.bytes})`)
  t.ok(bySize.size >= 1 && bySize.size < 10)
  bySize.set('x'.repeat(4000), claims('huge'), START, 0)
  t.equal(bySize.lookup('x'.repeat(4000), START, 0)?.claims, undefined, 'an entry larger than maxBytes is not kept')
  t.equal(byCount.lookup('t3', START, 1)?.claims, undefined, 'another key generation is a miss')
  const alike = new TokenCache({}, rules)
  alike.set('first-token.same-ending', claims('first'), START, 0)
  t.equal(alike.lookup('other-token.same-ending', START, 0)?.claims, undefined, 'two tokens that end alike are two tokens (F4)')
  t.equal(alike.lookup('first-token.same-ending', START, 0)?.claims.sub, 'first')
  alike.set('other-token.same-ending', claims('other'), START, 0)
  t.equal(alike.lookup('other-token.same-ending', START, 0)?.claims.sub, 'other')
  t.equal(alike.lookup('first-token.same-ending', START, 0)?.claims, undefined, 'the newer one took the place of the older')
  const [one, two] = collidingTokens()
  t.equal(fingerprintOf(one), fingerprintOf(two), 'the two tokens have the same cache key')
  const colliding = new TokenCache({}, rules)
  colliding.set(one, claims('one'), START, 0)
  t.equal(colliding.lookup(two, START, 0)?.claims, undefined, 'a colliding key finds nothing for the other token (F4)')
  colliding.set(two, claims('two'), START, 0)
  t.equal(colliding.lookup(two, START, 0)?.claims.sub, 'two')
  t.equal(colliding.lookup(one, START, 0)?.claims, undefined, 'the newer took the key; the older is verified again, never served the newer claims')
  t.equal(colliding.size, 1)
  const entry = colliding.lookup(two, START, 0)
  if (entry !== undefined) entry.derived = 'derived from two'
  t.equal(colliding.lookup(two, START, 0)?.derived, 'derived from two', 'what a policy derives is kept with the entry')
  colliding.set(one, claims('one'), START, 0)
  t.equal(colliding.lookup(one, START, 0)?.derived, undefined, 'a new entry under the same key starts with nothing derived from other claims')
  const expired = new TokenCache({}, rules)
  expired.set('old', Object.freeze({ sub: 'a', iat: S - 100, exp: S - 1 }), START, 0)
  t.equal(expired.size, 0, 'an already expired token is not kept')
})

t.test('eviction stays oldest-first under churn, and its bookkeeping stays bounded', async (t) => {
  const rules = { leeway: 0, maxTokenAge: undefined }
  const claims = (sub: string, exp = S + 600): JwtClaims => Object.freeze({ sub, iat: S, exp })
  const full = new TokenCache({ maxEntries: 100 }, rules)
  for (let index = 0; index < 5000; index++) {
    full.set(`token-${index}`, claims(String(index)), START, 0)
    // Replacing a token and expiring one on a read leave slots behind that eviction must skip.
    if (index % 7 === 0) full.set(`token-${index}`, claims(String(index)), START, 0)
    if (index % 11 === 0 && index > 0) full.lookup(`token-${index - 1}`, START, 1)
  }
  t.equal(full.size, 100)
  const kept = Array.from({ length: 5000 }, (_, index) => index).filter((index) => full.lookup(`token-${index}`, START, 0) !== undefined)
  t.equal(kept[kept.length - 1], 4999, 'the newest is kept')
  t.ok((kept[0] as number) >= 4850, `only recent tokens are kept (oldest ${kept[0]})`)
  t.ok(full.orderSlots <= 2 * full.size + 1024, `eviction bookkeeping: ${full.orderSlots} slots for ${full.size} entries`)
  // Entries that end before the cache fills are never evicted: their slots are dropped anyway.
  const churn = new TokenCache({ maxEntries: 10_000 }, rules)
  for (let index = 0; index < 20_000; index++) {
    churn.set(`short-${index}`, claims(String(index)), START, 0)
    churn.lookup(`short-${index}`, START, 1)
  }
  t.equal(churn.size, 0)
  t.ok(churn.orderSlots <= 2 + 1024, `${churn.orderSlots} slots left for no entry (the list was last checked with one entry)`)
})

t.test('at its cap the cache takes less than 20 MB', async (t) => {
  const { app } = await buildApp({ cache: { maxEntries: 10_000 } })
  t.teardown(() => app.close())
  const tokens = await Promise.all(Array.from({ length: 10_000 }, async (_, index) => await app.createJwtToken(`user-${index}`, { roles: ['view', 'edit'], name: `User number ${index}` })))
  // The suite's log capture keeps every log line and every Authorization value it sees. Request
  // logging off, and every Authorization value seen once beforehand by an app without a cache,
  // leaves the measured growth to the cache (and Fastify).
  const control = Fastify({ disableRequestLogging: true })
  await control.register(jwtSecurity, { secret: SECRET, now: () => START, cache: false })
  control.get('/me', async (request) => request.authenticatedUserid)
  for (const token of tokens) await control.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  await control.close()
  const gc = exposedGc()
  gc()
  const before = process.memoryUsage().heapUsed
  // Each token twice: the second verification admits it.
  for (const token of tokens) await status(app, token)
  for (const token of tokens) await status(app, token)
  gc()
  const grown = (process.memoryUsage().heapUsed - before) / 1024 / 1024
  t.ok(grown < 20, `${grown.toFixed(1)} MB for 10,000 cached tokens`)
  const counter = countVerifications(t)
  for (const token of tokens.slice(-5000)) await status(app, token)
  // A token is admitted when no other token took its slot of the admission filter (131,072 slots)
  // between its two offers, 9,999 offers apart here: exp(-9999 / 131072), 93 %, about 370 misses.
  t.ok(counter.count < 500, `${counter.count} of the newest 5,000 tokens verified again: the others were held by the cache`)
  t.comment(`heap growth with a full cache: ${grown.toFixed(1)} MB`)
})

t.test('cache: false turns it off; options are checked', async (t) => {
  const counter = countVerifications(t)
  const { app } = await buildApp({ cache: false })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  await status(app, token)
  await status(app, token)
  t.equal(counter.count, 2)
  const bad: Array<[unknown, RegExp]> = [
    ['yes', /"cache": expected false, true or/],
    [{ maxEntries: 0 }, /"cache.maxEntries"/],
    [{ maxBytes: 10 }, /"cache.maxBytes"/],
    [{ ttl: 0 }, /"cache.ttl"/],
    [{ ttl: '1 hour' }, /"cache.ttl"/],
    [{ size: 1 }, /"cache.size": unknown option/]
  ]
  for (const [cache, message] of bad) {
    const bad = Fastify()
    bad.register(jwtSecurity, { secret: SECRET, cache } as JwtSecurityOptions)
    await t.rejects(async () => { await bad.ready() }, { code: 'FST_JWT_SECURITY_INVALID_OPTION', message })
  }
  const on = Fastify()
  await on.register(jwtSecurity, { secret: SECRET, cache: true })
  t.teardown(() => on.close())
  t.pass('cache: true is the default cache')
})
