import swagger, { type SwaggerOptions } from '@fastify/swagger'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import jwtSecurity, {
  JwtCookiePolicy, JwtHeaderPolicy, NO_PERMISSION_REQUIRED, PolicyChain, type JwtSecurityOptions, type SecurityPolicy, type SecurityScheme
} from '../lib/index.js'
import { documentSecurity } from '../lib/openapi.js'
import { SECRET } from './helpers/app.js'

// The OpenAPI document @fastify/swagger generates gets the policy's security schemes and, for
// every route with a permission check, a `security` requirement naming its permissions.

type Json = Record<string, any>

const MARK = 'x-fastify-jwt-security'
const ORDERS = ['swagger first', 'plugin first'] as const
type Order = typeof ORDERS[number]

const OPENAPI: SwaggerOptions = { openapi: { info: { title: 'test', version: '1.0.0' } } }

const bearerAuth = { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }
const cookieAuth = {
  type: 'apiKey',
  in: 'cookie',
  name: '__Host-session',
  description: 'The session cookie set at login; unsafe requests (such as POST) must also send the x-csrf-token header'
}
const jwtHeaderAuth = { type: 'apiKey', in: 'header', name: 'Authorization', description: 'A JWT, sent as "Authorization: JWT <token>"' }
const bearerApiKey = { type: 'apiKey', in: 'header', name: 'Authorization', description: 'A JWT, sent as "Authorization: Bearer <token>"' }

/** Registers @fastify/swagger and the plugin in `order` (without waiting, as apps often do), then the routes. */
async function buildApp (
  order: Order,
  options: Partial<JwtSecurityOptions>,
  declare: (app: FastifyInstance) => void,
  swaggerOptions: SwaggerOptions = OPENAPI
): Promise<FastifyInstance> {
  const app = Fastify()
  if (order === 'swagger first') app.register(swagger, swaggerOptions)
  app.register(jwtSecurity, { secret: SECRET, ...options } as JwtSecurityOptions)
  if (order === 'plugin first') app.register(swagger, swaggerOptions)
  app.register(async (app) => { declare(app) })
  await app.ready()
  return app
}

const documentOf = (app: FastifyInstance): Json => app.swagger() as unknown as Json
const operation = (document: Json, path: string, method = 'get'): Json => document.paths[path][method]

t.test('header policy: bearerAuth, and a security entry for config.permission and app.permits() hooks', async (t) => {
  for (const order of ORDERS) {
    const schema = { body: { type: 'object', required: ['title'], properties: { title: { type: 'string' } } } }
    const app = await buildApp(order, {}, (app) => {
      app.get('/public', async () => 'public')
      app.get('/config', { config: { permission: 'edit' } }, async () => 'config')
      app.get('/hook', { preHandler: app.permits('view') }, async () => 'hook')
      app.get('/on-request', { onRequest: [app.permits('view')] }, async () => 'on-request')
      app.get('/both', { config: { permission: 'edit' }, preHandler: app.permits('view') }, async () => 'both')
      app.post('/articles', { schema, config: { permission: 'edit' } }, async () => 'saved')
      app.get('/own', { schema: { security: [{ apiKey: [] }] }, config: { permission: 'edit' } }, async () => 'own')
    }, { openapi: { ...OPENAPI.openapi, components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } } } })
    const document = documentOf(app)
    t.strictSame(document.components.securitySchemes, {
      apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
      bearerAuth
    }, `${order}: the schemes`)
    t.equal(operation(document, '/public').security, undefined, `${order}: no permission, no security`)
    t.strictSame(operation(document, '/config').security, [{ bearerAuth: ['edit'] }], `${order}: config.permission`)
    t.strictSame(operation(document, '/hook').security, [{ bearerAuth: ['view'] }], `${order}: app.permits() in preHandler`)
    t.strictSame(operation(document, '/on-request').security, [{ bearerAuth: ['view'] }], `${order}: app.permits() in onRequest`)
    t.strictSame(operation(document, '/both').security, [{ bearerAuth: ['edit', 'view'] }], `${order}: every permission checked`)
    t.strictSame(operation(document, '/articles', 'post').security, [{ bearerAuth: ['edit'] }], `${order}: a route with a schema`)
    t.strictSame(operation(document, '/articles', 'post').requestBody.content['application/json'].schema.required, ['title'], 'its schema is documented')
    t.strictSame(operation(document, '/own').security, [{ apiKey: [] }], `${order}: the route's own security is kept`)
    t.notOk(JSON.stringify(document).includes(MARK), `${order}: no mark is left`)
    t.equal(app.swagger(), document, 'the document is generated once, as @fastify/swagger caches it')
    t.strictSame(operation(app.swagger() as unknown as Json, '/config').security, [{ bearerAuth: ['edit'] }])

    const token = await app.createJwtToken('alice', { roles: ['edit'] })
    const invalid = await app.inject({ method: 'POST', url: '/articles', headers: { authorization: `Bearer ${token}` }, payload: {} })
    t.equal(invalid.statusCode, 400, 'the route schema still validates')
    t.equal((await app.inject({ method: 'POST', url: '/articles', payload: { title: 'x' } })).statusCode, 401, 'and the check still runs')
  }
})

