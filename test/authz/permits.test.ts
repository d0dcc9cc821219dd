import Fastify, { type FastifyRequest } from 'fastify'
import t from 'tap'
import jwtSecurity, { Allowed, Denied, type SecurityPolicy } from '../../lib/index.js'
import { buildChallenges } from '../../lib/authz/permits.js'
import { SECRET } from '../helpers/app.js'

type Decision = boolean | Allowed | Denied | 'throw' | 'garbage'

// A policy whose identity comes from the x-user header and whose decisions come from a table.
function tablePolicy (decisions: Record<string, Decision>, seenContexts: unknown[] = []): SecurityPolicy<string> {
  return {
    identity: (request) => (request.headers['x-user'] as string | undefined) ?? null,
    permits: async (request, context, permission) => {
      seenContexts.push(context)
      const decision = decisions[permission]
      if (decision === 'throw') throw new Error('policy bug')
      if (decision === 'garbage') return 'yes' as unknown as boolean
      return decision ?? false
    },
    remember: () => {},
    forget: () => {}
  }
}

t.test('app.permits: allowed passes, denied answers 401 for anonymous and 403 for authenticated', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, policy: tablePolicy({ view: true, edit: new Denied('no'), admin: false, read: new Allowed('ok') }) })
  for (const permission of ['view', 'edit', 'admin', 'read']) {
    app.get(`/${permission}`, { preHandler: app.permits(permission) }, async () => 'ran')
  }
  const denied = { statusCode: 403, code: 'FST_JWT_SECURITY_FORBIDDEN', error: 'Forbidden', message: 'You do not have permission to perform this action' }
  for (const [url, status] of [['/view', 200], ['/read', 200], ['/edit', 403], ['/admin', 403]] as const) {
    const response = await app.inject({ url, headers: { 'x-user': 'alice' } })
    t.equal(response.statusCode, status, url)
    if (status === 403) {
      t.same(response.json(), denied)
      t.equal(response.headers['www-authenticate'], undefined, '403 carries no challenge')
    } else {
      t.equal(response.body, 'ran')
    }
  }
  const anonymous = await app.inject({ url: '/edit' })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), { statusCode: 401, code: 'FST_JWT_SECURITY_NO_CREDENTIALS', error: 'Unauthorized', message: 'Authentication is required' })
  t.equal(anonymous.headers['www-authenticate'], 'Bearer realm="api"')
  t.equal((await app.inject({ url: '/view' })).statusCode, 200, 'a permission granted to anonymous passes')
})

t.test('a policy that throws or returns garbage in permits is a 500 with a fixed body', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, policy: tablePolicy({ a: 'throw', b: 'garbage' }) })
  app.get('/a', { preHandler: app.permits('a') }, async () => 'ran')
  app.get('/b', { config: { permission: 'b' } }, async () => 'ran')
  for (const url of ['/a', '/b']) {
    const response = await app.inject({ url })
    t.equal(response.statusCode, 500)
    t.same(response.json(), { statusCode: 500, code: 'FST_JWT_SECURITY_POLICY_FAILED', error: 'Internal Server Error', message: 'The security policy failed' })
  }
})

t.test('contexts: the permits option, then config.context, else null; functions may be async', async (t) => {
  const seen: unknown[] = []
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, policy: tablePolicy({ view: true }, seen) })
  const article = { id: 1 }
  app.get('/value', { preHandler: app.permits('view', { context: article }) }, async () => 'ok')
  app.get('/fn/:id', { preHandler: app.permits('view', { context: async (request) => ({ id: (request.params as { id: string }).id }) }) }, async () => 'ok')
  app.get('/config', { config: { permission: 'view', context: article } }, async () => 'ok')
  app.get('/config-fn', { config: { permission: 'view', context: () => 'from config' } }, async () => 'ok')
  app.get('/none', { config: { permission: 'view' } }, async () => 'ok')
  app.get('/has', async (request) => {
    const results = [await request.hasPermission('view'), await request.hasPermission('view', article), await request.hasPermission('edit')]
    return results.map((result) => [result.allowed, result.msg])
  })
  const hasOnRoute = async (request: FastifyRequest): Promise<boolean> => (await request.hasPermission('view')).allowed
  app.get('/has-config', { config: { context: article } }, hasOnRoute)
  app.get('/has-config-fn', { config: { context: () => 'from config' } }, hasOnRoute)
  for (const url of ['/value', '/fn/7', '/config', '/config-fn', '/none']) t.equal((await app.inject({ url })).statusCode, 200)
  t.same(seen, [article, { id: '7' }, article, 'from config', null])
  seen.length = 0
  t.same((await app.inject({ url: '/has' })).json(), [[true, 'the security policy allowed view'], [true, 'the security policy allowed view'], [false, 'the security policy denied edit']])
  t.same(seen, [null, article, null])
  seen.length = 0
  for (const url of ['/has-config', '/has-config-fn']) t.equal((await app.inject({ url })).body, 'true')
  t.same(seen, [article, 'from config'], 'request.hasPermission reads the route\'s config.context, value or function')
})

