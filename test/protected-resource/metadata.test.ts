import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import t from 'tap'
import jwtSecurity, { type JwtSecurityOptions, type ProtectedResourceOptions } from '../../lib/index.js'
import { metadataDocument } from '../../lib/protected-resource/metadata.js'
import { resolveProtectedResource, type ResolvedProtectedResource } from '../../lib/protected-resource/options.js'
import { SECRET } from '../helpers/app.js'
import { withBadSignature } from '../helpers/tokens.js'

// The protectedResource option: the RFC 9728 document the plugin serves, and the resource_metadata
// every 401 challenge (and the insufficient_scope 403) then carries.

const NOW = 1_800_000_000_000
const WELL_KNOWN = '/.well-known/oauth-protected-resource'

async function buildApp (
  protectedResource: ProtectedResourceOptions,
  declare: (app: FastifyInstance) => void = () => {},
  options: Partial<JwtSecurityOptions> = {},
  serverOptions: FastifyServerOptions = {}
): Promise<FastifyInstance> {
  const app = Fastify(serverOptions)
  await app.register(jwtSecurity, { secret: SECRET, now: () => NOW, expiresIn: 60, protectedResource, ...options } as JwtSecurityOptions)
  declare(app)
  await app.ready()
  t.teardown(() => app.close())
  return app
}

function resolved (options: ProtectedResourceOptions): ResolvedProtectedResource {
  return resolveProtectedResource(options) as ResolvedProtectedResource
}

