import { createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { SignJWT, type JWK, type JWTPayload } from 'jose'
import jwtSecurity, { type JwksOptions, type JwtSecurityOptions } from '../../lib/index.js'
import { startCountingListener, startJwksServer, type JwksServer } from '../helpers/jwks-server.js'
import { keyPair } from '../helpers/keys.js'

const ISSUER = 'https://idp.example'

// The identity provider's keys: the tests sign as the provider would.
const rsa = keyPair('rsa')
const ec = keyPair('ec256')
const publicJwk = (key: KeyObject, kid: string, alg: string): JWK => ({ ...key.export({ format: 'jwk' }), kid, alg, use: 'sig' })
const RSA_JWK = publicJwk(rsa.publicKeyObject, 'idp-1', 'RS256')
const EC_JWK = publicJwk(ec.publicKeyObject, 'idp-2', 'ES256')

async function idpToken (header: { alg: string, kid?: string, [name: string]: unknown }, key: KeyObject, claims: JWTPayload = {}): Promise<string> {
  return await new SignJWT({ sub: 'alice', aud: 'api', iss: ISSUER, ...claims })
    .setProtectedHeader(header).setIssuedAt().setExpirationTime('5m').sign(key)
}

interface Api { app: FastifyInstance, warnings: string[] }

async function api (jwks: Partial<JwksOptions> & { url: string }, options: Partial<JwtSecurityOptions> = {}): Promise<Api> {
  const warnings: string[] = []
  const stream = { write: (line: string) => { const entry = JSON.parse(line); if (entry.level >= 40) warnings.push(entry.msg) } }
  const app = Fastify({ logger: { level: 'warn', stream } })
  await app.register(jwtSecurity, { jwks: { issuer: ISSUER, timeout: 0.3, cooldown: 0.1, ...jwks }, audience: 'api', ...options })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => request.authenticatedUserid)
  app.get('/public', async (request) => request.authFailure)
  await app.ready()
  return { app, warnings }
}

async function me ({ app }: Api, token: string) {
  const started = Date.now()
  const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  const elapsed = Date.now() - started
  const failure = response.statusCode === 200 || response.statusCode === 503 ? null : (await app.inject({ url: '/public', headers: { authorization: `Bearer ${token}` } })).json()
  return { status: response.statusCode, body: response.body, challenge: response.headers['www-authenticate'], retryAfter: response.headers['retry-after'], failure, elapsed }
}

async function jwksServer (t: { teardown: (fn: () => Promise<void>) => void }, keys: JWK[]): Promise<JwksServer> {
  const server = await startJwksServer(keys)
  t.teardown(() => server.close())
  return server
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('tokens of the provider verify with its published keys, fetched once and cached', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  const remote = await api({ url: server.url })
  t.teardown(() => remote.app.close())
  const token = await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject)
  t.same(await me(remote, token).then((r) => [r.status, r.body]), [200, 'alice'])
  t.equal((await me(remote, token)).status, 200)
  t.equal(server.hits, 1, 'the set is fetched once, then cached')
  const otherIssuer = await me(remote, await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject, { iss: 'https://other.example' }))
  t.equal(otherIssuer.status, 401)
  t.same(otherIssuer.failure, { error: 'invalid_token', reason: 'claim_invalid', claim: 'iss' }, 'jwks.issuer is required of every token')
  t.same(remote.app.jwks(), { keys: [] }, 'a verify-only app publishes no keys')
  await t.rejects(remote.app.createJwtToken('alice'), { code: 'FST_JWT_SECURITY_NO_SIGNING_KEY' })
})

t.test('rotation at the provider: a new kid is accepted after one refetch; unknown kids cannot force a fetch storm', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  const remote = await api({ url: server.url })
  t.teardown(() => remote.app.close())
  t.equal((await me(remote, await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject))).status, 200)
  server.keys = [RSA_JWK, EC_JWK]
  await sleep(150)
  const rotated = await me(remote, await idpToken({ alg: 'ES256', kid: 'idp-2' }, ec.privateKeyObject))
  t.equal(rotated.status, 200, 'the new key is found after a refetch')
  t.equal(server.hits, 2)
  const unknown = await idpToken({ alg: 'ES256', kid: 'nope' }, ec.privateKeyObject)
  const first = await me(remote, unknown)
  t.equal(first.status, 401)
  t.same(first.failure, { error: 'invalid_token', reason: 'key_unknown' })
  for (let index = 0; index < 5; index++) await me(remote, unknown)
  t.ok(server.hits <= 3, `unknown kids refetch at most once per cooldown (${server.hits} fetches)`)
})

