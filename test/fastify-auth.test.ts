import fastifyAuth from '@fastify/auth'
import createError from '@fastify/error'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import t from 'tap'
import jwtSecurity, { NO_PERMISSION_REQUIRED, type JwtSecurityOptions } from '../lib/index.js'
import { SECRET } from './helpers/app.js'

// app.permits() inside @fastify/auth compositions: what clients see with each relation and order.

const API_KEY = 'key-0123456789'
const ApiKeyError = createError('APP_API_KEY_REQUIRED', 'A valid API key is required', 401)
const API_KEY_CHALLENGE = 'ApiKey realm="api"'
const BEARER_CHALLENGE = 'Bearer realm="api"'
const INVALID_TOKEN_CHALLENGE = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'

const noCredentials = { statusCode: 401, code: 'FST_JWT_SECURITY_NO_CREDENTIALS', error: 'Unauthorized', message: 'Authentication is required' }
const invalidToken = { statusCode: 401, code: 'FST_JWT_SECURITY_INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid' }
const forbidden = { statusCode: 403, code: 'FST_JWT_SECURITY_FORBIDDEN', error: 'Forbidden', message: 'You do not have permission to perform this action' }
const apiKeyRequired = { statusCode: 401, code: 'APP_API_KEY_REQUIRED', error: 'Unauthorized', message: 'A valid API key is required' }

// An API-key check as apps write them: async, throws a 401 error of its own. `challenge` makes it
// announce its scheme as well, as RFC 9110 §11.6.1 lets a server list several challenges.
function apiKeyCheck (challenge = false) {
  return async function verifyApiKey (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.headers['x-api-key'] === API_KEY) return
    if (challenge) reply.header('www-authenticate', API_KEY_CHALLENGE)
    throw new ApiKeyError()
  }
}

async function buildApp (options: Partial<JwtSecurityOptions> = {}, declare: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, ...options } as JwtSecurityOptions)
  await app.register(fastifyAuth)
  declare(app)
  await app.ready()
  return app
}

async function tokens (app: FastifyInstance): Promise<{ viewer: string, stranger: string }> {
  return {
    viewer: await app.createJwtToken('alice', { roles: ['view'] }),
    stranger: await app.createJwtToken('bob', { roles: [] })
  }
}

interface Sent { token?: string, apiKey?: string }

async function call (app: FastifyInstance, url: string, { token, apiKey }: Sent = {}) {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (apiKey !== undefined) headers['x-api-key'] = apiKey
  const response = await app.inject({ url, headers })
  return { status: response.statusCode, body: response.body, challenge: response.headers['www-authenticate'] }
}

t.test("relation 'or', app.permits() last: every refusal is the plugin's (401 + challenge, 403)", async (t) => {
  const app = await buildApp({}, (app) => {
    app.get('/articles', { preHandler: app.auth([apiKeyCheck(), app.permits('view')]) }, async () => 'articles')
  })
  const { viewer, stranger } = await tokens(app)
  t.same(await call(app, '/articles', { token: viewer }), { status: 200, body: 'articles', challenge: undefined }, 'token with the permission')
  t.same(await call(app, '/articles', { apiKey: API_KEY }), { status: 200, body: 'articles', challenge: undefined }, 'API key, no token')
  t.same(await call(app, '/articles', { token: stranger, apiKey: API_KEY }), { status: 200, body: 'articles', challenge: undefined }, 'API key and a token without the permission')

  const none = await call(app, '/articles')
  t.equal(none.status, 401, 'neither: 401')
  t.same(JSON.parse(none.body), noCredentials, "neither: the plugin's body")
  t.equal(none.challenge, BEARER_CHALLENGE, "neither: the plugin's challenge")

  const bad = await call(app, '/articles', { token: 'not.a.token' })
  t.equal(bad.status, 401)
  t.same(JSON.parse(bad.body), invalidToken, 'a refused token: invalid_token')
  t.equal(bad.challenge, INVALID_TOKEN_CHALLENGE)

  const denied = await call(app, '/articles', { token: stranger })
  t.equal(denied.status, 403, 'authenticated without the permission: 403')
  t.same(JSON.parse(denied.body), forbidden)
  t.equal(denied.challenge, undefined, '403 carries no challenge')
})

t.test("relation 'or', app.permits() first: the last function's error is the one sent", async (t) => {
  // @fastify/auth answers with the error of the last function it ran. The plugin's challenge,
  // set on the reply when its check failed, stays; its status and body give way to the API key's.
  const app = await buildApp({}, (app) => {
    app.get('/articles', { preHandler: app.auth([app.permits('view'), apiKeyCheck()]) }, async () => 'articles')
  })
  const { viewer, stranger } = await tokens(app)
  t.same(await call(app, '/articles', { token: viewer }), { status: 200, body: 'articles', challenge: undefined }, 'token with the permission')

  const keyOnly = await call(app, '/articles', { apiKey: API_KEY })
  t.equal(keyOnly.status, 200, 'API key, no token: 200')
  t.equal(keyOnly.challenge, BEARER_CHALLENGE, 'with the challenge of the failed check before it')

  const none = await call(app, '/articles')
  t.equal(none.status, 401)
  t.same(JSON.parse(none.body), apiKeyRequired, "neither: the API key's body")
  t.equal(none.challenge, BEARER_CHALLENGE, "neither: the plugin's challenge is kept")

  const denied = await call(app, '/articles', { token: stranger })
  t.equal(denied.status, 401, 'authenticated without the permission: the 403 is lost to the API key 401')
  t.same(JSON.parse(denied.body), apiKeyRequired)
  t.equal(denied.challenge, undefined)
})