t.test('a context may be any value but undefined: a string or a number reaches the policy as it is', async (t) => {
  const seen: unknown[] = []
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, policy: tablePolicy({ view: true }, seen) })
  app.get('/option', { preHandler: app.permits('view', { context: 'articles' }) }, async () => 'ok')
  app.get('/config', { config: { permission: 'view', context: 42 } }, async () => 'ok')
  for (const url of ['/option', '/config']) t.equal((await app.inject({ url })).statusCode, 200)
  t.strictSame(seen, ['articles', 42])
})

t.test('the built-in policies apply their default rule to a context that is not an object', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET })
  app.get('/articles', { config: { permission: 'view', context: 'articles' } }, async () => 'ok')
  const headers = (token: string) => ({ authorization: `Bearer ${token}` })
  t.equal((await app.inject({ url: '/articles', headers: headers(await app.createJwtToken('alice', { roles: ['view'] })) })).statusCode, 200)
  t.equal((await app.inject({ url: '/articles', headers: headers(await app.createJwtToken('bob')) })).statusCode, 403)
})

t.test('config.permission runs in onRequest, before the body is parsed, after route hooks already there', async (t) => {
  const order: string[] = []
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, policy: tablePolicy({ edit: false }) })
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => { order.push('parse'); done(null, JSON.parse(body as string)) })
  app.post('/one', { config: { permission: 'edit' }, onRequest: async () => { order.push('own hook') } }, async () => 'ran')
  app.post('/many', { config: { permission: 'edit' }, onRequest: [async () => { order.push('first') }, async () => { order.push('second') }] }, async () => 'ran')
  const response = await app.inject({ method: 'POST', url: '/one', payload: { a: 1 } })
  t.equal(response.statusCode, 401)
  await app.inject({ method: 'POST', url: '/many', payload: { a: 1 } })
  t.same(order, ['own hook', 'first', 'second'], 'the body was never parsed')
})

t.test('an expired token gets its own description and code', async (t) => {
  let now = 1_800_000_000_000
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, expiresIn: 60, now: () => now })
  app.get('/view', { config: { permission: 'view' } }, async () => 'ran')
  const token = await app.createJwtToken('alice', { roles: ['view'] })
  t.equal((await app.inject({ url: '/view', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  now += 60_000
  const expired = await app.inject({ url: '/view', headers: { authorization: `Bearer ${token}` } })
  t.equal(expired.statusCode, 401)
  t.equal(expired.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token expired"')
  t.same(expired.json(), { statusCode: 401, code: 'FST_JWT_SECURITY_TOKEN_EXPIRED', error: 'Unauthorized', message: 'The access token expired' })
})

t.test('defaultPermission is not added to a route that declares its permission with app.permits()', async (t) => {
  const asked: string[] = []
  // rita may see reports, and nothing else: she lacks the default permission.
  const policy: SecurityPolicy<string> = {
    identity: (request) => (request.headers['x-user'] as string | undefined) ?? null,
    permits: (request, context, permission) => {
      asked.push(`${request.url} ${permission}`)
      return request.headers['x-user'] === 'rita' && permission === 'reports'
    },
    remember: () => {},
    forget: () => {}
  }
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, policy, defaultPermission: 'view' })
  app.get('/pre-handler', { preHandler: app.permits('reports') }, async () => 'ran')
  app.get('/on-request', { onRequest: [async () => {}, app.permits('reports')] }, async () => 'ran')
  app.get('/implicit', async () => 'ran')
  const rita = { 'x-user': 'rita' }
  for (const url of ['/pre-handler', '/on-request']) t.equal((await app.inject({ url, headers: rita })).statusCode, 200, `${url}: the route's own permission suffices`)
  t.equal((await app.inject({ url: '/implicit', headers: rita })).statusCode, 403, 'a route without one requires the default, which rita lacks')
  t.same(asked, ['/pre-handler reports', '/on-request reports', '/implicit view'], 'the default permission was never asked on the routes with app.permits()')
})

t.test('permission names must be strings', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET })
  t.throws(() => app.permits(''), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: 'Invalid option "permission": app.permits() needs a permission name' })
  t.throws(() => app.permits(3 as unknown as string), { code: 'FST_JWT_SECURITY_INVALID_OPTION' })
  t.throws(() => app.get('/x', { config: { permission: 3 as unknown as string } }, async () => 'x'), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: 'Invalid option "config.permission": route /x: expected a string' })
})