t.test('endpoint down, slow, malformed or failing before any set was fetched: 503 with Retry-After, never a 401, a 500 or a hang; recovery when it is back', async (t) => {
  const token = await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject)
  for (const mode of ['down', 'slow', 'malformed', 'not-json', 'error', 'redirect', 'huge'] as const) {
    const server = await jwksServer(t, [RSA_JWK])
    const remote = await api({ url: server.url, retryDelay: 0.2 })
    t.teardown(() => remote.app.close())
    server.mode = mode
    const refused = await me(remote, token)
    t.equal(refused.status, 503, `${mode}: 503`)
    t.same(JSON.parse(refused.body), { statusCode: 503, code: 'FST_JWT_SECURITY_KEYS_UNAVAILABLE', error: 'Service Unavailable', message: 'Credentials cannot be verified right now, try again later' }, `${mode}: the body`)
    t.equal(refused.retryAfter, '1', `${mode}: Retry-After, in whole seconds`)
    t.equal(refused.challenge, undefined, `${mode}: no challenge: the token was not refused`)
    t.ok(refused.elapsed < 1200, `${mode}: answered in ${refused.elapsed} ms (timeout 300 ms)`)
    t.match(remote.warnings, [/the JSON Web Key Set cannot be fetched, and none was fetched before/], `${mode}: the outage is logged`)
    t.equal(server.hits, 1, `${mode}: one fetch`)
    server.mode = 'ok'
    await sleep(250)
    t.equal((await me(remote, token)).status, 200, `${mode}: recovers once the endpoint answers`)
    t.match(remote.warnings.at(-1), /the JSON Web Key Set can be fetched again/, `${mode}: and says so`)
  }
})

t.test('a failing key server is fetched once for all waiting requests, then with backoff, not once per request', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  server.mode = 'error'
  const remote = await api({ url: server.url, retryDelay: 0.2, maxRetryDelay: 0.4 })
  t.teardown(() => remote.app.close())
  const token = await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject)
  const inject = () => remote.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  const first = await Promise.all(Array.from({ length: 50 }, inject))
  t.same(new Set(first.map((response) => response.statusCode)), new Set([503]))
  t.equal(server.hits, 1, '50 requests at once share one fetch')
  const started = Date.now()
  let requests = 0
  while (Date.now() - started < 1500) {
    await inject()
    requests++
  }
  // Waits of 0.1-0.2, 0.2-0.4 (equal jitter), then at most 0.4 s: about 5 fetches in 1.5 s.
  t.ok(server.hits >= 3 && server.hits <= 9, `${requests} requests in 1.5 s fetched ${server.hits - 1} more times`)
  const errors = remote.warnings.filter((line) => /cannot be fetched/.test(line))
  t.equal(errors.length, 1, `one log line for the outage (within 10 s), not one per request (${requests + 50} requests)`)
})

t.test('stale-if-error: the last set serves past cacheMaxAge while the key server fails, within staleIfError, then 503', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  const remote = await api({ url: server.url, cacheMaxAge: 0.3, staleIfError: 0.6, retryDelay: 0.1, maxRetryDelay: 0.1 })
  t.teardown(() => remote.app.close())
  const token = await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject)
  const fresh = await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject, { jti: 'another' })
  t.equal((await me(remote, token)).status, 200)
  server.mode = 'down'
  await sleep(400)
  t.equal((await me(remote, token)).status, 200, 'past cacheMaxAge, the refetch fails: the stale set serves')
  t.equal((await me(remote, fresh)).status, 200, 'a token never seen before verifies with the stale set too')
  t.ok(server.hits >= 2, 'a refetch was tried')
  await sleep(600)
  const late = await me(remote, token)
  t.equal(late.status, 503, 'past cacheMaxAge + staleIfError: 503')
  t.equal(late.retryAfter, '1')
  server.mode = 'ok'
  await sleep(150)
  t.equal((await me(remote, token)).status, 200, 'and back once the key server is')

  const strict = await api({ url: server.url, cacheMaxAge: 0.3, staleIfError: 0, retryDelay: 0.1 })
  t.teardown(() => strict.app.close())
  t.equal((await me(strict, token)).status, 200)
  server.mode = 'error'
  await sleep(400)
  t.equal((await me(strict, token)).status, 503, 'staleIfError 0: no stale keys')
})

