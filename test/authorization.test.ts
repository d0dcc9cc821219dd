import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import t from 'tap'
import jwtSecurity, {
  ACLAllowed, ACLDenied, ALL_PERMISSIONS, Allow, Authenticated, Deny, DENY_ALL, Everyone, NO_PERMISSION_REQUIRED,
  type ACL, type JwtSecurityOptions, type Resource
} from '../lib/index.js'
import { SECRET } from './helpers/app.js'

const BARE = 'Bearer realm="api"'

// The cookbook's RootACL, with principals from a roles claim mapped by the callback (role: prefix).
class Root implements Resource {
  __acl__: ACL = [[Allow, 'role:admin', ALL_PERMISSIONS], [Allow, 'role:reports', 'reports'], [Allow, Authenticated, 'view']]
}
const rolesFromClaims = (_userid: string, request: FastifyRequest) =>
  ((request.jwtClaims?.roles ?? []) as string[]).map((role) => `role:${role}`)

interface Article extends Resource { id: string, owner: string }
const articles: Record<string, { owner: string, locked?: boolean }> = { 1: { owner: 'alice' }, 2: { owner: 'bob' }, 3: { owner: 'alice', locked: true } }
function loadArticle (id: string, parent: Resource): Article | null {
  const found = articles[id]
  if (found === undefined) return null
  const acl: ACL = found.locked === true ? [DENY_ALL] : [[Allow, found.owner, ['edit', 'delete']], [Deny, Everyone, 'delete']]
  return { id, owner: found.owner, __acl__: acl, __parent__: parent, __name__: id }
}

async function buildApp (options: Partial<JwtSecurityOptions> = {}, routes: (app: FastifyInstance) => void = () => {}, app = Fastify()) {
  await app.register(jwtSecurity, { secret: SECRET, rootFactory: () => new Root(), callback: rolesFromClaims, ...options })
  routes(app)
  await app.ready()
  return app
}

const as = async (app: FastifyInstance, userid: string, roles: string[]) => ({ authorization: `Bearer ${await app.createJwtToken(userid, { roles })}` })

t.test('the cookbook RootACL: admin gets everything, reports only reports, any user view, anonymous 401', async (t) => {
  const app = await buildApp({}, (app) => {
    for (const permission of ['view', 'reports', 'edit', 'anything']) {
      app.get(`/${permission}`, { config: { permission } }, async (request) => ({ userid: request.authenticatedUserid }))
    }
  })
  t.teardown(() => app.close())
  const users = { carol: ['admin'], rita: ['reports'], uma: [] as string[] }
  const expected: Record<string, Record<string, number>> = {
    carol: { view: 200, reports: 200, edit: 200, anything: 200 },
    rita: { view: 200, reports: 200, edit: 403, anything: 403 },
    uma: { view: 200, reports: 403, edit: 403, anything: 403 }
  }
  for (const [userid, roles] of Object.entries(users)) {
    const headers = await as(app, userid, roles)
    for (const [permission, status] of Object.entries(expected[userid] as Record<string, number>)) {
      t.equal((await app.inject({ url: `/${permission}`, headers })).statusCode, status, `${userid} ${permission}`)
    }
  }
  for (const permission of ['view', 'reports']) {
    const anonymous = await app.inject({ url: `/${permission}` })
    t.equal(anonymous.statusCode, 401, 'anonymous denials are 401')
    t.equal(anonymous.headers['www-authenticate'], BARE)
  }
})

