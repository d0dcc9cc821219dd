import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance } from 'fastify'
import { decodeProtectedHeader } from 'jose'
import t, { type Test } from 'tap'
import jwtSecurity, { Authenticated, type TrustedIssuer } from '../../lib/index.js'
import { rejected } from '../helpers/errors.js'
import { generateSigningKey, startProvider, type ProviderHandle, type ProviderOptions } from '../helpers/oidc-provider.js'

// End to end with a real OpenID Provider (oidc-provider on 127.0.0.1) issuing RFC 9068 JWT access
// tokens to a real client (oauth4webapi), and the plugin as the resource server.

const ORDERS = 'https://orders.example.test/'
const BILLING = 'https://billing.example.test/'
const RESOURCES = { [ORDERS]: { scopes: 'read:orders write:orders' }, [BILLING]: { scopes: 'pay' } }
const wait = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

async function provider (t: Test, options: ProviderOptions = {}): Promise<ProviderHandle> {
  const handle = await startProvider({ resources: RESOURCES, ...options })
  t.teardown(() => handle.close())
  return handle
}

async function resourceServer (t: Test, issuers: TrustedIssuer[]): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(jwtSecurity, { issuers })
  app.get('/me', { preHandler: app.permits(Authenticated) }, async (request) => ({
    userid: request.authenticatedUserid,
    principals: request.identity?.principals,
    claims: request.jwtClaims
  }))
  app.get('/orders', { preHandler: app.permits('scope:read:orders') }, async () => 'orders')
  app.get('/public', async (request) => ({ failure: request.authFailure }))
  await app.ready()
  t.teardown(() => app.close())
  return app
}

const trust = (idp: ProviderHandle, extra: Partial<TrustedIssuer> = {}): TrustedIssuer =>
  ({ issuer: idp.issuer, audience: ORDERS, profile: 'rfc9068', allowHttpLoopback: true, ...extra })
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('discovery, keys and an RFC 9068 token from the client-credentials grant', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [trust(idp, { prefetch: true })])
  t.same(idp.requests, ['/.well-known/openid-configuration', '/jwks'], 'prefetched at start-up: discovery, then its jwks_uri')
  const token = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  const me = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(me.statusCode, 200)
  t.same(me.json().principals, ['system.Everyone', 'system.Authenticated', 'api-client', 'scope:read:orders'])
  t.equal(me.json().claims.client_id, 'api-client')
  t.equal((await app.inject({ url: '/orders', headers: bearer(token) })).statusCode, 200)
  const writeOnly = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'write:orders' })
  t.equal((await app.inject({ url: '/orders', headers: bearer(writeOnly) })).statusCode, 403)
})

t.test('an authorization-code login: sub, acr, amr and auth_time reach the app', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [trust(idp)])
  const authTime = Math.floor(Date.now() / 1000) - 120
  const token = await idp.authorizationCodeToken({ resource: ORDERS, scope: 'read:orders', acr: 'urn:example:mfa', amr: ['pwd', 'otp'], authTime })
  const { claims, userid } = (await app.inject({ url: '/me', headers: bearer(token) })).json()
  t.equal(userid, 'alice')
  t.match(claims, { acr: 'urn:example:mfa', amr: ['pwd', 'otp'], auth_time: authTime, client_id: 'api-client', aud: ORDERS })
})

t.test('key rotation at the provider: both keys verify during the overlap, the retired one fails after', async (t) => {
  const oldKey = generateSigningKey('old')
  const idp = await provider(t, { keys: [oldKey] })
  const app = await resourceServer(t, [trust(idp, { cooldown: 0, cacheMaxAge: 0.3 })])
  const before = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  t.equal((await app.inject({ url: '/me', headers: bearer(before) })).statusCode, 200)
  await idp.restart({ keys: [generateSigningKey('new'), oldKey] })
  const after = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  t.equal(decodeProtectedHeader(after).kid, 'new')
  t.equal((await app.inject({ url: '/me', headers: bearer(after) })).statusCode, 200, 'a new kid makes the set be fetched again')
  t.equal((await app.inject({ url: '/me', headers: bearer(before) })).statusCode, 200, 'the old key still verifies during the overlap')
  await idp.restart({ keys: [generateSigningKey('newer'), ...idp.keys.filter((key) => key.kid === 'new')] })
  await wait(350)
  const retired = await app.inject({ url: '/public', headers: bearer(before) })
  t.same(retired.json().failure, { error: 'invalid_token', reason: 'key_unknown' }, 'once the set is fetched again, the retired key is gone')
  t.equal((await app.inject({ url: '/me', headers: bearer(after) })).statusCode, 200)
})

t.test('two providers: a token of one is refused by the other\'s audience and keys', async (t) => {
  const first = await provider(t)
  const second = await provider(t)
  const app = await resourceServer(t, [trust(first), trust(second, { audience: BILLING })])
  const fromSecond = await second.clientCredentialsToken({ resource: BILLING, scope: 'pay' })
  t.equal((await app.inject({ url: '/me', headers: bearer(fromSecond) })).statusCode, 200)
  const forOrders = await second.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  t.same((await app.inject({ url: '/public', headers: bearer(forOrders) })).json().failure, { error: 'invalid_token', reason: 'claim_invalid', claim: 'aud' },
    'the second provider\'s token for the orders API: the app trusts it only for billing')
  t.equal((await app.inject({ url: '/me', headers: bearer(await first.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })) })).statusCode, 200)
})