t.test('an unknown kid: 401 while the key server answers, 503 while it fails', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  const remote = await api({ url: server.url, retryDelay: 0.1 })
  t.teardown(() => remote.app.close())
  t.equal((await me(remote, await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject))).status, 200)
  const unknown = await idpToken({ alg: 'ES256', kid: 'idp-2' }, ec.privateKeyObject)
  const within = await me(remote, unknown)
  t.equal(within.status, 401, 'within the cooldown of a good fetch: the kid is unknown')
  t.same(within.failure, { error: 'invalid_token', reason: 'key_unknown' })
  await sleep(150)
  t.equal((await me(remote, unknown)).status, 401, 'after the cooldown, the refetch answers without it: unknown')
  server.mode = 'down'
  await sleep(150)
  const during = await me(remote, unknown)
  t.equal(during.status, 503, 'the refetch fails: whether the key exists cannot be known')
  t.equal((await me(remote, unknown)).status, 503, 'and while the backoff lasts, without a fetch')
  server.keys = [RSA_JWK, EC_JWK]
  server.mode = 'ok'
  await sleep(250)
  t.equal((await me(remote, unknown)).status, 200, 'the provider published it')
})

t.test('a refetch that drops a key refuses its tokens at once, cached verifications included; an unchanged set keeps them', async (t) => {
  const server = await jwksServer(t, [RSA_JWK, EC_JWK])
  const remote = await api({ url: server.url, cooldown: 0.05 })
  t.teardown(() => remote.app.close())
  const dropped = await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject)
  t.equal((await me(remote, dropped)).status, 200)
  t.equal((await me(remote, dropped)).status, 200, 'now in the verified-token cache')
  // An unknown kid after the cooldown makes the set be fetched again: unchanged, it voids nothing.
  await sleep(100)
  t.equal((await me(remote, await idpToken({ alg: 'ES256', kid: 'idp-3' }, ec.privateKeyObject))).status, 401)
  t.equal(server.hits, 2)
  t.equal((await me(remote, dropped)).status, 200, 'an unchanged set keeps the cache')
  // The provider retires idp-1 and publishes idp-3; a token of idp-3 makes the set be fetched again.
  server.keys = [EC_JWK, { ...EC_JWK, kid: 'idp-3' }]
  await sleep(100)
  t.equal((await me(remote, await idpToken({ alg: 'ES256', kid: 'idp-3' }, ec.privateKeyObject))).status, 200)
  t.equal(server.hits, 3)
  const refused = await me(remote, dropped)
  t.equal(refused.status, 401, 'the token of the dropped key is refused although its verification was cached')
  t.same(refused.failure, { error: 'invalid_token', reason: 'key_unknown' })
})

t.test('during an outage, a key server that hangs does not hold requests the stale set can answer', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  const remote = await api({ url: server.url, cacheMaxAge: 0.2, staleIfError: 10, retryDelay: 0.1, maxRetryDelay: 0.1 })
  t.teardown(() => remote.app.close())
  const token = await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject)
  t.equal((await me(remote, token)).status, 200)
  server.mode = 'slow'
  await sleep(250)
  const first = await me(remote, token)
  t.equal(first.status, 200, 'the first refetch of the outage is waited for (timeout 300 ms), then the stale set answers')
  t.ok(first.elapsed >= 250, `${first.elapsed} ms`)
  const hits = server.hits
  for (let index = 0; index < 5; index++) {
    await sleep(120)
    const later = await me(remote, token)
    t.equal(later.status, 200)
    // Waiting would take the fetch's timeout (300 ms); the margin is for a loaded machine (115 ms seen).
    t.ok(later.elapsed < 250, `past the backoff, a fetch starts but the request does not wait for it (${later.elapsed} ms)`)
  }
  t.ok(server.hits > hits, `fetches went on in the background (${server.hits - hits})`)
})