t.test('the document: the RFC\'s member names and order, JSON, cached, for GET and HEAD', async (t) => {
  const app = await buildApp({
    resource: 'https://api.example.com',
    authorizationServers: ['https://auth.example.com'],
    jwksUri: 'https://api.example.com/jwks.json',
    bearerMethodsSupported: ['header'],
    resourceSigningAlgValuesSupported: ['ES256', 'RS256'],
    resourceName: 'Example API',
    resourceDocumentation: 'https://docs.example.com/api',
    extra: { resource_policy_uri: 'https://example.com/policy', dpop_bound_access_tokens_required: false }
  }, (app) => {
    app.get('/messages', { config: { requires: { scopes: ['messages:read'] } } }, async () => 'messages')
  })
  const response = await app.inject({ url: WELL_KNOWN })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(response.headers['cache-control'], 'public, max-age=3600')
  t.equal(response.body, JSON.stringify({
    resource: 'https://api.example.com',
    authorization_servers: ['https://auth.example.com'],
    jwks_uri: 'https://api.example.com/jwks.json',
    scopes_supported: ['messages:read'],
    bearer_methods_supported: ['header'],
    resource_signing_alg_values_supported: ['ES256', 'RS256'],
    resource_name: 'Example API',
    resource_documentation: 'https://docs.example.com/api',
    resource_policy_uri: 'https://example.com/policy',
    dpop_bound_access_tokens_required: false
  }))
  const head = await app.inject({ method: 'HEAD', url: WELL_KNOWN })
  t.equal(head.statusCode, 200)
  t.equal(head.body, '')
  t.equal(head.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(head.headers['cache-control'], 'public, max-age=3600')
  const token = await app.createJwtToken('alice')
  t.equal((await app.inject({ url: WELL_KNOWN, headers: { authorization: `Bearer ${withBadSignature(token)}` } })).statusCode, 200, 'a refused token does not matter')
})

t.test('the least document, and scopes_supported from every route\'s requirements, sorted, once the app is ready', async (t) => {
  const minimal = await buildApp({ resource: 'https://api.example.com' })
  t.equal((await minimal.inject({ url: WELL_KNOWN })).body, '{"resource":"https://api.example.com","bearer_methods_supported":["header"]}')

  const app = await buildApp({ resource: 'https://api.example.com' }, (app) => {
    app.get('/b', { config: { requires: { scopes: ['b:read', 'a:read'] } } }, async () => 'b')
    app.get('/c', { preHandler: app.requires({ scopes: { anyOf: ['c:read', 'a:read'] } }) }, async () => 'c')
    app.get('/mfa', { config: { requires: { acr: ['urn:mfa'] } } }, async () => 'mfa')
    app.register(async (child) => {
      child.get('/d', { onRequest: [child.requires({ scopes: ['d:write'] })] }, async () => 'd')
    }, { prefix: '/child' })
    app.requires({ scopes: ['unused'] })
  })
  t.same((await app.inject({ url: WELL_KNOWN })).json(), {
    resource: 'https://api.example.com',
    scopes_supported: ['a:read', 'b:read', 'c:read', 'd:write'],
    bearer_methods_supported: ['header']
  }, 'every route, in every plugin; a hook no route uses is not one')

  const given = await buildApp({ resource: 'https://api.example.com', scopesSupported: ['z', 'y'] }, (app) => {
    app.get('/b', { config: { requires: { scopes: ['b:read'] } } }, async () => 'b')
  })
  t.same((await given.inject({ url: WELL_KNOWN })).json().scopes_supported, ['z', 'y'], 'scopesSupported replaces them, as given')
})

t.test('metadataDocument: the default authorization servers stand in for an absent authorizationServers', async (t) => {
  const options = resolved({ resource: 'https://api.example.com' })
  t.strictSame(metadataDocument(options, ['https://issuer.example'], ['read']), {
    resource: 'https://api.example.com',
    authorization_servers: ['https://issuer.example'],
    scopes_supported: ['read'],
    bearer_methods_supported: ['header']
  })
  t.strictSame(metadataDocument(resolved({ resource: 'https://api.example.com', authorizationServers: ['https://auth.example.com'] }), ['https://issuer.example'], []), {
    resource: 'https://api.example.com',
    authorization_servers: ['https://auth.example.com'],
    bearer_methods_supported: ['header']
  }, 'given ones win')
})

t.test('a resource with a path: the document is served at the well-known path followed by it', async (t) => {
  const app = await buildApp({ resource: 'https://api.example.com/v1' }, (app) => {
    app.get('/v1/me', { config: { permission: 'system.Authenticated' } }, async () => 'me')
  })
  t.equal((await app.inject({ url: `${WELL_KNOWN}/v1` })).json().resource, 'https://api.example.com/v1')
  t.equal((await app.inject({ url: WELL_KNOWN })).statusCode, 404)
  t.equal((await app.inject({ url: '/v1/me' })).headers['www-authenticate'],
    `Bearer realm="api", resource_metadata="https://api.example.com${WELL_KNOWN}/v1"`)

  const custom = await buildApp({ resource: 'https://api.example.com/v1', path: '/meta' })
  t.equal((await custom.inject({ url: '/meta' })).statusCode, 200, 'an explicit path')
})

t.test('every 401 challenge carries resource_metadata, and the insufficient_scope 403; the 400 and other 403s do not', async (t) => {
  const metadata = `resource_metadata="https://api.example.com${WELL_KNOWN}"`
  let now = NOW
  const app = await buildApp({ resource: 'https://api.example.com' }, (app) => {
    app.get('/edit', { config: { permission: 'edit' } }, async () => 'edit')
    app.get('/mfa', { config: { requires: { acr: ['urn:mfa'], maxAge: 60 } } }, async () => 'mfa')
    app.get('/read', { preHandler: app.requires({ scopes: ['read'] }) }, async () => 'read')
  }, { now: () => now })
  const token = await app.createJwtToken('alice')
  const cases: Array<[string, Record<string, string>, number, string | undefined]> = [
    ['/edit', {}, 401, `Bearer realm="api", ${metadata}`],
    ['/edit', { authorization: `Bearer ${withBadSignature(token)}` }, 401, `Bearer realm="api", error="invalid_token", error_description="The access token is invalid", ${metadata}`],
    ['/edit', { authorization: 'Bearer' }, 400, 'Bearer realm="api", error="invalid_request", error_description="The authorization request is malformed"'],
    ['/edit', { authorization: `Bearer ${token}` }, 403, undefined],
    ['/mfa', { authorization: `Bearer ${token}` }, 401,
      `Bearer realm="api", error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:mfa", max_age="60", ${metadata}`],
    ['/read', { authorization: `Bearer ${token}` }, 403,
      `Bearer realm="api", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token", scope="read", ${metadata}`]
  ]
  for (const [url, headers, status, challenge] of cases) {
    const response = await app.inject({ url, headers })
    t.equal(response.statusCode, status, `${url} ${status}`)
    t.equal(response.headers['www-authenticate'], challenge, `${url} ${status}`)
  }
  now += 60_000
  t.equal((await app.inject({ url: '/edit', headers: { authorization: `Bearer ${token}` } })).headers['www-authenticate'],
    `Bearer realm="api", error="invalid_token", error_description="The access token expired", ${metadata}`)
})

t.test('the document is open to anyone, whatever defaultPermission, and HEAD whatever exposeHeadRoutes', async (t) => {
  const app = await buildApp({ resource: 'https://api.example.com' }, (app) => {
    app.get('/articles', async () => 'articles')
  }, { defaultPermission: 'view' }, { exposeHeadRoutes: false })
  t.equal((await app.inject({ url: '/articles' })).statusCode, 401, 'the default permission applies elsewhere')
  t.equal((await app.inject({ url: WELL_KNOWN })).statusCode, 200)
  t.equal((await app.inject({ method: 'HEAD', url: WELL_KNOWN })).statusCode, 200)
  t.equal((await app.inject({ method: 'HEAD', url: '/articles' })).statusCode, 404, 'the app\'s own GET routes get no HEAD')
  t.equal((await app.inject({ method: 'POST', url: WELL_KNOWN })).statusCode, 404)
})

t.test('under a prefix, the path (from the origin) must lie under it', async (t) => {
  for (const prefix of ['/api', '/api/']) {
    const app = Fastify()
    await app.register(async (api) => {
      await api.register(jwtSecurity, { secret: SECRET, protectedResource: { resource: 'https://example.com/api', path: `/api${WELL_KNOWN}` } })
      api.get('/me', { config: { permission: 'system.Authenticated' } }, async () => 'me')
    }, { prefix })
    await app.ready()
    t.teardown(() => app.close())
    t.equal((await app.inject({ url: `/api${WELL_KNOWN}` })).json().resource, 'https://example.com/api', prefix)
    t.equal((await app.inject({ url: '/api/me' })).headers['www-authenticate'], `Bearer realm="api", resource_metadata="https://example.com/api${WELL_KNOWN}"`)
  }
  const app = Fastify()
  app.register(async (api) => {
    await api.register(jwtSecurity, { secret: SECRET, protectedResource: { resource: 'https://example.com/api' } })
  }, { prefix: '/api' })
  await t.rejects(async () => { await app.ready() }, {
    code: 'FST_JWT_SECURITY_INVALID_OPTION',
    message: 'Invalid option "protectedResource.path": the plugin is registered under the prefix "/api", so it can only serve paths under it'
  })
})
