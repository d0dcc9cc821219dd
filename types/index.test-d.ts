import Fastify, { type FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import type { JSONWebKeySet } from 'jose'
import jwtSecurity, {
  Allow, Allowed, Denied, Everyone, JwtCookiePolicy, JwtHeaderPolicy, errors, MemoryRevocationStore, RedisRevocationStore, fromEnv, fromSettings, SETTING_NAMES,
  type ContextSource, type RevocationStore, type TokenCacheOptions,
  type JwtClaims, type JwtIdentity, type JwtSecurityOptions, type PermitsResult, type SecurityPolicy,
  type PolicyContext, type SecurityScheme, type JwtCookiePolicyOptions
} from 'fastify-jwt-security'

const app = Fastify()
await app.register(jwtSecurity, { secret: 'x'.repeat(64), algorithm: 'HS256', expiresIn: '1h', leeway: 5 })
expectError(app.register(jwtSecurity, { secret: 'x', algorithm: 'HS999' }))

app.get('/articles', { preHandler: app.permits('view') }, async (request) => {
  expectType<JwtIdentity | null>(request.identity)
  expectType<JwtClaims | null>(request.jwtClaims)
  expectType<string | null>(request.authenticatedUserid)
  expectType<boolean>(request.isAuthenticated)
  expectType<Promise<PermitsResult>>(request.hasPermission('edit'))
  expectType<Promise<string>>(request.createJwtToken('alice', { roles: ['admin'] }, { expiresIn: 60 }))
  return request.identity
})
app.post('/articles', { config: { permission: 'edit' } }, async () => 'ok')
app.post('/session', async (request, reply) => {
  expectType<Promise<void>>(reply.remember(42, { roles: ['view'] }))
  expectType<Promise<void>>(reply.remember('alice'))
  expectError(reply.remember({ id: 42 }))
  return 'ok'
})
expectType<Promise<string>>(app.createJwtToken(42))

const policy: SecurityPolicy<{ id: string }> = {
  identity: async () => ({ id: 'a' }),
  permits: () => new Allowed('yes'),
  remember: () => {},
  forget: async () => {}
}
expectAssignable<SecurityPolicy>(new JwtHeaderPolicy({ authType: 'JWT' }))

// The optional members of the contract: what the plugin may ask of any policy.
const transport: SecurityScheme = { name: 'apiTokenAuth', openapi: { type: 'apiKey', in: 'header', name: 'X-Api-Token' }, swagger: null }
const full: SecurityPolicy<string> = {
  identity: async () => 'svc',
  permits: () => true,
  remember: () => {},
  forget: () => {},
  register: async (fastify, context) => {
    expectType<PolicyContext>(context)
    expectType<Promise<JwtClaims>>(context.tokens.verifyAnew('a.b.c'))
    expectType<Promise<string>>(context.tokens.sign('svc', { scope: 'read' }))
    expectType<number | null>(context.tokens.expiresIn)
    fastify.addHook('onRequest', async () => {})
  },
  challengeScheme: 'Token',
  supportsRemember: false,
  securitySchemes: () => [transport]
}
expectAssignable<SecurityPolicy>(full)
expectError<SecurityPolicy>({ ...full, challengeScheme: 42 })
expectType<false>(new Denied('no').allowed)
await app.register(jwtSecurity, { secret: 'x'.repeat(64), policy })

// Without a Permissions declaration, any permission name is accepted.
app.get('/any', { preHandler: app.permits('anything-at-all') }, async () => 'ok')
app.get('/config', { config: { permission: 'whatever', permissionHook: 'preHandler' } }, async () => 'ok')
expectError(app.get('/hook', { config: { permission: 'x', permissionHook: 'onSend' } }, async () => 'ok'))
// A context is any value but undefined, or a function of the request, on a route and in app.permits alike.
const articleContext = { __acl__: [[Allow, Everyone, 'view']] }
for (const context of [articleContext, 'articles', 42, null, async () => articleContext]) {
  app.get('/context', { config: { permission: 'view', context } }, async () => 'ok')
  app.get('/context-hook', { preHandler: app.permits('view', { context }) }, async () => 'ok')
}
expectAssignable<ContextSource>('articles')
expectAssignable<ContextSource>((request: FastifyRequest) => request.params)

// Key sets, remote JWK Sets, publishing keys, and pyramid_jwt settings.
await Fastify().register(jwtSecurity, { keys: [{ kid: 'h2', secret: 'x'.repeat(64), algorithm: 'HS512' }, { kid: 'h1', secret: 'y'.repeat(64) }] })
await Fastify().register(jwtSecurity, { jwks: { url: 'https://auth.example.org/.well-known/jwks.json', issuer: 'https://auth.example.org', algorithms: ['RS256', 'EdDSA'], timeout: '5s' }, audience: 'api' })
expectError(Fastify().register(jwtSecurity, { keys: [{ secret: 'x'.repeat(64) }] }))
expectError(Fastify().register(jwtSecurity, { jwks: { url: 'https://a.example', algorithms: ['HS256'] } }))
expectType<JSONWebKeySet>(app.jwks())
// The key server's outage rules.
await Fastify().register(jwtSecurity, { jwks: { url: 'https://a.example/jwks.json', staleIfError: '1h', retryDelay: 1, maxRetryDelay: '60s', prefetch: 'background' }, audience: 'api' })
expectError(Fastify().register(jwtSecurity, { jwks: { url: 'https://a.example/jwks.json', prefetch: 'later' } }))
expectType<'FST_JWT_SECURITY_KEYS_UNAVAILABLE'>(new errors.KeysUnavailableError().code)
expectType<503>(new errors.KeysUnavailableError().statusCode)
// A cookie with pyramid_jwt's Domain; settings that say which of them were ignored.
expectAssignable<JwtCookiePolicyOptions>({ cookieName: 'session', hostDomain: true })
expectError(new JwtCookiePolicy({ hostDomain: 'yes' }))
expectAssignable<JwtSecurityOptions>(fromSettings({ 'jwt.cookie_name': 'session' }, { log: console }))
expectAssignable<JwtSecurityOptions>(fromSettings({ 'jwt.private_key': 'x', 'jwt.expiration': '3600' }))
expectAssignable<JwtSecurityOptions>(fromEnv())
expectType<readonly string[]>(SETTING_NAMES)

// Revocation.
await Fastify().register(jwtSecurity, { secret: 'x'.repeat(64), revocation: new MemoryRevocationStore({ maxEntries: 1000 }) })
const cache: TokenCacheOptions = { maxEntries: 50_000, maxBytes: 32 * 1024 * 1024, ttl: '2m' }
await Fastify().register(jwtSecurity, { secret: 'x'.repeat(64), cache })
expectError<TokenCacheOptions>({ maxEntires: 10 })
await Fastify().register(jwtSecurity, { secret: 'x'.repeat(64), revocation: new RedisRevocationStore({ url: 'redis://127.0.0.1:6379', failOpen: false, timeout: '1s' }) })
const customStore: RevocationStore = { isRevoked: async () => false, revokeToken: () => {}, revokeSession: () => {}, revokeAllFor: async () => {} }
await Fastify().register(jwtSecurity, { secret: 'x'.repeat(64), revocation: customStore })
expectError(Fastify().register(jwtSecurity, { secret: 'x'.repeat(64), revocation: { isRevoked: () => false } }))
expectType<Promise<void>>(app.revokeToken({ jti: 'x', sub: 'alice' }))
expectType<Promise<void>>(app.revokeAllFor('alice'))
expectType<Promise<void>>(app.revokeAllFor(42))
expectError(app.revokeAllFor(null))