t.test('a key dropped by a set fetched while the key was being imported is not cached as valid', async (t) => {
  const server = await jwksServer(t, [RSA_JWK, EC_JWK])
  const remote = await api({ url: server.url, cooldown: 0.05 })
  t.teardown(() => remote.app.close())
  t.equal((await me(remote, await idpToken({ alg: 'ES256', kid: 'idp-2' }, ec.privateKeyObject))).status, 200, 'the set is fetched')
  server.keys = [EC_JWK]
  await sleep(100)
  // The import of the RSA key (never used yet) waits until the new set, without it, is in.
  const subtle = globalThis.crypto.subtle
  const importKey = subtle.importKey
  let release = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  type ImportKey = typeof subtle.importKey
  subtle.importKey = (async (...args: unknown[]) => { await gate; return await (importKey as (...args: unknown[]) => Promise<unknown>).apply(subtle, args) }) as ImportKey
  t.teardown(() => { subtle.importKey = importKey })
  const dropped = await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject)
  const pending = remote.app.inject({ url: '/me', headers: { authorization: `Bearer ${dropped}` } })
  await sleep(20)
  t.equal((await me(remote, await idpToken({ alg: 'ES256', kid: 'idp-9' }, ec.privateKeyObject))).status, 401, 'an unknown kid fetches the new set')
  t.equal(server.hits, 2)
  release()
  t.equal((await pending).statusCode, 401, 'the key came from the old set: looked up again in the new one, it is gone')
  subtle.importKey = importKey
  t.equal((await me(remote, dropped)).status, 401, 'and nothing was cached')
})

t.test('a kid that a refetch finds but jose cannot use is key_unusable', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  const remote = await api({ url: server.url, cooldown: 0.05 })
  t.teardown(() => remote.app.close())
  t.equal((await me(remote, await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject))).status, 200)
  // An EC point off its curve: jose refuses to import it.
  const y = Buffer.from(EC_JWK.y as string, 'base64url')
  y[31] = (y[31] as number) ^ 1
  server.keys = [RSA_JWK, { ...EC_JWK, y: y.toString('base64url'), kid: 'off-curve' }]
  await sleep(100)
  const refused = await me(remote, await idpToken({ alg: 'ES256', kid: 'off-curve' }, ec.privateKeyObject))
  t.equal(refused.status, 401)
  t.same(refused.failure, { error: 'invalid_token', reason: 'key_unusable' })
})

t.test('prefetch: true fetches at registration and app.ready() fails clearly without the keys; background does not wait', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  const ready = await api({ url: server.url, prefetch: true })
  t.teardown(() => ready.app.close())
  t.equal(server.hits, 1, 'fetched before any request')
  t.equal((await me(ready, await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject))).status, 200)
  t.equal(server.hits, 1)
  server.mode = 'error'
  const app = Fastify()
  app.register(jwtSecurity, { jwks: { url: server.url, prefetch: true, timeout: 0.3 }, audience: 'api' })
  await t.rejects(async () => { await app.ready() }, {
    code: 'FST_JWT_SECURITY_JWKS_PREFETCH_FAILED',
    cause: { message: 'the key server answered 500' },
    message: `The keys of ${server.url} could not be fetched at start-up (prefetch: true); use prefetch: "background" to start without it`
  })
  const background = await api({ url: server.url, prefetch: 'background', retryDelay: 0.1 })
  t.teardown(() => background.app.close())
  await sleep(50)
  t.equal(server.hits, 3, 'background: fetched at registration, failing, and the app started')
  server.mode = 'ok'
  await sleep(150)
  t.equal((await me(background, await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject))).status, 200)
})

