import { request } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { SignJWT } from 'jose'
import t from 'tap'
import jwtSecurity, { JwtCookiePolicy, JwtHeaderPolicy, JwtPolicy, MemoryDpopReplayStore, PolicyChain, type Credential, type DpopReplayStore, type JwtSecurityOptions } from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { DpopClient, PUBLIC_ORIGIN } from '../helpers/dpop-client.js'

// The DPoP checks of RFC 9449 §4.3 and §7, through the plugin: proofs made by oauth4webapi,
// answered by app.inject.

const NONCE_SECRET = 'a-nonce-secret-of-more-than-32-bytes-0123456789'
const CHALLENGE_ALGS = 'algs="ES256 EdDSA Ed25519"'
const DPOP_BARE = `DPoP realm="api", ${CHALLENGE_ALGS}`
const BEARER_BARE = 'Bearer realm="api"'
const invalidProof = `DPoP realm="api", error="invalid_dpop_proof", error_description="The DPoP proof is invalid", ${CHALLENGE_ALGS}`

interface Failure { error: string, reason: string, claim?: string }

async function dpopApp (options: Partial<JwtSecurityOptions> = {}, dpop: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => { done(null, Object.fromEntries(new URLSearchParams(body as string))) })
  await app.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: PUBLIC_ORIGIN, ...dpop }, ...options } as JwtSecurityOptions)
  app.post('/login', async (request) => {
    const { jkt } = await request.dpopProof()
    return { access_token: await request.createJwtToken('alice', {}, { jkt }), token_type: 'DPoP', expires_in: 3600 }
  })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => ({ userid: request.authenticatedUserid, cnf: request.jwtClaims?.cnf }))
  app.get('/public', async (request) => ({ userid: request.authenticatedUserid, failure: request.authFailure }))
  app.post('/orders/:id', { preHandler: app.permits('system.Authenticated') }, async () => ({ ok: true }))
  await app.ready()
  return app
}

async function login (app: FastifyInstance, client: DpopClient): Promise<string> {
  const answer = await client.tokenRequest(app)
  if (answer.status !== 200) throw new Error(`login failed: ${answer.body}`)
  return (answer.json() as { access_token: string }).access_token
}

// The failure the plugin recorded, read through an open route with the same headers.
async function failureOf (app: FastifyInstance, headers: Record<string, string | string[]>, url = '/public'): Promise<Failure | null> {
  const response = await app.inject({ url, headers })
  return (response.json() as { failure: Failure | null }).failure
}

t.test('a token bound at login is accepted with proofs of its key, ES256 and Ed25519', async (t) => {
  const app = await dpopApp()
  t.teardown(() => app.close())
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const client = await DpopClient.create(alg)
    const token = await login(app, client)
    const me = await client.request(app, token, '/me')
    t.equal(me.status, 200, alg)
    t.same(me.json(), { userid: 'alice', cnf: { jkt: client.jkt } })
    // Every request carries a new proof: a second one is accepted too.
    t.equal((await client.request(app, token, '/me')).status, 200)
    t.equal((await client.request(app, token, '/orders/7?expand=lines', { method: 'POST' })).status, 200, 'query left out of htu')
  }
})

t.test('a bound token sent as Bearer is refused, even without the dpop option (RFC 9449 §7.2)', async (t) => {
  const app = await dpopApp()
  t.teardown(() => app.close())
  const client = await DpopClient.create()
  const token = await login(app, client)
  const bearer = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(bearer.statusCode, 401)
  t.equal(bearer.json().code, 'FST_JWT_SECURITY_INVALID_TOKEN')
  t.same(bearer.headers['www-authenticate'], [
    'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"', DPOP_BARE])
  t.same(await failureOf(app, { authorization: `Bearer ${token}` }), { error: 'invalid_token', reason: 'dpop_bound_token', claim: 'cnf' })

  // An app without DPoP cannot check the binding: it refuses the token rather than treat it as a bearer token.
  const plain = Fastify()
  await plain.register(jwtSecurity, { secret: SECRET })
  plain.get('/public', async (request) => ({ failure: request.authFailure }))
  t.teardown(() => plain.close())
  t.same(await failureOf(plain, { authorization: `Bearer ${token}` }), { error: 'invalid_token', reason: 'dpop_bound_token', claim: 'cnf' })
  t.same(await failureOf(plain, { authorization: `DPoP ${token}` }), null, 'the DPoP scheme is not read at all')
  const refused = await plain.inject({ url: '/public', headers: { authorization: `Bearer ${token}` } })
  t.equal(refused.statusCode, 200)
})