t.test('defaultPermission: routes without a check of their own get it; NO_PERMISSION_REQUIRED gets none', async (t) => {
  for (const order of ORDERS) {
    const app = await buildApp(order, { defaultPermission: 'view' }, (app) => {
      app.get('/default', async () => 'default')
      app.get('/open', { config: { permission: NO_PERMISSION_REQUIRED } }, async () => 'open')
      app.get('/explicit', { config: { permission: 'edit' } }, async () => 'explicit')
      app.get('/hooked', { preHandler: app.permits('admin') }, async () => 'hooked')
    })
    const document = documentOf(app)
    t.strictSame(document.components.securitySchemes, { bearerAuth }, order)
    t.strictSame(operation(document, '/default').security, [{ bearerAuth: ['view'] }], `${order}: defaultPermission`)
    t.equal(operation(document, '/open').security, undefined, `${order}: NO_PERMISSION_REQUIRED`)
    t.strictSame(operation(document, '/explicit').security, [{ bearerAuth: ['edit'] }], `${order}: config.permission replaces the default`)
    t.strictSame(operation(document, '/hooked').security, [{ bearerAuth: ['admin'] }], `${order}: so does an app.permits() hook`)
  }
})

t.test('cookie policy: cookieAuth, an API key in a cookie', async (t) => {
  for (const order of ORDERS) {
    const app = await buildApp(order, { policy: new JwtCookiePolicy() }, (app) => {
      app.post('/articles', { config: { permission: 'edit' } }, async () => 'saved')
    })
    const document = documentOf(app)
    t.strictSame(document.components.securitySchemes, { cookieAuth }, order)
    t.strictSame(operation(document, '/articles', 'post').security, [{ cookieAuth: ['edit'] }], order)
  }
  const app = await buildApp('plugin first', { policy: new JwtCookiePolicy({ cookieName: 'sid', secure: 'auto', csrf: false }) }, (app) => {
    app.get('/me', { config: { permission: 'view' } }, async () => 'me')
  })
  t.strictSame(documentOf(app).components.securitySchemes, {
    cookieAuth: { type: 'apiKey', in: 'cookie', name: 'sid', description: 'The session cookie set at login' }
  }, 'without the CSRF defence')
})

t.test('PolicyChain: one requirement per policy, as alternatives', async (t) => {
  for (const order of ORDERS) {
    const app = await buildApp(order, { policy: new PolicyChain([new JwtHeaderPolicy(), new JwtCookiePolicy()]) }, (app) => {
      app.get('/articles', { preHandler: app.permits('view') }, async () => 'articles')
    })
    const document = documentOf(app)
    t.strictSame(document.components.securitySchemes, { bearerAuth, cookieAuth }, order)
    t.strictSame(operation(document, '/articles').security, [{ bearerAuth: ['view'] }, { cookieAuth: ['view'] }], `${order}: header or cookie`)
  }
})