t.test('nothing is fetched but the configured URL: jku, x5u and embedded jwk are ignored', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  const listener = await startCountingListener()
  t.teardown(() => listener.close())
  // The unknown kid below may refetch the configured URL once its cooldown is over: a cooldown
  // longer than the test keeps a slow machine from counting that refetch.
  const remote = await api({ url: server.url, cooldown: 60 })
  t.teardown(() => remote.app.close())
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const attackerJwk = publicJwk(attacker.publicKey, 'idp-1', 'RS256')
  const headers = [
    { alg: 'RS256', kid: 'idp-1', jku: `${listener.url}/jwks.json` },
    { alg: 'RS256', kid: 'jwt_tool', jku: `${listener.url}/jwks.json` },
    { alg: 'RS256', kid: 'idp-1', x5u: `${listener.url}/cert.pem` },
    { alg: 'RS256', kid: 'idp-1', jwk: attackerJwk }
  ]
  for (const header of headers) {
    const refused = await me(remote, await idpToken(header, attacker.privateKey))
    t.equal(refused.status, 401, Object.keys(header).join(','))
  }
  t.equal(listener.hits(), 0, 'the attacker\'s listener saw no request')
  t.equal(server.hits, 1, 'only the configured URL was fetched')
})

t.test('key confusion against a JWK Set: HMAC with the public key as secret is refused before any lookup (A6)', async (t) => {
  const server = await jwksServer(t, [RSA_JWK])
  const remote = await api({ url: server.url })
  t.teardown(() => remote.app.close())
  const b64u = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  for (const secret of [rsa.publicKey, JSON.stringify(RSA_JWK), JSON.stringify({ keys: [RSA_JWK] })]) {
    const input = `${b64u({ alg: 'HS256', kid: 'idp-1' })}.${b64u({ sub: 'admin', iss: ISSUER, aud: 'api', iat: now, exp: now + 60 })}`
    const forged = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
    const refused = await me(remote, forged)
    t.equal(refused.status, 401)
    t.same(refused.failure, { error: 'invalid_token', reason: 'algorithm_not_allowed' })
  }
  t.equal(server.hits, 0, 'refused before the set was even fetched')
})

t.test('jwks.algorithms pins the algorithms; every asymmetric one works by default', async (t) => {
  const ed = keyPair('ed25519')
  const server = await jwksServer(t, [RSA_JWK, EC_JWK, publicJwk(ed.publicKeyObject, 'idp-3', 'EdDSA')])
  const any = await api({ url: server.url })
  const rsOnly = await api({ url: server.url, algorithms: ['RS256'] })
  t.teardown(async () => { await any.app.close(); await rsOnly.app.close() })
  const tokens = [
    await idpToken({ alg: 'RS256', kid: 'idp-1' }, rsa.privateKeyObject),
    await idpToken({ alg: 'ES256', kid: 'idp-2' }, ec.privateKeyObject),
    await idpToken({ alg: 'EdDSA', kid: 'idp-3' }, ed.privateKeyObject)
  ]
  for (const token of tokens) t.equal((await me(any, token)).status, 200)
  t.same(await Promise.all(tokens.map(async (token) => (await me(rsOnly, token)).status)), [200, 401, 401])
})

t.test('an RSA key shorter than 2048 bits in the set is not used (F3)', async (t) => {
  const weak = keyPair('rsa1024')
  const server = await jwksServer(t, [publicJwk(weak.publicKeyObject, 'weak', 'RS256')])
  const remote = await api({ url: server.url })
  t.teardown(() => remote.app.close())
  // jose refuses to sign with such a key, so the test signs by hand.
  const b64u = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const input = `${b64u({ alg: 'RS256', kid: 'weak' })}.${b64u({ sub: 'alice', iss: ISSUER, aud: 'api', iat: now, exp: now + 60 })}`
  const token = `${input}.${cryptoSign('sha256', Buffer.from(input), weak.privateKeyObject).toString('base64url')}`
  const refused = await me(remote, token)
  t.equal(refused.status, 401)
  t.same(refused.failure, { error: 'invalid_token', reason: 'key_unusable' })
  t.match(remote.warnings, [/a verification key cannot be used/])
  await me(remote, token)
  t.equal(remote.warnings.length, 1, 'said once, not per request')
})