t.test('a bound token in the session cookie is refused', async (t) => {
  const client = await DpopClient.create()
  const issuing = await dpopApp()
  t.teardown(() => issuing.close())
  const token = await login(issuing, client)
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, policy: new JwtCookiePolicy() })
  app.get('/public', async (request) => ({ failure: request.authFailure }))
  t.teardown(() => app.close())
  t.same(await failureOf(app, { cookie: `__Host-session=${token}` }), { error: 'invalid_token', reason: 'dpop_bound_token', claim: 'cnf' })
})

t.test('a stolen token with a proof of another key is refused', async (t) => {
  const app = await dpopApp()
  t.teardown(() => app.close())
  const owner = await DpopClient.create()
  const token = await login(app, owner)
  const thief = await DpopClient.create()
  const stolen = await thief.request(app, token, '/me')
  t.equal(stolen.status, 401)
  t.equal(stolen.json().code, 'FST_JWT_SECURITY_INVALID_DPOP_PROOF')
  t.same(stolen.headers.get('www-authenticate'), `${invalidProof}, ${BEARER_BARE}`)
  const proof = await thief.proof('GET', `${PUBLIC_ORIGIN}/public`, token)
  t.same(await failureOf(app, { authorization: `DPoP ${token}`, dpop: proof }), { error: 'invalid_dpop_proof', reason: 'dpop_key_mismatch' })
})

t.test('each proof check refuses with its own reason', async (t) => {
  let clock = Date.now()
  const app = await dpopApp({ now: () => clock })
  t.teardown(() => app.close())
  const client = await DpopClient.create()
  const token = await login(app, client)
  const other = await login(app, client)
  const dpop = (proof: string) => ({ authorization: `DPoP ${token}`, dpop: proof })
  const proofFor = (method: string, url: string, forToken = token) => client.proof(method, url, forToken)

  t.same(await failureOf(app, { authorization: `DPoP ${token}` }), { error: 'invalid_dpop_proof', reason: 'dpop_proof_missing' })
  const first = await proofFor('GET', `${PUBLIC_ORIGIN}/public`)
  const second = await proofFor('GET', `${PUBLIC_ORIGIN}/public`)
  t.same(await failureOf(app, { authorization: `DPoP ${token}`, dpop: [first, second] }), { error: 'invalid_dpop_proof', reason: 'dpop_proof_duplicated' })
  t.same(await failureOf(app, dpop('not a proof')), { error: 'invalid_dpop_proof', reason: 'dpop_proof_malformed' })
  t.same(await failureOf(app, dpop(first.slice(0, -4) + 'AAAA')), { error: 'invalid_dpop_proof', reason: 'dpop_proof_invalid' })
  t.same(await failureOf(app, dpop(await proofFor('POST', `${PUBLIC_ORIGIN}/public`))), { error: 'invalid_dpop_proof', reason: 'dpop_method_mismatch' })
  t.same(await failureOf(app, dpop(await proofFor('GET', `${PUBLIC_ORIGIN}/me`))), { error: 'invalid_dpop_proof', reason: 'dpop_url_mismatch' })
  t.same(await failureOf(app, dpop(await proofFor('GET', 'https://evil.example.test/public'))), { error: 'invalid_dpop_proof', reason: 'dpop_url_mismatch' })
  t.same(await failureOf(app, dpop(await proofFor('GET', `${PUBLIC_ORIGIN}/public`, other))), { error: 'invalid_dpop_proof', reason: 'dpop_ath_mismatch' })

  t.same(await failureOf(app, dpop(first)), null, 'the first use of a proof is accepted')
  t.same(await failureOf(app, dpop(first)), { error: 'invalid_dpop_proof', reason: 'dpop_proof_replayed' })

  const late = await proofFor('GET', `${PUBLIC_ORIGIN}/public`)
  clock = Date.now() + 70_000
  t.same(await failureOf(app, dpop(late)), { error: 'invalid_dpop_proof', reason: 'dpop_proof_expired' }, 'older than maxAge + leeway')
  const early = await proofFor('GET', `${PUBLIC_ORIGIN}/public`)
  clock = Date.now() - 10_000
  t.same(await failureOf(app, dpop(early)), { error: 'invalid_dpop_proof', reason: 'dpop_proof_invalid' }, 'issued in the future, past the leeway')
})