t.test('header policies with another scheme or a custom header: an API key in the header', async (t) => {
  const jwt = await buildApp('swagger first', { policy: new JwtHeaderPolicy({ authType: 'JWT' }) }, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  })
  t.strictSame(documentOf(jwt).components.securitySchemes, { headerAuth: jwtHeaderAuth }, "authType 'JWT'")
  t.strictSame(operation(documentOf(jwt), '/articles').security, [{ headerAuth: ['view'] }])

  const custom = await buildApp('plugin first', { policy: new JwtHeaderPolicy({ header: 'X-Auth-Token' }) }, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  })
  t.strictSame(documentOf(custom).components.securitySchemes, {
    headerAuth: { type: 'apiKey', in: 'header', name: 'x-auth-token', description: 'A JWT, sent bare in the x-auth-token header' }
  }, 'a custom header')

  const chain = new PolicyChain([
    new JwtHeaderPolicy(), new JwtHeaderPolicy({ authType: 'bearer' }), new JwtHeaderPolicy({ authType: 'JWT' }), new JwtHeaderPolicy({ header: 'X-Token' })
  ])
  const several = await buildApp('plugin first', { policy: chain }, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  })
  const document = documentOf(several)
  t.strictSame(document.components.securitySchemes, {
    bearerAuth,
    headerAuth: jwtHeaderAuth,
    headerAuth2: { type: 'apiKey', in: 'header', name: 'x-token', description: 'A JWT, sent bare in the x-token header' }
  }, 'one scheme per distinct transport, under distinct names')
  t.strictSame(operation(document, '/articles').security, [{ bearerAuth: ['view'] }, { headerAuth: ['view'] }, { headerAuth2: ['view'] }])
})

t.test('DPoP: a dpopAuth scheme next to bearerAuth, as an alternative on every checked route', async (t) => {
  const description = 'A DPoP-bound JWT, sent as "Authorization: DPoP <token>" with a DPoP proof header of the key it is bound to (RFC 9449)'
  for (const order of ORDERS) {
    const app = await buildApp(order, { dpop: { publicOrigin: 'https://api.example.com' } }, (app) => {
      app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
    })
    const document = documentOf(app)
    t.strictSame(document.components.securitySchemes, { bearerAuth, dpopAuth: { type: 'http', scheme: 'DPoP', description } }, order)
    t.strictSame(operation(document, '/articles').security, [{ bearerAuth: ['view'] }, { dpopAuth: ['view'] }])
  }
  const swagger2 = await buildApp('swagger first', { dpop: { publicOrigin: 'https://api.example.com' } }, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  }, { swagger: { info: { title: 'test', version: '1.0.0' } } })
  t.strictSame((documentOf(swagger2) as Json).securityDefinitions.dpopAuth, { type: 'apiKey', in: 'header', name: 'Authorization', description })
  const off = await buildApp('plugin first', { dpop: { publicOrigin: 'https://api.example.com', mode: 'off' } }, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  })
  t.strictSame(documentOf(off).components.securitySchemes, { bearerAuth }, 'no scheme while no token may use DPoP')
})

t.test('a scheme of the same name in the @fastify/swagger options is kept', async (t) => {
  const own = { type: 'http' as const, scheme: 'bearer', description: 'Our tokens' }
  const app = await buildApp('plugin first', {}, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  }, { openapi: { ...OPENAPI.openapi, components: { securitySchemes: { bearerAuth: own } } } })
  const document = documentOf(app)
  t.strictSame(document.components.securitySchemes, { bearerAuth: own })
  t.strictSame(operation(document, '/articles').security, [{ bearerAuth: ['view'] }])
})

t.test('a security entry given by the transform of @fastify/swagger is kept, and the scheme is then not added', async (t) => {
  const app = await buildApp('swagger first', {}, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  }, {
    openapi: { ...OPENAPI.openapi, components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } } },
    transform: ({ schema, url }) => ({ schema: { ...schema, security: [{ apiKey: [] }] }, url })
  })
  const document = documentOf(app)
  t.strictSame(operation(document, '/articles').security, [{ apiKey: [] }])
  t.strictSame(document.components.securitySchemes, { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } })
  t.notOk(JSON.stringify(document).includes(MARK))
})