t.test('per-route contexts with parents: owners edit their articles, DENY_ALL stops inheritance, admin inherits from the root', async (t) => {
  const app = await buildApp({}, (app) => {
    const articleContext = (request: FastifyRequest) => loadArticle((request.params as { id: string }).id, new Root())
    app.put('/articles/:id', { preHandler: app.permits('edit', { context: articleContext }) }, async () => 'edited')
    app.delete('/articles/:id', { config: { permission: 'delete', context: articleContext } }, async () => 'deleted')
  })
  t.teardown(() => app.close())
  const alice = await as(app, 'alice', [])
  const bob = await as(app, 'bob', [])
  const carol = await as(app, 'carol', ['admin'])
  const cases: Array<[string, string, Record<string, string>, number]> = [
    ['PUT', '/articles/1', alice, 200],
    ['PUT', '/articles/1', bob, 403],
    ['PUT', '/articles/2', bob, 200],
    ['PUT', '/articles/1', carol, 200],
    ['PUT', '/articles/3', alice, 403],
    ['PUT', '/articles/3', carol, 403],
    ['DELETE', '/articles/1', alice, 200],
    ['DELETE', '/articles/1', carol, 403],
    ['PUT', '/articles/1', {}, 401]
  ]
  for (const [method, url, headers, status] of cases) {
    t.equal((await app.inject({ method: method as 'PUT', url, headers })).statusCode, status, `${method} ${url} ${headers.authorization === undefined ? 'anonymous' : ''}`)
  }
})

t.test('request.hasPermission returns the ACL result with its fields', async (t) => {
  const app = await buildApp({}, (app) => {
    app.get('/check/:id', async (request) => {
      const article = loadArticle((request.params as { id: string }).id, new Root())
      const onArticle = await request.hasPermission('edit', article)
      const onRoot = await request.hasPermission('reports')
      return {
        onArticle: { type: onArticle.constructor.name, ace: (onArticle as ACLAllowed).ace, context: ((onArticle as ACLAllowed).context as Article).id, msg: onArticle.msg },
        onRoot: { type: onRoot.constructor.name, ace: (onRoot as ACLDenied).ace, msg: onRoot.msg }
      }
    })
  })
  t.teardown(() => app.close())
  const body = (await app.inject({ url: '/check/1', headers: await as(app, 'alice', []) })).json()
  t.same(body.onArticle, {
    type: 'ACLAllowed',
    ace: ['Allow', 'alice', ['edit', 'delete']],
    context: '1',
    msg: "ACLAllowed permission 'edit' via ACE [ 'Allow', 'alice', [ 'edit', 'delete' ] ] in ACL [ [ 'Allow', 'alice', [ 'edit', 'delete' ] ], [ 'Deny', 'system.Everyone', 'delete' ] ] on context <Object '1'> for principals [ 'system.Everyone', 'system.Authenticated', 'alice' ]"
  })
  t.same(body.onRoot, {
    type: 'ACLDenied',
    ace: '<default deny>',
    msg: "ACLDenied permission 'reports' via ACE '<default deny>' in ACL [ [ 'Allow', 'role:admin', ALL_PERMISSIONS ], [ 'Allow', 'role:reports', 'reports' ], [ 'Allow', 'system.Authenticated', 'view' ] ] on context <Root> for principals [ 'system.Everyone', 'system.Authenticated', 'alice' ]"
  })
})

t.test('without any ACL the default rule stays: a principal equal to the permission', async (t) => {
  const app = await buildApp({ rootFactory: undefined, callback: undefined }, (app) => {
    app.get('/view', { config: { permission: 'view' } }, async () => 'ok')
    app.get('/plain', { config: { permission: 'view', context: { name: 'no ACL here' } } }, async () => 'ok')
  })
  t.teardown(() => app.close())
  for (const url of ['/view', '/plain']) {
    t.equal((await app.inject({ url, headers: await as(app, 'alice', ['view']) })).statusCode, 200)
    t.equal((await app.inject({ url, headers: await as(app, 'alice', ['edit']) })).statusCode, 403)
  }
})