t.test('a refused DPoP request answers with the DPoP challenge first, and its error code', async (t) => {
  let clock = Date.now()
  const app = await dpopApp({ now: () => clock, expiresIn: '1m' })
  t.teardown(() => app.close())
  const client = await DpopClient.create()
  const token = await login(app, client)
  const missing = await app.inject({ url: '/me', headers: { authorization: `DPoP ${token}` } })
  t.equal(missing.statusCode, 401)
  t.same(missing.json(), { statusCode: 401, code: 'FST_JWT_SECURITY_INVALID_DPOP_PROOF', error: 'Unauthorized', message: 'The DPoP proof is invalid' })
  t.same(missing.headers['www-authenticate'], [invalidProof, BEARER_BARE])

  clock += 120_000
  const expired = await client.request(app, token, '/me')
  t.equal(expired.json().code, 'FST_JWT_SECURITY_TOKEN_EXPIRED')
  t.equal(expired.headers.get('www-authenticate'),
    `DPoP realm="api", error="invalid_token", error_description="The access token expired", ${CHALLENGE_ALGS}, ${BEARER_BARE}`)
  const forged = await client.request(app, `${token.slice(0, -4)}AAAA`, '/me')
  t.equal(forged.json().code, 'FST_JWT_SECURITY_INVALID_TOKEN')
  t.equal(forged.headers.get('www-authenticate'),
    `DPoP realm="api", error="invalid_token", error_description="The access token is invalid", ${CHALLENGE_ALGS}, ${BEARER_BARE}`)

  const anonymous = await app.inject({ url: '/me' })
  t.same(anonymous.headers['www-authenticate'], [BEARER_BARE, DPOP_BARE], 'both schemes are offered')
  const malformed = await app.inject({ url: '/me', headers: { authorization: 'DPoP a b' } })
  t.equal(malformed.statusCode, 400)
  t.same(malformed.headers['www-authenticate'], ['Bearer realm="api", error="invalid_request", error_description="The authorization request is malformed"', DPOP_BARE])
  const expiredBearer = await app.inject({ url: '/me', headers: { authorization: `Bearer ${await app.createJwtToken('bob')}` } })
  t.equal(expiredBearer.statusCode, 200, 'an unbound bearer token is still accepted in mode allowed')
})

t.test('the DPoP scheme is read as the Bearer one: case, spaces, another scheme', async (t) => {
  const app = await dpopApp()
  t.teardown(() => app.close())
  t.same(await failureOf(app, { authorization: 'dpop' }), { error: 'invalid_request', reason: 'credentials_missing' })
  t.same(await failureOf(app, { authorization: 'DPOP   ' }), { error: 'invalid_request', reason: 'credentials_missing' })
  t.same(await failureOf(app, { authorization: 'DPoPx abc' }), null, 'another scheme: not ours')
  const client = await DpopClient.create()
  const token = await login(app, client)
  const proof = await client.proof('GET', `${PUBLIC_ORIGIN}/public`, token)
  const accepted = await app.inject({ url: '/public', headers: { authorization: `dpop  ${token}`, dpop: proof } })
  t.same(accepted.json(), { userid: 'alice', failure: null })
})