t.test("relation 'and': both are needed, and the first failure is sent", async (t) => {
  for (const order of ['permits first', 'permits last'] as const) {
    const app = await buildApp({}, (app) => {
      const functions = order === 'permits first' ? [app.permits('view'), apiKeyCheck()] : [apiKeyCheck(), app.permits('view')]
      app.get('/articles', { preHandler: app.auth(functions, { relation: 'and' }) }, async () => 'articles')
    })
    const { viewer, stranger } = await tokens(app)
    t.same(await call(app, '/articles', { token: viewer, apiKey: API_KEY }), { status: 200, body: 'articles', challenge: undefined }, `${order}: both`)

    const tokenOnly = await call(app, '/articles', { token: viewer })
    t.equal(tokenOnly.status, 401, `${order}: token only`)
    t.same(JSON.parse(tokenOnly.body), apiKeyRequired)
    t.equal(tokenOnly.challenge, undefined)

    const keyOnly = await call(app, '/articles', { apiKey: API_KEY })
    t.equal(keyOnly.status, 401, `${order}: API key only`)
    t.same(JSON.parse(keyOnly.body), noCredentials)
    t.equal(keyOnly.challenge, BEARER_CHALLENGE)

    const denied = await call(app, '/articles', { token: stranger, apiKey: API_KEY })
    t.equal(denied.status, 403, `${order}: API key and a token without the permission`)
    t.same(JSON.parse(denied.body), forbidden)
    t.equal(denied.challenge, undefined)

    const none = await call(app, '/articles')
    t.equal(none.status, 401, `${order}: neither`)
    t.same(JSON.parse(none.body), order === 'permits first' ? noCredentials : apiKeyRequired, 'the first failure')
    t.equal(none.challenge, order === 'permits first' ? BEARER_CHALLENGE : undefined)
  }
})

t.test('a challenge another function set is kept next to the plugin\'s', async (t) => {
  const app = await buildApp({}, (app) => {
    app.get('/or', { preHandler: app.auth([apiKeyCheck(true), app.permits('view')]) }, async () => 'or')
    app.get('/twice', { preHandler: app.auth([app.permits('view'), app.permits('edit')]) }, async () => 'twice')
  })
  const none = await call(app, '/or')
  t.equal(none.status, 401)
  t.same(JSON.parse(none.body), noCredentials)
  t.same(none.challenge, [API_KEY_CHALLENGE, BEARER_CHALLENGE], 'both schemes are offered')

  const twice = await call(app, '/twice')
  t.equal(twice.status, 401)
  t.equal(twice.challenge, BEARER_CHALLENGE, 'two checks of the plugin give one challenge')
})

t.test('defaultPermission: a route that composes its own check opts out with NO_PERMISSION_REQUIRED', async (t) => {
  const app = await buildApp({ defaultPermission: 'view' }, (app) => {
    const preHandler = app.auth([apiKeyCheck(), app.permits('view')])
    app.get('/implicit', { preHandler }, async () => 'implicit')
    app.get('/composed', { preHandler, config: { permission: NO_PERMISSION_REQUIRED } }, async () => 'composed')
  })
  const { viewer } = await tokens(app)
  const implicit = await call(app, '/implicit', { apiKey: API_KEY })
  t.equal(implicit.status, 401, 'the default permission is checked in onRequest, before the composition runs')
  t.equal(implicit.challenge, BEARER_CHALLENGE)
  t.same(await call(app, '/composed', { apiKey: API_KEY }), { status: 200, body: 'composed', challenge: undefined }, 'opted out: the API key is enough')
  t.same(await call(app, '/composed', { token: viewer }), { status: 200, body: 'composed', challenge: undefined }, 'opted out: so is the token')
  t.equal((await call(app, '/composed')).status, 401, 'opted out: the composition still refuses')
})

t.test('app.permits() called without done, awaited in an async function of the composition', async (t) => {
  const app = await buildApp({}, (app) => {
    const viewer = app.permits('view')
    async function tokenWithView (request: FastifyRequest, reply: FastifyReply): Promise<void> {
      await viewer(request, reply)
    }
    app.get('/articles', { preHandler: app.auth([apiKeyCheck(), tokenWithView]) }, async () => 'articles')
  })
  const { viewer, stranger } = await tokens(app)
  t.same(await call(app, '/articles', { token: viewer }), { status: 200, body: 'articles', challenge: undefined }, 'the promise resolves')
  const none = await call(app, '/articles')
  t.equal(none.status, 401, 'the promise rejects with the refusal')
  t.same(JSON.parse(none.body), noCredentials)
  t.equal(none.challenge, BEARER_CHALLENGE)
  t.equal((await call(app, '/articles', { token: stranger })).status, 403)
})

t.test("the plugin option defaultRelation: 'and' applies to app.permits() too", async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET })
  await app.register(fastifyAuth, { defaultRelation: 'and' })
  app.get('/articles', { preHandler: app.auth([app.permits('view'), apiKeyCheck()]) }, async () => 'articles')
  await app.ready()
  const { viewer } = await tokens(app)
  t.equal((await call(app, '/articles', { token: viewer })).status, 401, "defaultRelation 'and' needs the API key too")
  t.equal((await call(app, '/articles', { token: viewer, apiKey: API_KEY })).status, 200)
})