t.test('contexts: the permits option, then config.context, then the root factory, memoised per request', async (t) => {
  let rootCalls = 0
  const app = await buildApp({
    rootFactory: async () => { rootCalls++; return new Root() }
  }, (app) => {
    const open: Resource = { __acl__: [[Allow, Everyone, 'view']] }
    app.get('/option', { preHandler: app.permits('view', { context: open }), config: { context: { __acl__: [DENY_ALL] } } }, async () => 'ok')
    app.get('/config', { config: { permission: 'view', context: async () => open } }, async () => 'ok')
    app.get('/root', { config: { permission: 'view' } }, async (request) => {
      await request.hasPermission('reports')
      await request.hasPermission('edit')
      return 'ok'
    })
  })
  t.teardown(() => app.close())
  t.equal((await app.inject({ url: '/option' })).statusCode, 200, 'the permits option wins over config.context')
  t.equal((await app.inject({ url: '/config' })).statusCode, 200, 'config.context functions may be async')
  t.equal(rootCalls, 0)
  t.equal((await app.inject({ url: '/root', headers: await as(app, 'alice', []) })).statusCode, 200)
  t.equal(rootCalls, 1, 'the root factory runs once per request, however many checks')
})

t.test('a root factory or context that throws is a 500 with a fixed body', async (t) => {
  const app = await buildApp({ rootFactory: () => { throw new Error('db down') } }, (app) => {
    app.get('/root', { config: { permission: 'view' } }, async () => 'ok')
    app.get('/context', { preHandler: app.permits('view', { context: () => { throw new Error('x') } }) }, async () => 'ok')
    app.get('/bad-acl', { config: { permission: 'view', context: { __acl__: 'nope' } } }, async () => 'ok')
  })
  t.teardown(() => app.close())
  for (const url of ['/root', '/context', '/bad-acl']) {
    const response = await app.inject({ url })
    t.equal(response.statusCode, 500, url)
    t.same(response.json(), { statusCode: 500, code: 'FST_JWT_SECURITY_POLICY_FAILED', error: 'Internal Server Error', message: 'The security policy failed' })
  }
})

t.test('defaultPermission protects every route that declares none; NO_PERMISSION_REQUIRED opts out; 404 and error handlers are exempt', async (t) => {
  const app = await buildApp({ defaultPermission: 'view' }, (app) => {
    app.get('/implicit', async () => 'ok')
    app.get('/own-hooks', { onRequest: async () => {}, preHandler: [async () => {}] }, async () => 'ok')
    app.get('/open', { config: { permission: NO_PERMISSION_REQUIRED } }, async () => 'open')
    app.get('/reports', { config: { permission: 'reports' } }, async () => 'reports')
    app.get('/hooked', { preHandler: app.permits('reports') }, async () => 'hooked')
    app.get('/fails', { config: { permission: NO_PERMISSION_REQUIRED } }, async () => { throw new Error('boom') })
    app.register(async (child) => { child.get('/child', async () => 'child') })
    app.setErrorHandler(async (error, request, reply) => reply.code((error as { statusCode?: number }).statusCode ?? 500).send({ handled: true }))
  })
  t.teardown(() => app.close())
  const uma = await as(app, 'uma', [])
  const rita = await as(app, 'rita', ['reports'])
  t.equal((await app.inject({ url: '/implicit' })).statusCode, 401)
  t.equal((await app.inject({ url: '/implicit', headers: uma })).statusCode, 200)
  t.equal((await app.inject({ url: '/child' })).statusCode, 401, 'routes of child contexts are covered')
  t.equal((await app.inject({ url: '/own-hooks' })).statusCode, 401, 'hooks of the route\'s own do not declare a permission')
  t.equal((await app.inject({ url: '/open' })).body, 'open')
  t.equal((await app.inject({ url: '/reports', headers: uma })).statusCode, 403, 'a declared permission replaces the default')
  t.equal((await app.inject({ url: '/reports', headers: rita })).statusCode, 200)
  t.equal((await app.inject({ url: '/hooked', headers: rita })).statusCode, 200, 'an app.permits hook counts as a declaration')
  t.equal((await app.inject({ url: '/hooked', headers: uma })).statusCode, 403)
  const missing = await app.inject({ url: '/nowhere' })
  t.equal(missing.statusCode, 404, 'the 404 handler is not subject to the default permission')
  t.same((await app.inject({ url: '/fails' })).json(), { handled: true }, 'the error handler runs without a permission')
  t.equal((await app.inject({ method: 'HEAD', url: '/implicit' })).statusCode, 401, 'HEAD routes Fastify adds are covered')
  t.equal((await app.inject({ method: 'HEAD', url: '/implicit', headers: uma })).statusCode, 200)
})

