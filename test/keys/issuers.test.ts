import Fastify from 'fastify'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import jwtSecurity, { JwtCookiePolicy, JwtHeaderPolicy, MemoryRevocationStore, PolicyChain, type RevocationStore, type TrustedIssuer } from '../../lib/index.js'
import { buildApp, SECRET } from '../helpers/app.js'
import { rejected } from '../helpers/errors.js'
import { startIssuerServer, type IssuerServer } from '../helpers/issuer-server.js'

const AUDIENCE = 'https://api.example.test'

async function provider (t: Test, path = ''): Promise<IssuerServer> {
  const server = await startIssuerServer(path)
  t.teardown(() => server.close())
  return server
}

// An app that accepts only the tokens of `issuers` (no keys of its own), with /public, /me and /view.
async function resourceServer (t: Test, issuers: TrustedIssuer[], options: Record<string, unknown> = {}) {
  const app = await buildApp({ secret: undefined, issuers, ...options })
  t.teardown(() => app.close())
  return app
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('a token is verified by the trusted issuer its iss names, with discovery, once', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true, claims: { roles: ['groups'] } }])
  t.same(idp.requests, [], 'nothing is fetched before a token needs it')
  const token = await idp.sign({ sub: 'alice', aud: AUDIENCE, scope: 'read:messages', groups: ['editors'] })
  const me = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(me.statusCode, 200)
  t.same(me.json().principals, ['system.Everyone', 'system.Authenticated', 'alice', 'editors', 'scope:read:messages'])
  t.same(idp.requests, ['/.well-known/openid-configuration', '/jwks.json'])
  const again = await idp.sign({ sub: 'bob', aud: AUDIENCE })
  t.equal((await app.inject({ url: '/me', headers: bearer(again) })).statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200)
  t.equal(idp.requests.length, 2, 'discovery and keys are fetched once')
})