t.test('modes: off, allowed and required, for the app\'s own tokens', async (t) => {
  const client = await DpopClient.create()
  const allowed = await dpopApp()
  t.teardown(() => allowed.close())
  const bound = await login(allowed, client)
  const unbound = await allowed.createJwtToken('bob')
  t.same(await failureOf(allowed, { authorization: `DPoP ${unbound}`, dpop: await client.proof('GET', `${PUBLIC_ORIGIN}/public`, unbound) }),
    { error: 'invalid_token', reason: 'dpop_token_unbound', claim: 'cnf' })

  const required = await dpopApp({}, { mode: 'required' })
  t.teardown(() => required.close())
  t.same(await failureOf(required, { authorization: `Bearer ${unbound}` }), { error: 'invalid_token', reason: 'dpop_required' })
  const refused = await required.inject({ url: '/me', headers: { authorization: `Bearer ${unbound}` } })
  t.same(refused.headers['www-authenticate'], ['Bearer realm="api", error="invalid_token", error_description="The access token is invalid"', DPOP_BARE])
  t.same((await required.inject({ url: '/me' })).headers['www-authenticate'], DPOP_BARE, 'Bearer is not offered when every token must be bound')
  t.equal((await client.request(required, bound, '/me')).status, 200)
  const missing = await required.inject({ url: '/me', headers: { authorization: `DPoP ${bound}` } })
  t.same(missing.headers['www-authenticate'], invalidProof, 'no Bearer challenge after a DPoP refusal either')

  // Off for the app's own tokens, on for a trusted issuer's: the scheme is read, the app's tokens refuse it.
  const off = await dpopApp({ issuers: [{ issuer: 'https://login.example.test', audience: 'api', keys: [{ kid: 'k', secret: SECRET, algorithm: 'HS256' }] }] }, { mode: 'off' })
  t.teardown(() => off.close())
  t.same(await failureOf(off, { authorization: `DPoP ${unbound}`, dpop: await client.proof('GET', `${PUBLIC_ORIGIN}/public`, unbound) }),
    { error: 'invalid_token', reason: 'dpop_not_accepted' })
  t.same(await failureOf(off, { authorization: `Bearer ${unbound}` }), null)
  await t.rejects(off.createJwtToken('alice', {}, { jkt: client.jkt }), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS', message: /jkt needs the dpop option/ })

  const issuerToken = await new SignJWT({ cnf: { jkt: client.jkt } }).setProtectedHeader({ alg: 'HS256', kid: 'k' })
    .setIssuer('https://login.example.test').setAudience('api').setSubject('carol').setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
  const fromIssuer = await client.request(off, issuerToken, '/me')
  t.same(fromIssuer.json(), { userid: 'carol', cnf: { jkt: client.jkt } }, 'an issuer\'s mode defaults to allowed with the dpop option')
  // Required for the provider's tokens only: the app's own still come as Bearer.
  const mixed = await dpopApp({ issuers: [{ issuer: 'https://login.example.test', audience: 'api', keys: [{ kid: 'k', secret: SECRET, algorithm: 'HS256' }], dpop: 'required' }] })
  t.teardown(() => mixed.close())
  t.same(await failureOf(mixed, { authorization: `Bearer ${unbound}` }), null)
  const unboundFromIssuer = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'k' })
    .setIssuer('https://login.example.test').setAudience('api').setSubject('carol').setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
  t.same(await failureOf(mixed, { authorization: `Bearer ${unboundFromIssuer}` }), { error: 'invalid_token', reason: 'dpop_required' })
  t.same((await mixed.inject({ url: '/me' })).headers['www-authenticate'], [BEARER_BARE, DPOP_BARE])
})