t.test('OpenAPI 3.1 and 3.2 documents, operations in additionalOperations included', async (t) => {
  const app = Fastify()
  app.addHttpMethod('PROPFIND')
  await app.register(swagger, { openapi: { ...OPENAPI.openapi, openapi: '3.2.0' } })
  await app.register(jwtSecurity, { secret: SECRET })
  app.route({ method: 'PROPFIND', url: '/files', config: { permission: 'view' }, handler: async () => 'files' })
  app.route({ method: ['GET', 'POST'], url: '/items', config: { permission: 'edit' }, handler: async () => 'items' })
  await app.ready()
  const document = documentOf(app)
  t.strictSame(document.paths['/files'].additionalOperations.PROPFIND.security, [{ bearerAuth: ['view'] }], 'PROPFIND')
  t.strictSame(operation(document, '/items').security, [{ bearerAuth: ['edit'] }], 'GET')
  t.strictSame(operation(document, '/items', 'post').security, [{ bearerAuth: ['edit'] }], 'POST')

  const v31 = await buildApp('plugin first', {}, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  }, { openapi: { ...OPENAPI.openapi, openapi: '3.1.0' } })
  t.strictSame(documentOf(v31).components.securitySchemes, { bearerAuth }, '3.1')
  t.strictSame(operation(documentOf(v31), '/articles').security, [{ bearerAuth: ['view'] }])
})

t.test('Swagger 2.0: securityDefinitions; a cookie cannot be described', async (t) => {
  const SWAGGER: SwaggerOptions = { swagger: { info: { title: 'test', version: '1.0.0' } } }
  for (const order of ORDERS) {
    const app = await buildApp(order, { policy: new PolicyChain([new JwtHeaderPolicy(), new JwtCookiePolicy()]) }, (app) => {
      app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
    }, SWAGGER)
    const document = documentOf(app)
    t.equal(document.swagger, '2.0')
    t.strictSame(document.securityDefinitions, { bearerAuth: bearerApiKey }, `${order}: the header as an API key`)
    t.strictSame(operation(document, '/articles').security, [{ bearerAuth: ['view'] }], `${order}: the header only`)
  }
  const cookieOnly = await buildApp('swagger first', { policy: new JwtCookiePolicy() }, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  }, { swagger: { ...SWAGGER.swagger, securityDefinitions: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } } })
  const document = documentOf(cookieOnly)
  t.equal(operation(document, '/articles').security, undefined, 'a cookie policy alone: no security')
  t.strictSame(document.securityDefinitions, { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } }, 'the definitions given are unchanged')
  t.notOk(JSON.stringify(document).includes(MARK))
})

t.test('YAML: the same document, as JSON text (a YAML 1.2 document) once the plugin changed it', async (t) => {
  const app = await buildApp('plugin first', {}, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  })
  const yaml = app.swagger({ yaml: true })
  t.strictSame(JSON.parse(yaml), JSON.parse(JSON.stringify(documentOf(app))))
  t.ok(yaml.includes('"bearerAuth": [\n'))

  const untouched = await buildApp('swagger first', {}, (app) => {
    app.get('/public', async () => 'public')
  })
  t.match(untouched.swagger({ yaml: true }), /^openapi: 3\.0\.3\n/, 'a document without permissions: the YAML of @fastify/swagger')
  t.equal(documentOf(untouched).components.securitySchemes, undefined, 'and no scheme')
})

t.test('a schema shared by routes with different permissions is not changed', async (t) => {
  const schema = { querystring: { type: 'object', properties: { q: { type: 'string' } } } }
  const app = await buildApp('swagger first', {}, (app) => {
    app.get('/a', { schema, config: { permission: 'a' } }, async () => 'a')
    app.get('/b', { schema, config: { permission: 'b' } }, async () => 'b')
  })
  const document = documentOf(app)
  t.strictSame(operation(document, '/a').security, [{ bearerAuth: ['a'] }])
  t.strictSame(operation(document, '/b').security, [{ bearerAuth: ['b'] }])
  t.strictSame(Object.keys(schema), ['querystring'], 'the shared schema has no mark')
})

t.test('two registrations in two scopes: each documents its own routes, with its own scheme', async (t) => {
  const app = Fastify()
  await app.register(swagger, OPENAPI)
  await app.register(async (api) => {
    await api.register(jwtSecurity, { secret: SECRET })
    api.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  }, { prefix: '/api' })
  await app.register(async (web) => {
    await web.register(jwtSecurity, { secret: SECRET, policy: new JwtCookiePolicy() })
    web.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  }, { prefix: '/web' })
  await app.ready()
  const document = documentOf(app)
  t.strictSame(document.components.securitySchemes, { bearerAuth, cookieAuth })
  t.strictSame(operation(document, '/api/articles').security, [{ bearerAuth: ['view'] }])
  t.strictSame(operation(document, '/web/articles').security, [{ cookieAuth: ['view'] }])
})