t.test('app.jwks() published by one app verifies its tokens in another', async (t) => {
  const ed = keyPair('ed25519')
  const issuerApp = Fastify()
  await issuerApp.register(jwtSecurity, { keys: [{ kid: 'auth-2026', privateKey: ed.privateKey, algorithm: 'EdDSA' }], issuer: ISSUER, audience: 'api' })
  issuerApp.get('/.well-known/jwks.json', async () => issuerApp.jwks())
  await issuerApp.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => issuerApp.close())
  const address = issuerApp.server.address() as { port: number }
  const remote = await api({ url: `http://127.0.0.1:${address.port}/.well-known/jwks.json` })
  t.teardown(() => remote.app.close())
  const token = await issuerApp.createJwtToken('carol')
  t.same(await me(remote, token).then((r) => [r.status, r.body]), [200, 'carol'])
})

t.test('jwks options are validated at register', async (t) => {
  const cases: Array<[Partial<JwtSecurityOptions>, RegExp]> = [
    [{ jwks: { url: 'http://idp.example/jwks.json' } }, /"jwks.url": expected an https: URL/],
    [{ jwks: { url: 'not a url' } }, /"jwks.url": expected an absolute https: URL/],
    [{ jwks: { url: 'https://idp.example/jwks.json', algorithms: ['HS256'] as unknown as ['RS256'] } }, /"jwks.algorithms"/],
    [{ jwks: { url: 'https://idp.example/jwks.json', algorithms: [] } }, /"jwks.algorithms"/],
    [{ jwks: { url: 'https://idp.example/jwks.json', timeout: -1 } }, /"jwks.timeout"/],
    [{ jwks: { url: 'https://idp.example/jwks.json', cooldown: '1 minute' } }, /"jwks.cooldown"/],
    [{ jwks: { url: 'https://idp.example/jwks.json', cacheMaxAge: NaN } }, /"jwks.cacheMaxAge"/],
    [{ jwks: { url: 'https://idp.example/jwks.json', staleIfError: '1 hour' } }, /"jwks.staleIfError"/],
    [{ jwks: { url: 'https://idp.example/jwks.json', retryDelay: -1 } }, /"jwks.retryDelay"/],
    [{ jwks: { url: 'https://idp.example/jwks.json', retryDelay: 0 } }, /"jwks.retryDelay": must be more than 0 seconds/],
    [{ jwks: { url: 'https://idp.example/jwks.json', timeout: 0 } }, /"jwks.timeout": must be more than 0 seconds/],
    [{ jwks: { url: 'https://idp.example/jwks.json', retryDelay: 10, maxRetryDelay: 5 } }, /"jwks.maxRetryDelay": must be at least jwks.retryDelay/],
    [{ jwks: { url: 'https://idp.example/jwks.json', maxRetryDelay: 'x' } }, /"jwks.maxRetryDelay"/],
    [{ jwks: { url: 'https://idp.example/jwks.json', prefetch: 'yes' as unknown as true } }, /"jwks.prefetch": expected true, false or 'background'/],
    [{ jwks: { url: 'https://idp.example/jwks.json', issuer: '' } }, /"jwks.issuer"/],
    [{ jwks: { url: 'https://idp.example/jwks.json', issuer: 'a' }, issuer: 'b' }, /"jwks.issuer": differs from the issuer option/],
    [{ jwks: { url: 'https://idp.example/jwks.json', jku: 'x' } as JwksOptions }, /"jwks.jku": unknown option/],
    [{ jwks: 'https://idp.example/jwks.json' as unknown as JwksOptions }, /"jwks": expected an object/],
    [{ jwks: { url: 'https://idp.example/jwks.json' }, secret: 'x'.repeat(64) }, /"jwks": verifies with the remote keys only/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    app.register(jwtSecurity, options as JwtSecurityOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_JWT_SECURITY_INVALID_OPTION', message }, String(message))
  }
  const same = Fastify()
  await same.register(jwtSecurity, { jwks: { url: 'https://idp.example/jwks.json', issuer: ISSUER }, issuer: ISSUER })
  t.pass('the same issuer twice is accepted')
})