t.test('nonces: use_dpop_nonce with the nonce, then the client\'s retry; DPoP-Nonce on every DPoP answer', async (t) => {
  let clock = Date.now()
  const app = await dpopApp({ now: () => clock }, { nonce: { secret: NONCE_SECRET, rotation: '1m' }, maxAge: '10m' })
  t.teardown(() => app.close())
  const client = await DpopClient.create()

  const first = await client.tokenRequest(app)
  t.equal(first.status, 400)
  t.equal(first.json().code, 'FST_JWT_SECURITY_DPOP_NONCE_REQUIRED')
  const nonce = first.headers.get('dpop-nonce')
  t.match(nonce, /^[A-Za-z0-9_-]{22}$/)
  // oauth4webapi kept the nonce from the answer: its next proof carries it.
  const token = await login(app, client)

  const withoutNonce = await client.withoutNonces().request(app, token, '/me')
  t.equal(withoutNonce.status, 401)
  t.equal(withoutNonce.json().code, 'FST_JWT_SECURITY_USE_DPOP_NONCE')
  t.equal(withoutNonce.headers.get('dpop-nonce'), nonce)
  t.equal(withoutNonce.headers.get('www-authenticate'),
    `DPoP realm="api", error="use_dpop_nonce", error_description="Resend the request with a proof that carries the DPoP-Nonce header's value", ${CHALLENGE_ALGS}, ${BEARER_BARE}`)

  const me = await client.request(app, token, '/me')
  t.equal(me.status, 200)
  t.equal(me.headers.get('dpop-nonce'), nonce)
  clock += 60_000
  const afterRotation = await client.request(app, token, '/me')
  t.equal(afterRotation.status, 200, 'the previous nonce is still accepted')
  t.not(afterRotation.headers.get('dpop-nonce'), nonce, 'and the answer names the new one')
  t.equal((await client.request(app, token, '/me')).status, 200, 'which the client then uses')
  const stale = await client.proof('GET', `${PUBLIC_ORIGIN}/public`, token)
  clock += 120_000
  t.same(await failureOf(app, { authorization: `DPoP ${token}`, dpop: stale }), { error: 'use_dpop_nonce', reason: 'dpop_nonce_invalid' })
  t.equal((await app.inject({ url: '/public' })).headers['dpop-nonce'], undefined, 'no nonce for a request without a proof')
})

t.test('request.dpopProof() refuses a login without a valid proof with a 400', async (t) => {
  const app = await dpopApp()
  t.teardown(() => app.close())
  const none = await app.inject({ method: 'POST', url: '/login' })
  t.equal(none.statusCode, 400)
  t.same(none.json(), { statusCode: 400, code: 'FST_JWT_SECURITY_DPOP_PROOF_REFUSED', error: 'Bad Request', message: 'The DPoP proof is invalid' })
  const client = await DpopClient.create()
  const forOtherUrl = await client.proof('POST', `${PUBLIC_ORIGIN}/elsewhere`, 'x.y.z')
  const wrong = await app.inject({ method: 'POST', url: '/login', headers: { dpop: forOtherUrl } })
  t.equal(wrong.json().code, 'FST_JWT_SECURITY_DPOP_PROOF_REFUSED')

  let reason: unknown
  const probe = Fastify()
  await probe.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: PUBLIC_ORIGIN } })
  probe.post('/login', async (request) => await request.dpopProof().catch((error: { reason?: string }) => { reason = error.reason; throw error }))
  t.teardown(() => probe.close())
  await probe.inject({ method: 'POST', url: '/login', headers: { dpop: forOtherUrl } })
  t.equal(reason, 'dpop_url_mismatch')

  const plain = Fastify()
  await plain.register(jwtSecurity, { secret: SECRET })
  plain.post('/login', async (request) => await request.dpopProof())
  t.teardown(() => plain.close())
  const unconfigured = await plain.inject({ method: 'POST', url: '/login' })
  t.equal(unconfigured.statusCode, 500)
  t.equal(unconfigured.json().code, 'FST_JWT_SECURITY_INVALID_OPTION')
})