t.test('an issuer not on the list is refused without any request to it', async (t) => {
  const trusted = await provider(t)
  const stranger = await provider(t)
  const app = await resourceServer(t, [trust(trusted)])
  const token = await stranger.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  stranger.clearRequests()
  trusted.clearRequests()
  t.same((await app.inject({ url: '/public', headers: bearer(token) })).json().failure, { error: 'invalid_token', reason: 'issuer_unknown', claim: 'iss' })
  t.same(stranger.requests, [], 'the provider the token names saw no request')
  t.same(trusted.requests, [])
})

t.test('a discovery document that names another issuer gives no keys: 503, and prefetch fails', async (t) => {
  const idp = await provider(t)
  const token = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  idp.setDiscoveryIssuer('https://evil.example')
  idp.clearRequests()
  const app = await resourceServer(t, [trust(idp)])
  const response = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'FST_JWT_SECURITY_KEYS_UNAVAILABLE')
  t.ok(Number(response.headers['retry-after']) >= 1)
  t.same(idp.requests, ['/.well-known/openid-configuration'], 'the jwks_uri of that document is never fetched')
  const error = await rejected(Fastify().register(jwtSecurity, { issuers: [trust(idp, { prefetch: true })] }).ready())
  t.equal(error.code, 'FST_JWT_SECURITY_JWKS_PREFETCH_FAILED')
})

t.test('a provider that goes down: its keys serve within staleIfError, then 503', async (t) => {
  const idp = await provider(t)
  const app = await resourceServer(t, [trust(idp, { cacheMaxAge: 0.2, staleIfError: 0.6, retryDelay: 0.05, maxRetryDelay: 0.1 })])
  const token = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200)
  idp.setDown(true)
  await wait(300)
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'past cacheMaxAge, within staleIfError: the stale keys serve')
  await wait(600)
  const late = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(late.statusCode, 503, 'past staleIfError: no key can be had')
  t.equal(late.json().code, 'FST_JWT_SECURITY_KEYS_UNAVAILABLE')
  idp.setDown(false)
  await wait(150)
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'back by itself once the provider is')
})

t.test('scope and step-up refusals, the metadata and the OpenAPI document, with the provider\'s tokens', async (t) => {
  const idp = await provider(t)
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 'orders', version: '1' } } })
  await app.register(jwtSecurity, { issuers: [trust(idp)], protectedResource: { resource: 'https://orders.example.test/' } })
  app.get('/orders', { config: { requires: { scopes: ['read:orders'] } } }, async () => 'orders')
  app.post('/refunds', { config: { requires: { acr: ['urn:example:mfa'], maxAge: 300 } } }, async () => 'refunded')
  await app.ready()
  t.teardown(() => app.close())
  const metadataUrl = 'https://orders.example.test/.well-known/oauth-protected-resource'

  const anonymous = await app.inject({ url: '/orders' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.headers['www-authenticate'], `Bearer realm="api", resource_metadata="${metadataUrl}"`)
  const writer = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'write:orders' })
  const noScope = await app.inject({ url: '/orders', headers: bearer(writer) })
  t.equal(noScope.statusCode, 403)
  t.equal(noScope.json().code, 'FST_JWT_SECURITY_INSUFFICIENT_SCOPE')
  t.equal(noScope.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token", scope="read:orders", ' +
    `resource_metadata="${metadataUrl}"`)
  const reader = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  t.equal((await app.inject({ url: '/orders', headers: bearer(reader) })).statusCode, 200)

  const stepUp = 'Bearer realm="api", error="insufficient_user_authentication", error_description="%s", acr_values="urn:example:mfa", max_age="300", ' +
    `resource_metadata="${metadataUrl}"`
  const password = await idp.authorizationCodeToken({ resource: ORDERS, scope: 'read:orders', acr: 'urn:example:pwd' })
  const weak = await app.inject({ method: 'POST', url: '/refunds', headers: bearer(password) })
  t.equal(weak.statusCode, 401)
  t.equal(weak.headers['www-authenticate'], stepUp.replace('%s', 'A different authentication level is required'))
  const old = await idp.authorizationCodeToken({ resource: ORDERS, scope: 'read:orders', acr: 'urn:example:mfa', authTime: Math.floor(Date.now() / 1000) - 600 })
  const stale = await app.inject({ method: 'POST', url: '/refunds', headers: bearer(old) })
  t.equal(stale.statusCode, 401)
  t.equal(stale.headers['www-authenticate'], stepUp.replace('%s', 'More recent authentication is required'))
  const fresh = await idp.authorizationCodeToken({ resource: ORDERS, scope: 'read:orders', acr: 'urn:example:mfa' })
  t.equal((await app.inject({ method: 'POST', url: '/refunds', headers: bearer(fresh) })).statusCode, 200)

  const metadata = await app.inject({ url: '/.well-known/oauth-protected-resource' })
  t.same(metadata.json(), {
    resource: 'https://orders.example.test/',
    authorization_servers: [idp.issuer],
    scopes_supported: ['read:orders'],
    bearer_methods_supported: ['header']
  }, 'the trusted issuers are the authorization servers; the scopes come from the routes')
  const document = app.swagger() as unknown as { components: { securitySchemes: Record<string, unknown> }, paths: Record<string, Record<string, { security: unknown }>> }
  t.same(document.components.securitySchemes.oidc, { type: 'openIdConnect', openIdConnectUrl: `${idp.issuer}/.well-known/openid-configuration` })
  t.same(document.paths['/orders']?.get?.security, [{ bearerAuth: [] }, { oidc: ['read:orders'] }])
})