t.test('an issuer not on the list is refused without any request, whatever the token names', async (t) => {
  const idp = await provider(t)
  const stranger = await provider(t)
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }])
  for (const claims of [{ iss: stranger.issuer }, { iss: `${idp.issuer}/` }, { iss: idp.issuer.toUpperCase() }, { iss: undefined }, { iss: 42 }]) {
    const token = await stranger.sign({ sub: 'mallory', aud: AUDIENCE, ...claims } as Record<string, unknown>)
    const response = await app.inject({ url: '/public', headers: bearer(token) })
    t.same(response.json().authFailure, { error: 'invalid_token', reason: 'issuer_unknown', claim: 'iss' }, JSON.stringify(claims))
  }
  t.same(idp.requests, [])
  t.same(stranger.requests, [], 'the server never fetches from a URL a token chose')
  const notJson = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('not json').toString('base64url')}.c2ln`
  t.same((await app.inject({ url: '/public', headers: bearer(notJson) })).json().authFailure, { error: 'invalid_token', reason: 'issuer_unknown', claim: 'iss' })
})

t.test('the audience, the algorithms, the leeway and the typ are the issuer\'s own', async (t) => {
  const idp = await provider(t)
  const now = Date.now()
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: [AUDIENCE, 'other'], allowHttpLoopback: true, leeway: 30, typ: 'at+jwt', algorithms: ['ES256'] }], { now: () => now })
  const nowSeconds = Math.floor(now / 1000)
  const failure = async (claims: Record<string, unknown>, header?: { typ?: string }) =>
    (await app.inject({ url: '/public', headers: bearer(await idp.sign({ sub: 'alice', aud: AUDIENCE, ...claims }, header ?? { typ: 'at+jwt' })) })).json().authFailure
  t.equal(await failure({}), null)
  t.equal(await failure({ aud: 'other' }), null, 'one audience of the list is enough')
  t.equal(await failure({}, { typ: 'application/at+jwt' }), null)
  t.same(await failure({ aud: 'someone-else' }), { error: 'invalid_token', reason: 'claim_invalid', claim: 'aud' })
  t.same(await failure({}, {}), { error: 'invalid_token', reason: 'claim_invalid', claim: 'typ' })
  t.equal(await failure({ exp: nowSeconds - 20 }), null, 'within the issuer\'s leeway')
  t.same(await failure({ exp: nowSeconds - 40 }), { error: 'invalid_token', reason: 'token_expired', claim: 'exp' })
  t.same(await failure({ acr: 1 }), { error: 'invalid_token', reason: 'claim_invalid', claim: 'acr' })
  t.same(await failure({ amr: [1] }), { error: 'invalid_token', reason: 'claim_invalid', claim: 'amr' })
  t.same(await failure({ auth_time: 'yesterday' }), { error: 'invalid_token', reason: 'claim_invalid', claim: 'auth_time' })
  t.same(await failure({ client_id: {} }), { error: 'invalid_token', reason: 'claim_invalid', claim: 'client_id' })
})

t.test('the rfc9068 profile requires at+jwt and the claims RFC 9068 lists', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true, profile: 'rfc9068' }])
  const complete = { sub: 'service-1', aud: AUDIENCE, client_id: 'svc', jti: 'j1' }
  const failure = async (claims: Record<string, unknown>, typ: string | null = 'at+jwt') =>
    (await app.inject({ url: '/public', headers: bearer(await idp.sign({ ...complete, ...claims }, typ === null ? {} : { typ })) })).json().authFailure
  t.equal(await failure({}), null)
  t.same(await failure({}, 'JWT'), { error: 'invalid_token', reason: 'claim_invalid', claim: 'typ' })
  t.same(await failure({}, null), { error: 'invalid_token', reason: 'claim_invalid', claim: 'typ' })
  for (const claim of ['client_id', 'jti', 'aud', 'exp', 'iat']) {
    t.same(await failure({ [claim]: undefined }), { error: 'invalid_token', reason: 'claim_invalid', claim }, `${claim} is required`)
  }
})

t.test('two issuers: each token is checked against its own issuer\'s audience and keys', async (t) => {
  const first = await provider(t)
  const second = await provider(t, '/realms/acme')
  const app = await resourceServer(t, [
    { issuer: first.issuer, audience: 'orders', allowHttpLoopback: true },
    { issuer: second.issuer, audience: 'billing', allowHttpLoopback: true, claims: { roles: [['realm_access', 'roles']] } }
  ])
  const fromSecond = await second.sign({ sub: 'bob', aud: 'billing', realm_access: { roles: ['payer'] } })
  const me = await app.inject({ url: '/me', headers: bearer(fromSecond) })
  t.same(me.json().principals, ['system.Everyone', 'system.Authenticated', 'bob', 'payer'])
  t.same(second.requests, ['/realms/acme/.well-known/openid-configuration', '/jwks.json'], 'an issuer with a path: its path, then the well-known suffix')
  const wrongAudience = await first.sign({ sub: 'alice', aud: 'billing' })
  t.same((await app.inject({ url: '/public', headers: bearer(wrongAudience) })).json().authFailure, { error: 'invalid_token', reason: 'claim_invalid', claim: 'aud' })
  // Signed by the first provider's key, claiming the second: the second's keys do not verify it.
  const forged = await first.sign({ iss: second.issuer, sub: 'alice', aud: 'billing' })
  t.same((await app.inject({ url: '/public', headers: bearer(forged) })).json().authFailure.reason, 'signature_invalid')
})

t.test('RFC 8414 metadata when OpenID Connect Discovery answers 404', async (t) => {
  const idp = await provider(t, '/tenant')
  idp.discovery = 'oauth'
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }])
  t.equal((await app.inject({ url: '/me', headers: bearer(await idp.sign({ sub: 'alice', aud: AUDIENCE })) })).statusCode, 200)
  t.same(idp.requests, ['/tenant/.well-known/openid-configuration', '/.well-known/oauth-authorization-server/tenant', '/jwks.json'])
})

t.test('discovery that names another issuer, or keys in the clear, gives no keys: 503, and prefetch fails', async (t) => {
  const idp = await provider(t)
  const token = await idp.sign({ sub: 'alice', aud: AUDIENCE })
  for (const metadata of [{ issuer: 'https://evil.example' }, { jwks_uri: 'http://keys.example/jwks.json' }, { jwks_uri: 'not a url' }]) {
    idp.metadata = metadata
    idp.requests.length = 0
    const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }])
    const response = await app.inject({ url: '/me', headers: bearer(token) })
    t.equal(response.statusCode, 503, JSON.stringify(metadata))
    t.equal(response.json().code, 'FST_JWT_SECURITY_KEYS_UNAVAILABLE')
    t.same(idp.requests, ['/.well-known/openid-configuration'], 'the keys of a document that fails are never fetched')
    const error = await rejected(Fastify().register(jwtSecurity, { issuers: [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true, prefetch: true }] }).ready())
    t.equal(error.code, 'FST_JWT_SECURITY_JWKS_PREFETCH_FAILED')
    t.match(error.message, idp.issuer)
  }
})

t.test('discovery that fails (not a 404) tries no fallback: 503 until it answers', async (t) => {
  const idp = await provider(t, '/tenant')
  idp.discovery = 'none'
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }])
  const response = await app.inject({ url: '/me', headers: bearer(await idp.sign({ sub: 'alice', aud: AUDIENCE })) })
  t.equal(response.statusCode, 503)
  t.same(idp.requests, ['/tenant/.well-known/openid-configuration'])
})

t.test('a jwks_uri that answers 404 is discovered again at the next fetch', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true, cooldown: 0, retryDelay: 0.001 }])
  idp.metadata = { jwks_uri: `${idp.jwksUri}.moved` }
  const token = await idp.sign({ sub: 'alice', aud: AUDIENCE })
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 503)
  idp.metadata = {}
  await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200)
  t.same(idp.requests, ['/.well-known/openid-configuration', '/jwks.json.moved', '/.well-known/openid-configuration', '/jwks.json'])
})

t.test('an issuer with a jwksUri or keys of its own fetches no discovery', async (t) => {
  const idp = await provider(t)
  const pair = await generateKeyPair('EdDSA')
  const app = await resourceServer(t, [
    { issuer: idp.issuer, audience: AUDIENCE, jwksUri: `${idp.jwksUri}?appid=orders`, allowHttpLoopback: true, prefetch: true },
    { issuer: 'billing-service', audience: AUDIENCE, keys: [{ kid: 'b1', algorithm: 'EdDSA', publicKey: await exportJWK(pair.publicKey) }] }
  ], { protectedResource: { resource: 'https://api.example.test/' } })
  t.same(idp.requests, ['/jwks.json?appid=orders'], 'prefetched, with its query (Entra ID\'s app keys)')
  t.equal((await app.inject({ url: '/me', headers: bearer(await idp.sign({ sub: 'alice', aud: AUDIENCE })) })).statusCode, 200)
  const billing = await new SignJWT({ sub: 'job-7', aud: AUDIENCE, iss: 'billing-service' }).setProtectedHeader({ alg: 'EdDSA', kid: 'b1' }).setIssuedAt().setExpirationTime('5m').sign(pair.privateKey)
  t.equal((await app.inject({ url: '/me', headers: bearer(billing) })).json().userid, 'job-7')
  t.same(idp.requests, ['/jwks.json?appid=orders'])
  const metadata = await app.inject({ url: '/.well-known/oauth-protected-resource' })
  t.same(metadata.json().authorization_servers, [idp.issuer], 'an issuer that is no URL is no authorization server')
})

t.test('the plugin\'s own tokens and a trusted issuer\'s side by side', async (t) => {
  const idp = await provider(t)
  const app = await buildApp({ issuer: 'self', issuers: [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }] })
  t.teardown(() => app.close())
  const own = await app.createJwtToken('carol', { roles: ['view'] })
  t.equal((await app.inject({ url: '/view', headers: bearer(own) })).statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: bearer(await idp.sign({ sub: 'alice', aud: AUDIENCE })) })).statusCode, 200)
  // A token of the app's own secret that claims the provider is verified with the provider's keys.
  const impostor = await new SignJWT({ sub: 'mallory', aud: AUDIENCE, iss: idp.issuer }).setProtectedHeader({ alg: 'HS512' }).setIssuedAt().setExpirationTime('5m').sign(Buffer.from(SECRET))
  t.same((await app.inject({ url: '/public', headers: bearer(impostor) })).json().authFailure.reason, 'algorithm_not_allowed')
  t.same(idp.requests, ['/.well-known/openid-configuration', '/jwks.json'])
  const stranger = await new SignJWT({ sub: 'dave', iss: 'elsewhere' }).setProtectedHeader({ alg: 'HS512' }).setIssuedAt().setExpirationTime('5m').sign(Buffer.from(SECRET))
  t.same((await app.inject({ url: '/public', headers: bearer(stranger) })).json().authFailure, { error: 'invalid_token', reason: 'claim_invalid', claim: 'iss' }, 'other issuers go to the own rules, which name one issuer')
  const notJson = `${Buffer.from('{"alg":"HS512"}').toString('base64url')}.${Buffer.from('not json').toString('base64url')}.c2ln`
  t.same((await app.inject({ url: '/public', headers: bearer(notJson) })).json().authFailure, { error: 'invalid_token', reason: 'signature_invalid' }, 'a payload that names no issuer goes to the own keys, which refuse it')
})

t.test('audienceClaim client_id: for providers whose access tokens carry no aud (Amazon Cognito)', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: ['app-client-1', 'app-client-2'], audienceClaim: 'client_id', allowHttpLoopback: true, claims: { roles: ['cognito:groups'] } }])
  const cognito = { sub: 'alice', token_use: 'access', scope: 'orders/read', 'cognito:groups': ['admins'] }
  const me = await app.inject({ url: '/me', headers: bearer(await idp.sign({ ...cognito, client_id: 'app-client-2' })) })
  t.same(me.json().principals, ['system.Everyone', 'system.Authenticated', 'alice', 'admins', 'scope:orders/read'])
  const failure = async (claims: Record<string, unknown>) => (await app.inject({ url: '/public', headers: bearer(await idp.sign({ ...cognito, ...claims })) })).json().authFailure
  t.same(await failure({ client_id: 'another-client' }), { error: 'invalid_token', reason: 'claim_invalid', claim: 'client_id' })
  t.same(await failure({ aud: 'app-client-1' }), { error: 'invalid_token', reason: 'claim_invalid', claim: 'client_id' }, 'an ID token (aud, no client_id) is not an access token')
  const one = await resourceServer(t, [{ issuer: idp.issuer, audience: 'app-client-1', audienceClaim: 'client_id', allowHttpLoopback: true }])
  t.equal((await one.inject({ url: '/me', headers: bearer(await idp.sign({ ...cognito, client_id: 'app-client-1' })) })).statusCode, 200)
})

t.test('revokeAllFor with an issuer revokes that issuer\'s tokens of the userid, not the app\'s own', async (t) => {
  const idp = await provider(t)
  const app = await buildApp({ revocation: new MemoryRevocationStore(), issuers: [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }] })
  t.teardown(() => app.close())
  const fromIdp = await idp.sign({ sub: 'alice', aud: AUDIENCE, iat: Math.floor(Date.now() / 1000) - 5 })
  const own = await app.createJwtToken('alice')
  await app.revokeAllFor('alice', { issuer: idp.issuer })
  t.same((await app.inject({ url: '/public', headers: bearer(fromIdp) })).json().authFailure, { error: 'invalid_token', reason: 'token_revoked' })
  t.equal((await app.inject({ url: '/me', headers: bearer(own) })).statusCode, 200)
  const error = await rejected(app.revokeAllFor('alice', { issuer: 'https://elsewhere.example' }))
  t.equal(error.code, 'FST_JWT_SECURITY_INVALID_CLAIMS')
  await app.revokeAllFor('alice')
  t.equal((await app.inject({ url: '/me', headers: bearer(own) })).statusCode, 401)
})

t.test('a trusted issuer\'s token is never a cookie session: refused, never reissued as the app\'s own', async (t) => {
  const idp = await provider(t)
  const policy = new PolicyChain([new JwtHeaderPolicy(), new JwtCookiePolicy({ cookieName: 'session', secure: false, reissueTime: 1 })])
  const app = await buildApp({ policy, issuers: [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }] })
  t.teardown(() => app.close())
  const token = await idp.sign({ sub: 'alice', aud: AUDIENCE, iat: Math.floor(Date.now() / 1000) - 60 })
  const asCookie = await app.inject({ url: '/public', cookies: { session: token } })
  t.same(asCookie.json().authFailure, { error: 'invalid_token', reason: 'issuer_not_allowed', claim: 'iss' })
  t.equal(asCookie.headers['set-cookie'], undefined, 'no session is reissued from it')
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'as a Bearer token it is fine')
  t.same((await app.inject({ url: '/public', cookies: { session: token } })).json().authFailure.reason, 'issuer_not_allowed', 'the cached verification is refused too')
})

t.test('a sub in the form of a scope is refused: it would be a scope principal', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }])
  const token = await idp.sign({ sub: 'scope:payments:write', aud: AUDIENCE })
  t.same((await app.inject({ url: '/public', headers: bearer(token) })).json().authFailure, { error: 'invalid_token', reason: 'subject_reserved', claim: 'sub' })
})

t.test('without typ, a token with the claims of an ID token is refused; a future auth_time too', async (t) => {
  const idp = await provider(t)
  const loose = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }])
  const failure = async (app: typeof loose, claims: Record<string, unknown>, typ?: string) =>
    (await app.inject({ url: '/public', headers: bearer(await idp.sign({ sub: 'alice', aud: AUDIENCE, ...claims }, typ === undefined ? {} : { typ })) })).json().authFailure
  for (const claim of ['nonce', 'at_hash', 'c_hash']) {
    t.same(await failure(loose, { [claim]: 'x' }), { error: 'invalid_token', reason: 'claim_invalid', claim })
  }
  const strict = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true, typ: 'at+jwt' }])
  t.equal(await failure(strict, { nonce: 'x' }, 'at+jwt'), null, 'with a typ, the typ tells them apart')
  t.same(await failure(loose, { auth_time: Math.floor(Date.now() / 1000) + 60 }), { error: 'invalid_token', reason: 'claim_invalid', claim: 'auth_time' })
})

t.test('revocations of a trusted issuer\'s tokens last by that issuer\'s rules, not the app\'s', async (t) => {
  const idp = await provider(t)
  const ttls: Array<[string, number | null]> = []
  const memory = new MemoryRevocationStore()
  const store: RevocationStore = {
    isRevoked: (query) => memory.isRevoked(query),
    revokeToken: (token, ttl) => { ttls.push(['token', ttl]); return memory.revokeToken(token, ttl) },
    revokeSession: (session, ttl) => memory.revokeSession(session, ttl),
    revokeAllFor: (subject, notBefore, ttl) => { ttls.push(['all', ttl]); return memory.revokeAllFor(subject, notBefore, ttl) }
  }
  const app = await buildApp({ revocation: store, maxTokenAge: '15m', issuers: [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true, leeway: 300 }] })
  t.teardown(() => app.close())
  const now = Math.floor(Date.now() / 1000)
  await app.revokeToken({ jti: 'j1', iss: idp.issuer, exp: now + 60 })
  await app.revokeAllFor('alice', { issuer: idp.issuer })
  await app.revokeAllFor('alice')
  const [token, all, own] = ttls
  t.ok(token !== undefined && token[1] !== null && token[1] >= 359 && token[1] <= 361, `the token's entry covers exp + the issuer's leeway: ${String(token?.[1])}`)
  t.equal(all?.[1], 366 * 86400 + 301, 'a provider token may live longer than the app\'s maxTokenAge')
  t.equal(own?.[1], 901, 'the app\'s own tokens: maxTokenAge')
})

t.test('a cached verification ends when the issuer\'s keys may no longer be used', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true, cacheMaxAge: 0.3, staleIfError: 0.3, retryDelay: 0.05, maxRetryDelay: 0.05 }])
  const token = await idp.sign({ sub: 'alice', aud: AUDIENCE })
  const status = async () => (await app.inject({ url: '/me', headers: bearer(token) })).statusCode
  t.equal(await status(), 200)
  idp.down = true
  await new Promise((resolve) => setTimeout(resolve, 350))
  t.equal(await status(), 200, 'stale keys within staleIfError')
  t.equal(await status(), 200, 'admitted to the cache while stale')
  await new Promise((resolve) => setTimeout(resolve, 350))
  t.equal(await status(), 503, 'past staleIfError, the cache does not answer for the keys')
})

t.test('a prefetch that fails while a later option is wrong leaves no unhandled rejection', async (t) => {
  const unhandled: unknown[] = []
  const listener = (reason: unknown) => { unhandled.push(reason) }
  process.on('unhandledRejection', listener)
  t.teardown(() => { process.off('unhandledRejection', listener) })
  const error = await rejected(Fastify().register(jwtSecurity, {
    issuers: [
      { issuer: 'http://127.0.0.1:9/', audience: AUDIENCE, allowHttpLoopback: true, prefetch: true, timeout: 0.2 },
      { issuer: 'https://second.example', audience: [] }
    ]
  }).ready())
  t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION')
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.same(unhandled, [])
})

t.test('an app with issuers only cannot sign', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [{ issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }])
  t.equal((await rejected(app.createJwtToken('alice'))).code, 'FST_JWT_SECURITY_NO_SIGNING_KEY')
  t.same(app.jwks(), { keys: [] })
})

t.test('the issuers option is checked at register, naming the option', async (t) => {
  const idp = await provider(t)
  const base = { issuer: idp.issuer, audience: AUDIENCE, allowHttpLoopback: true }
  const cases: Array<[unknown, string, Record<string, unknown>?]> = [
    [[], 'issuers'],
    ['x', 'issuers'],
    [Array(33).fill(base), 'issuers'],
    [[{ ...base, extra: 1 }], 'issuers[0].extra'],
    [[{ ...base, issuer: '' }], 'issuers[0].issuer'],
    [[{ ...base, issuer: 'https://self.example' }], 'issuers[0].issuer', { issuer: 'https://self.example' }],
    [[base, base], 'issuers[1].issuer'],
    [[{ ...base, audience: undefined }], 'issuers[0].audience'],
    [[{ ...base, audience: [] }], 'issuers[0].audience'],
    [[{ ...base, allowHttpLoopback: 'yes' }], 'issuers[0].allowHttpLoopback'],
    [[{ ...base, allowHttpLoopback: false }], 'issuers[0].issuer'],
    [[{ ...base, issuer: 'https://idp.example/?tenant=1' }], 'issuers[0].issuer'],
    [[{ ...base, issuer: 'not a url' }], 'issuers[0].issuer'],
    [[{ ...base, jwksUri: 'http://keys.example/jwks.json' }], 'issuers[0].jwksUri'],
    [[{ ...base, jwksUri: `${idp.jwksUri}#keys` }], 'issuers[0].jwksUri'],
    [[{ ...base, profile: 'oidc' }], 'issuers[0].profile'],
    [[{ ...base, audienceClaim: 'azp' }], 'issuers[0].audienceClaim'],
    [[{ ...base, audienceClaim: 'client_id', profile: 'rfc9068' }], 'issuers[0].audienceClaim'],
    [[{ ...base, profile: 'rfc9068', typ: 'JWT' }], 'issuers[0].typ'],
    [[{ ...base, typ: '' }], 'issuers[0].typ'],
    [[{ ...base, leeway: '10m' }], 'issuers[0].leeway'],
    [[{ ...base, algorithms: ['HS256'] }], 'issuers[0].algorithms'],
    [[{ ...base, claims: { groups: [] } }], 'issuers[0].claims.groups'],
    [[{ ...base, retryDelay: 0 }], 'issuers[0].retryDelay'],
    [[{ ...base, keys: [{ kid: 'a', secret: SECRET }] }], 'issuers[0].keys[0].algorithm'],
    [[{ ...base, keys: [{ kid: 'a', algorithm: 'HS512', secret: SECRET }], jwksUri: idp.jwksUri }], 'issuers[0].jwksUri'],
    [[{ ...base, keys: [{ kid: 'a', algorithm: 'HS512', secret: SECRET }], cacheMaxAge: '1m' }], 'issuers[0].cacheMaxAge'],
    [[{ ...base, keys: [{ kid: 'a', algorithm: 'HS512', secret: SECRET }], algorithms: ['ES256'] }], 'issuers[0].algorithms']
  ]
  for (const [issuers, option, extra] of cases) {
    const app = Fastify()
    const error = await rejected(app.register(jwtSecurity, { issuers, ...extra } as never).ready())
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', option)
    t.match(error.message, option)
  }
  const noKeys = await rejected(Fastify().register(jwtSecurity, {}).ready())
  t.equal(noKeys.code, 'FST_JWT_SECURITY_INVALID_OPTION', 'without issuers, the plugin still needs keys')
  t.same(idp.requests, [])
})