t.test('a replay store that cannot answer refuses DPoP requests with a 503, and says so once', async (t) => {
  let down = false
  const memory = new MemoryDpopReplayStore()
  const store: DpopReplayStore = {
    firstUse: async (key, ttl) => {
      if (down) throw new Error('connection refused')
      return memory.firstUse(key, ttl)
    }
  }
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  app.addContentTypeParser('application/x-www-form-urlencoded', (_request, _payload, done) => { done(null, {}) })
  await app.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: PUBLIC_ORIGIN, replay: store } })
  app.post('/login', async (request) => ({ access_token: await request.createJwtToken('alice', {}, await request.dpopProof()) }))
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => request.authenticatedUserid)
  t.teardown(() => app.close())
  const client = await DpopClient.create()
  const token = await login(app, client)
  down = true
  for (const attempt of [1, 2]) {
    const refused = await client.request(app, token, '/me')
    t.equal(refused.status, 503, `attempt ${attempt}`)
    t.equal(refused.headers.get('retry-after'), '5')
    t.equal(refused.json().code, 'FST_JWT_SECURITY_DPOP_REPLAY_UNAVAILABLE')
  }
  const errorLines = lines.map((line) => JSON.parse(line) as { level: number, msg: string }).filter((line) => line.level >= 50)
  t.same(errorLines.map((line) => line.msg), ['the DPoP replay store cannot be used: requests with DPoP proofs are refused (503)'], 'one line, no error per request')
  const login503 = await client.tokenRequest(app)
  t.equal(login503.status, 503)
  down = false
  t.equal((await client.request(app, token, '/me')).status, 200)
  const said = lines.map((line) => JSON.parse(line) as { msg: string }).map((line) => line.msg)
  t.equal(said.filter((msg) => msg.startsWith('the DPoP replay store cannot be used')).length, 1, 'logged once, not per request')
  t.ok(said.includes('the DPoP replay store answers again'))
})

t.test('a full memory replay store refuses with a 503 rather than forget a proof', async (t) => {
  const app = await dpopApp({}, { replay: new MemoryDpopReplayStore({ maxEntries: 1 }) })
  t.teardown(() => app.close())
  const client = await DpopClient.create()
  const token = await login(app, client)
  t.equal((await client.request(app, token, '/me')).status, 503)
})

t.test('mode required holds for every transport: a cookie policy fails at register, a custom one refuses unbound tokens', async (t) => {
  const cookie = Fastify()
  t.teardown(() => cookie.close())
  await t.rejects(async () => {
    await cookie.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: PUBLIC_ORIGIN, mode: 'required' }, policy: new PolicyChain([new JwtHeaderPolicy(), new JwtCookiePolicy()]) })
  }, { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: /^Invalid option "dpop\.mode"/ })

  class XTokenPolicy extends JwtPolicy {
    protected readCredential (request: FastifyRequest): Credential {
      const value = request.headers['x-token']
      return typeof value === 'string' ? value : null
    }

    remember (): void {}
    forget (): void {}
  }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: PUBLIC_ORIGIN, mode: 'required' }, policy: new PolicyChain([new JwtHeaderPolicy(), new XTokenPolicy()]) })
  app.get('/public', async (request) => ({ failure: request.authFailure }))
  const unbound = await app.createJwtToken('alice')
  t.same(await failureOf(app, { 'x-token': unbound }), { error: 'invalid_token', reason: 'dpop_required' })
})

t.test('the replay store is asked to keep a jti one second longer than a proof can be accepted', async (t) => {
  const asked: number[] = []
  const memory = new MemoryDpopReplayStore()
  const replay: DpopReplayStore = { firstUse: (key, ttl) => { asked.push(ttl); return memory.firstUse(key, ttl) } }
  const app = await dpopApp({}, { replay, maxAge: '30s', leeway: 2 })
  t.teardown(() => app.close())
  const client = await DpopClient.create()
  const token = await login(app, client)
  t.equal((await client.request(app, token, '/me')).status, 200)
  t.same(asked, [35, 35], 'maxAge + 2 leeway + 1: jose counts iat in whole seconds; a given store serves logins too')
})

