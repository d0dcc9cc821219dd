// A policy written against the public contract alone, as an app would: its own transport (an
// X-Api-Token header), its own challenge scheme, its own OpenAPI scheme, a register step and a
// remember that hands out a token. It must behave like a built-in policy, in a chain too.
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import t from 'tap'
import { decodeJwt } from 'jose'
import jwtSecurity, {
  Allowed, Denied, JwtCookiePolicy, MemoryRevocationStore, PolicyChain,
  type JwtClaims, type PolicyContext, type SecurityPolicy, type SecurityScheme
} from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'

interface ApiClient { readonly userid: string, readonly scopes: readonly string[], readonly claims: JwtClaims }

class ApiTokenPolicy implements SecurityPolicy<ApiClient> {
  readonly challengeScheme = 'Token'
  readonly supportsRemember = true
  #context: PolicyContext | null = null
  registered = 0

  register (fastify: FastifyInstance, context: PolicyContext): void {
    this.registered++
    this.#context = context
    fastify.addHook('onSend', async (request, reply) => {
      if (request.identity !== null) reply.header('x-api-client', request.authenticatedUserid)
    })
  }

  async identity (request: FastifyRequest): Promise<ApiClient | null> {
    const token = request.headers['x-api-token']
    const context = this.#context as PolicyContext
    if (token === undefined) return null
    if (typeof token !== 'string' || token === '') {
      request.authFailure = { error: 'invalid_request', reason: 'credentials_missing' }
      return null
    }
    let claims: JwtClaims
    try {
      claims = context.tokens.cached(token)?.claims ?? await context.tokens.verifyAnew(token)
    } catch (error) {
      request.authFailure = { error: 'invalid_token', reason: String((error as { reason?: unknown }).reason) }
      return null
    }
    if (context.revocation !== null && await context.revocation.isRevoked(request, claims)) {
      request.authFailure = { error: 'invalid_token', reason: 'token_revoked' }
      return null
    }
    request.jwtClaims = claims
    return { userid: claims.sub, scopes: String(claims.scope ?? '').split(' '), claims }
  }

  permits (request: FastifyRequest, _context: unknown, permission: string): Allowed | Denied {
    const client = request.identity as ApiClient | null
    return client?.scopes.includes(permission) === true ? new Allowed('scope %s', permission) : new Denied('no scope %s', permission)
  }

  async remember (_request: FastifyRequest, reply: FastifyReply, userid: string, claims?: Record<string, unknown>): Promise<void> {
    reply.header('x-api-token', await (this.#context as PolicyContext).tokens.sign(userid, claims))
  }

  forget (): void {}

  securitySchemes (): readonly SecurityScheme[] {
    const scheme = { type: 'apiKey', in: 'header', name: 'X-Api-Token', description: 'A JWT, sent bare' }
    return [{ name: 'apiTokenAuth', openapi: scheme, swagger: scheme }]
  }
}

async function buildApp (policy: SecurityPolicy) {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, { openapi: { info: { title: 'api', version: '1' } } })
  await app.register(jwtSecurity, { secret: SECRET, expiresIn: '1h', realm: 'api', policy, revocation: new MemoryRevocationStore() })
  app.get('/reports', { preHandler: app.permits('reports:read') }, async (request) => ({ userid: request.authenticatedUserid }))
  app.post('/keys', async (request, reply) => {
    await reply.remember('svc-1', { scope: 'reports:read' })
    return { ok: true }
  })
  await app.ready()
  return app
}

t.test('a policy of the app: its transport, challenge, register step, remember and revocation', async (t) => {
  const policy = new ApiTokenPolicy()
  const app = await buildApp(policy)
  t.equal(policy.registered, 1, 'register is called once, at registration')
  const missing = await app.inject({ url: '/reports' })
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers['www-authenticate'], 'Token realm="api"', 'its challenge scheme')
  const issued = await app.inject({ method: 'POST', url: '/keys' })
  const token = issued.headers['x-api-token'] as string
  t.ok(token.split('.').length === 3, 'remember hands out a token signed with the plugin\'s key')
  const ok = await app.inject({ url: '/reports', headers: { 'x-api-token': token } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { userid: 'svc-1' })
  t.equal(ok.headers['x-api-client'], 'svc-1', 'the hook added in register runs')
  const bad = await app.inject({ url: '/reports', headers: { 'x-api-token': `${token}x` } })
  t.equal(bad.statusCode, 401)
  t.equal(bad.headers['www-authenticate'], 'Token realm="api", error="invalid_token", error_description="The access token is invalid"')
  const empty = await app.inject({ url: '/reports', headers: { 'x-api-token': '' } })
  t.equal(empty.statusCode, 400, 'a malformed request, as the built-in policies answer it')
  await app.revokeToken(decodeJwt(token))
  t.equal((await app.inject({ url: '/reports', headers: { 'x-api-token': token } })).statusCode, 401, 'revoked through the plugin, refused by the policy')
})

t.test('its security scheme reaches the OpenAPI document, alone and in a chain with a built-in policy', async (t) => {
  const alone = await buildApp(new ApiTokenPolicy())
  const document = alone.swagger() as { components: { securitySchemes: Record<string, unknown> }, paths: Record<string, Record<string, { security?: unknown }>> }
  t.same(document.components.securitySchemes, { apiTokenAuth: { type: 'apiKey', in: 'header', name: 'X-Api-Token', description: 'A JWT, sent bare' } })
  t.same(document.paths['/reports']?.get?.security, [{ apiTokenAuth: ['reports:read'] }])
  const chain = new PolicyChain([new ApiTokenPolicy(), new JwtCookiePolicy()])
  const chained = await buildApp(chain)
  t.equal(chain.challengeScheme, 'Token', 'the chain challenges with its first policy\'s scheme')
  const schemes = (chained.swagger() as { components: { securitySchemes: Record<string, unknown> } }).components.securitySchemes
  t.same(Object.keys(schemes).sort(), ['apiTokenAuth', 'cookieAuth'])
  const issued = await chained.inject({ method: 'POST', url: '/keys' })
  t.type(issued.headers['x-api-token'], 'string', 'remember reaches a policy that supports it')
  t.ok((issued.headers['set-cookie'] as string[] | string).toString().includes('__Host-session='), 'and the cookie policy too')
})