t.test('config.permissionHook: preHandler lets the context read the parsed body', async (t) => {
  const order: string[] = []
  const app = await buildApp({}, (app) => {
    app.addHook('preValidation', async () => { order.push('preValidation') })
    const fromBody = (request: FastifyRequest) => {
      order.push('context')
      return loadArticle((request.body as { id: string }).id, new Root())
    }
    app.post('/edit', { config: { permission: 'edit', context: fromBody, permissionHook: 'preHandler' } }, async () => 'edited')
  })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/edit', payload: { id: '1' }, headers: await as(app, 'alice', []) })
  t.equal(response.body, 'edited')
  t.same(order, ['preValidation', 'context'], 'the check ran after the body was parsed and validated')
  t.equal((await app.inject({ method: 'POST', url: '/edit', payload: { id: '2' }, headers: await as(app, 'alice', []) })).statusCode, 403)
  const unready = Fastify()
  await unready.register(jwtSecurity, { secret: SECRET })
  t.throws(() => unready.get('/bad', { config: { permission: 'edit', permissionHook: 'onSend' as 'onRequest' } }, async () => 'x'),
    { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: "Invalid option \"config.permissionHook\": route /bad: expected 'onRequest' or 'preHandler'" })
})

t.test('debugAuthorization logs every decision with route, permission, principals and msg, never the token', async (t) => {
  const lines: string[] = []
  const app = await buildApp({ debugAuthorization: true }, (app) => {
    app.get('/reports', { config: { permission: 'reports' } }, async () => 'ok')
  }, Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } }))
  t.teardown(() => app.close())
  const headers = await as(app, 'rita', ['reports'])
  await app.inject({ url: '/reports', headers })
  await app.inject({ url: '/reports' })
  const decisions = lines.map((line) => JSON.parse(line)).filter((entry) => entry.authorization !== undefined)
  t.equal(decisions.length, 2)
  t.same(decisions[0].authorization, { method: 'GET', route: '/reports', permission: 'reports', userid: 'rita', principals: ['system.Everyone', 'system.Authenticated', 'rita', 'role:reports'], allowed: true })
  t.match(decisions[0].msg, /^ACLAllowed permission 'reports' via ACE \[ 'Allow', 'role:reports', 'reports' \]/)
  t.same(decisions[1].authorization, { method: 'GET', route: '/reports', permission: 'reports', userid: null, principals: null, allowed: false })
  t.match(decisions[1].msg, /^ACLDenied permission 'reports' via ACE '<default deny>'/)
  t.notOk(lines.join('').includes(headers.authorization.slice(7)), 'the token is not logged')
  const quiet: string[] = []
  const off = await buildApp({}, (app) => { app.get('/x', { config: { permission: 'view' } }, async () => 'ok') },
    Fastify({ logger: { level: 'info', stream: { write: (line: string) => { quiet.push(line) } } } }))
  t.teardown(() => off.close())
  await off.inject({ url: '/x' })
  t.notOk(quiet.join('').includes('"authorization"'), 'off by default')
})

t.test('authorization options are validated at register', async (t) => {
  const cases: Array<[object, RegExp]> = [
    [{ rootFactory: 'Root' }, /"rootFactory": expected a function/],
    [{ defaultPermission: '' }, /"defaultPermission": expected a non-empty string/],
    [{ defaultPermission: 3 }, /"defaultPermission"/],
    [{ debugAuthorization: 'yes' }, /"debugAuthorization": expected true or false/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    app.register(jwtSecurity, { secret: SECRET, ...options } as JwtSecurityOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_JWT_SECURITY_INVALID_OPTION', message })
  }
})