t.test('without @fastify/swagger: the plugin works and route schemas are left alone', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET })
  app.get('/articles', { schema: { querystring: { type: 'object' } }, config: { permission: 'view' } }, async (request) => Object.keys(request.routeOptions.schema ?? {}))
  await app.ready()
  t.equal(app.hasDecorator('swagger'), false)
  t.equal((await app.inject({ url: '/articles' })).statusCode, 401)
  const token = await app.createJwtToken('alice', { roles: ['view'] })
  const response = await app.inject({ url: '/articles', headers: { authorization: `Bearer ${token}` } })
  t.strictSame(response.json(), ['querystring'], 'no mark in the schema')
})

t.test('a swagger decorator that is not @fastify/swagger\'s is left alone', async (t) => {
  const app = Fastify()
  const own = (): string => 'own'
  app.decorate('swagger', own)
  await app.register(jwtSecurity, { secret: SECRET })
  app.get('/articles', { config: { permission: 'view' } }, async (request) => Object.keys(request.routeOptions.schema ?? {}))
  await app.ready()
  t.equal(app.swagger, own as unknown)
  const token = await app.createJwtToken('alice', { roles: ['view'] })
  t.strictSame((await app.inject({ url: '/articles', headers: { authorization: `Bearer ${token}` } })).json(), [], 'no mark')
})

t.test('@fastify/swagger under another decorator name: not recognised, the mark stays an extension', async (t) => {
  const app = Fastify()
  app.decorate('swagger', 'not a generator' as never)
  await app.register(swagger, { ...OPENAPI, decorator: 'openapiDocument' })
  await app.register(jwtSecurity, { secret: SECRET })
  app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  await app.ready()
  t.equal(app.swagger, 'not a generator' as unknown, 'the value is left alone')
  const document = (app as unknown as { openapiDocument: () => Json }).openapiDocument()
  t.equal(operation(document, '/articles').security, undefined)
  t.strictSame(operation(document, '/articles')[MARK].permissions, ['view'])
})

t.test('a custom policy has no transport to describe: nothing is added', async (t) => {
  const policy: SecurityPolicy = {
    identity: () => null,
    permits: () => false,
    remember: () => {},
    forget: () => {}
  }
  const app = await buildApp('plugin first', { policy }, (app) => {
    app.get('/articles', { config: { permission: 'view' } }, async () => 'articles')
  })
  const document = documentOf(app)
  t.equal(operation(document, '/articles').security, undefined)
  t.equal(document.components.securitySchemes, undefined)
  t.notOk(JSON.stringify(document).includes(MARK))
})

// Access requirements (app.requires(), config.requires): routes that require scopes or a step-up are
// documented too, and OAuth schemes (an identity provider's) list the scopes they need.

const oidcScheme = { type: 'openIdConnect', openIdConnectUrl: 'https://issuer.example/.well-known/openid-configuration' }
const oidc: SecurityScheme = { name: 'oidc', openapi: oidcScheme, swagger: null }

/** An app whose documentation also names `oauthSchemes`, as the plugin will for its trusted issuers. */
async function withOauthSchemes (
  oauthSchemes: readonly SecurityScheme[],
  policy: SecurityPolicy,
  declare: (app: FastifyInstance) => void,
  swaggerOptions: SwaggerOptions = OPENAPI
): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(swagger, swaggerOptions)
  await app.register(jwtSecurity, { secret: SECRET, policy })
  documentSecurity(app, policy, oauthSchemes)
  declare(app)
  await app.ready()
  return app
}

const scopedRoutes = (app: FastifyInstance): void => {
  app.get('/public', async () => 'public')
  app.get('/permission', { config: { permission: 'edit' } }, async () => 'permission')
  app.get('/scoped', { config: { requires: { scopes: ['a', 'b'] } } }, async () => 'scoped')
  app.get('/any', { config: { requires: { scopes: { anyOf: ['a', 'b'] } }, permission: 'view' } }, async () => 'any')
  app.get('/both', { config: { requires: { scopes: ['a'] } }, preHandler: app.permits('view') }, async () => 'both')
  app.get('/combined', { config: { requires: { scopes: ['a'] } }, onRequest: [app.requires({ scopes: { anyOf: ['b', 'c', 'a'] } })] }, async () => 'combined')
  app.get('/mfa', { config: { requires: { acr: ['urn:mfa'] } } }, async () => 'mfa')
}