t.test('the URL a proof names: the path as the client sent it, never a dot segment or an absolute-form target', async (t) => {
  const app = Fastify({ rewriteUrl: (request) => (request.url as string).replace(/^\/v1\//, '/') })
  t.teardown(() => app.close())
  await app.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: PUBLIC_ORIGIN } })
  app.get('/public', async (request) => ({ failure: request.authFailure }))
  app.get('/a/:segment/public', async (request) => ({ failure: request.authFailure }))
  const client = await DpopClient.create()
  const token = await app.createJwtToken('alice', {}, { jkt: client.jkt })
  const headers = async (url: string) => ({ authorization: `DPoP ${token}`, dpop: await client.proof('GET', url, token) })
  t.same(await failureOf(app, await headers(`${PUBLIC_ORIGIN}/v1/public`), '/v1/public'), null, 'before rewriteUrl, as the client sent it')
  t.same(await failureOf(app, await headers(`${PUBLIC_ORIGIN}/public`), '/v1/public'), { error: 'invalid_dpop_proof', reason: 'dpop_url_mismatch' }, 'not the rewritten path')
  // Over HTTP: app.inject would remove the dot segments before the app sees them. The last target
  // is in absolute form, which Fastify routes by its path.
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  for (const path of ['/a/../public', '/a/%2E%2e/public', '/a/./public', `${PUBLIC_ORIGIN}/public`]) {
    const { port } = new URL(address)
    const proofHeaders = await headers(`${PUBLIC_ORIGIN}/public`)
    const body = await new Promise<string>((resolve, reject) => {
      const sent = request({ host: '127.0.0.1', port, path, headers: proofHeaders }, (response) => {
        let text = ''
        response.on('data', (chunk: Buffer) => { text += chunk.toString() }).on('end', () => { resolve(text) })
      })
      sent.on('error', reject).end()
    })
    t.same(JSON.parse(body), { failure: { error: 'invalid_dpop_proof', reason: 'dpop_url_mismatch' } }, path)
  }
})

t.test('request.dpopProof() gives the proof a request was accepted with, and the same answer when asked twice', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: PUBLIC_ORIGIN } })
  app.post('/refresh', { preHandler: app.permits('system.Authenticated') }, async (request) => ({ first: await request.dpopProof(), second: await request.dpopProof() }))
  app.post('/login', async (request) => ({ first: await request.dpopProof(), second: await request.dpopProof() }))
  const client = await DpopClient.create()
  const token = await app.createJwtToken('alice', {}, { jkt: client.jkt })
  const refresh = await client.request(app, token, '/refresh', { method: 'POST' })
  t.same(refresh.json(), { first: { jkt: client.jkt }, second: { jkt: client.jkt } })
  const proof = await client.proof('POST', `${PUBLIC_ORIGIN}/login`, 'unused')
  t.same((await app.inject({ method: 'POST', url: '/login', headers: { dpop: proof } })).json(), { first: { jkt: client.jkt }, second: { jkt: client.jkt } })
  t.equal((await app.inject({ method: 'POST', url: '/login', headers: { dpop: proof } })).statusCode, 400, 'the next request with it is a replay')
})

t.test('scope and step-up refusals of a DPoP request answer in the DPoP scheme', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: PUBLIC_ORIGIN } })
  app.get('/scoped', { config: { requires: { scopes: ['orders:read'] } } }, async () => 'scoped')
  app.get('/step-up', { config: { requires: { acr: ['mfa'] } } }, async () => 'step-up')
  const client = await DpopClient.create()
  const token = await app.createJwtToken('alice', {}, { jkt: client.jkt })
  const scoped = await client.request(app, token, '/scoped')
  t.equal(scoped.status, 403)
  t.equal(scoped.headers.get('www-authenticate'),
    `DPoP realm="api", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token", scope="orders:read", ${CHALLENGE_ALGS}`)
  const stepUp = await client.request(app, token, '/step-up')
  t.equal(stepUp.status, 401)
  t.match(stepUp.headers.get('www-authenticate'), /^DPoP realm="api", error="insufficient_user_authentication", .*acr_values="mfa", algs="ES256 EdDSA Ed25519"$/)
  const bearer = await app.inject({ url: '/scoped', headers: { authorization: `Bearer ${await app.createJwtToken('bob')}` } })
  t.match(bearer.headers['www-authenticate'], /^Bearer realm="api", error="insufficient_scope"/, 'a bearer request keeps the Bearer scheme')
})

t.test('an authType that begins like DPoP still lets the DPoP scheme be read', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: PUBLIC_ORIGIN }, policy: new JwtHeaderPolicy({ authType: 'D' }) })
  app.get('/public', async (request) => ({ userid: request.authenticatedUserid }))
  const client = await DpopClient.create()
  const token = await app.createJwtToken('alice', {}, { jkt: client.jkt })
  t.same((await client.request(app, token, '/public')).json(), { userid: 'alice' })
  t.same((await app.inject({ url: '/public', headers: { authorization: `D ${await app.createJwtToken('bob')}` } })).json(), { userid: 'bob' })
})