t.test('RFC 6750 challenges for a scheme and realm', async (t) => {
  const { withError, ...challenges } = buildChallenges('Bearer', 'api')
  t.same(challenges, {
    bare: 'Bearer realm="api"',
    invalidToken: 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"',
    expired: 'Bearer realm="api", error="invalid_token", error_description="The access token expired"',
    invalidRequest: 'Bearer realm="api", error="invalid_request", error_description="The authorization request is malformed"',
    dpop: null
  })
  t.equal(withError('error="insufficient_scope", scope="read"'), 'Bearer realm="api", error="insufficient_scope", scope="read"')
  t.ok(Object.isFrozen(buildChallenges('Bearer', 'api')))
})

t.test('with a resource metadata URL, every 401 challenge names it (RFC 9728 §5.1); the 400 does not', async (t) => {
  const metadata = 'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"'
  const { withError, ...challenges } = buildChallenges('JWT', 'api', 'https://api.example.com/.well-known/oauth-protected-resource')
  t.same(challenges, {
    bare: `JWT realm="api", ${metadata}`,
    invalidToken: `JWT realm="api", error="invalid_token", error_description="The access token is invalid", ${metadata}`,
    expired: `JWT realm="api", error="invalid_token", error_description="The access token expired", ${metadata}`,
    invalidRequest: 'JWT realm="api", error="invalid_request", error_description="The authorization request is malformed"',
    dpop: null
  })
  t.equal(withError('error="insufficient_scope", scope="read"'), `JWT realm="api", error="insufficient_scope", scope="read", ${metadata}`)
})

t.test('with DPoP, the DPoP challenges carry the proof algorithms and resource_metadata', async (t) => {
  const metadata = 'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"'
  const { dpop } = buildChallenges('Bearer', 'api', 'https://api.example.com/.well-known/oauth-protected-resource', { algs: 'ES256 EdDSA', offersBearer: false, nonce: () => 'n' })
  const { nonce, withError: dpopWithError, ...strings } = dpop as NonNullable<typeof dpop>
  t.same(strings, {
    bare: `DPoP realm="api", algs="ES256 EdDSA", ${metadata}`,
    invalidToken: `DPoP realm="api", error="invalid_token", error_description="The access token is invalid", algs="ES256 EdDSA", ${metadata}`,
    expired: `DPoP realm="api", error="invalid_token", error_description="The access token expired", algs="ES256 EdDSA", ${metadata}`,
    invalidProof: `DPoP realm="api", error="invalid_dpop_proof", error_description="The DPoP proof is invalid", algs="ES256 EdDSA", ${metadata}`,
    useNonce: `DPoP realm="api", error="use_dpop_nonce", error_description="Resend the request with a proof that carries the DPoP-Nonce header's value", algs="ES256 EdDSA", ${metadata}`,
    offersBearer: false
  })
  t.equal(nonce(), 'n')
  t.equal(dpopWithError('error="insufficient_scope", scope="read"'), `DPoP realm="api", error="insufficient_scope", scope="read", algs="ES256 EdDSA", ${metadata}`)
  t.ok(Object.isFrozen(dpop))
})

t.test('a scheme that is not an HTTP token is refused', async (t) => {
  t.throws(() => buildChallenges('Bearer realm', 'api'), { code: 'FST_JWT_SECURITY_INVALID_OPTION' })
  t.throws(() => buildChallenges('', 'api'), { code: 'FST_JWT_SECURITY_INVALID_OPTION' })
})