t.test('required scopes: each OAuth scheme lists them, as alternatives for anyOf; the transports keep the permissions', async (t) => {
  const app = await withOauthSchemes([oidc], new JwtHeaderPolicy(), scopedRoutes)
  const document = documentOf(app)
  t.strictSame(document.components.securitySchemes, { bearerAuth, oidc: oidcScheme })
  t.equal(operation(document, '/public').security, undefined)
  t.strictSame(operation(document, '/permission').security, [{ bearerAuth: ['edit'] }, { oidc: [] }], 'a permission only: any token of the scheme')
  t.strictSame(operation(document, '/scoped').security, [{ bearerAuth: [] }, { oidc: ['a', 'b'] }], 'scopes without a permission are documented')
  t.strictSame(operation(document, '/any').security, [{ bearerAuth: ['view'] }, { oidc: ['a'] }, { oidc: ['b'] }])
  t.strictSame(operation(document, '/both').security, [{ bearerAuth: ['view'] }, { oidc: ['a'] }])
  t.strictSame(operation(document, '/combined').security, [{ bearerAuth: [] }, { oidc: ['b', 'a'] }, { oidc: ['c', 'a'] }, { oidc: ['a'] }], 'every requirement of the route, in the order they run')
  t.strictSame(operation(document, '/mfa').security, [{ bearerAuth: [] }, { oidc: [] }], 'a step-up only: authentication required')
  t.notOk(JSON.stringify(document).includes(MARK))
})

t.test('without OAuth schemes, a route with requirements only gets the transports, with no permission', async (t) => {
  const app = await buildApp('plugin first', {}, scopedRoutes)
  const document = documentOf(app)
  t.strictSame(document.components.securitySchemes, { bearerAuth })
  t.strictSame(operation(document, '/scoped').security, [{ bearerAuth: [] }])
  t.strictSame(operation(document, '/any').security, [{ bearerAuth: ['view'] }])
  t.strictSame(operation(document, '/mfa').security, [{ bearerAuth: [] }])
})

t.test('OAuth schemes alone (a policy with no transport), unique names, and Swagger 2.0', async (t) => {
  const policy: SecurityPolicy = { identity: () => null, permits: () => false, remember: () => {}, forget: () => {} }
  const onlyOauth = await withOauthSchemes([oidc, oidc, { ...oidc, name: 'bearerAuth' }], policy, scopedRoutes)
  const document = documentOf(onlyOauth)
  t.strictSame(document.components.securitySchemes, { oidc: oidcScheme }, 'the same scheme twice is one')
  t.strictSame(operation(document, '/scoped').security, [{ oidc: ['a', 'b'] }])

  const otherIssuer = { ...oidc, openapi: { ...oidcScheme, openIdConnectUrl: 'https://other.example/.well-known/openid-configuration' } }
  const clash = await withOauthSchemes([{ ...oidc, name: 'bearerAuth' }, otherIssuer], new JwtHeaderPolicy(), scopedRoutes)
  t.strictSame(documentOf(clash).components.securitySchemes, { bearerAuth, bearerAuth2: oidcScheme, oidc: otherIssuer.openapi })
  t.strictSame(operation(documentOf(clash), '/scoped').security, [{ bearerAuth: [] }, { bearerAuth2: ['a', 'b'] }, { oidc: ['a', 'b'] }])

  const oauth2 = { type: 'oauth2', flow: 'implicit', authorizationUrl: 'https://issuer.example/authorize' }
  const swagger2 = await withOauthSchemes([oidc, { name: 'oauth', openapi: oidcScheme, swagger: oauth2 }], new JwtHeaderPolicy(), scopedRoutes,
    { swagger: { info: { title: 'test', version: '1.0.0' } } })
  t.strictSame(documentOf(swagger2).securityDefinitions, { bearerAuth: bearerApiKey, oauth: oauth2 }, 'OpenID Connect has no Swagger 2.0 form')
  t.strictSame(operation(documentOf(swagger2), '/any').security, [{ bearerAuth: ['view'] }, { oauth: ['a'] }, { oauth: ['b'] }])
})
