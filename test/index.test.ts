import Fastify from 'fastify'
import t from 'tap'
import { decodeJwt } from 'jose'
import jwtSecurity, * as api from '../lib/index.js'
import { SECRET, buildApp } from './helpers/app.js'
import { rejected } from './helpers/errors.js'

t.test('the public surface', async (t) => {
  t.equal(api.default, api.jwtSecurity)
  t.equal(api.Everyone, 'system.Everyone')
  t.equal(api.Authenticated, 'system.Authenticated')
  for (const name of ['Allowed', 'Denied', 'PermitsResult', 'JwtPolicy', 'JwtHeaderPolicy']) t.type((api as Record<string, unknown>)[name], 'function', name)
  t.ok(api.errors.errorCodes.includes('FST_JWT_SECURITY_INVALID_TOKEN'))
  t.equal((jwtSecurity as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')], 'fastify-jwt-security')
})

t.test('request decorators start empty on anonymous requests', async (t) => {
  const app = await buildApp({}, (app) => {
    app.get('/state', async (request) => ({
      identity: request.identity,
      jwtClaims: request.jwtClaims,
      authenticatedUserid: request.authenticatedUserid,
      isAuthenticated: request.isAuthenticated,
      authFailure: request.authFailure
    }))
  })
  t.teardown(() => app.close())
  t.same((await app.inject({ url: '/state' })).json(), { identity: null, jwtClaims: null, authenticatedUserid: null, isAuthenticated: false, authFailure: null })
  const token = await app.createJwtToken('alice', { roles: ['a'] })
  const body = (await app.inject({ url: '/state', headers: { authorization: `Bearer ${token}` } })).json()
  t.equal(body.authenticatedUserid, 'alice')
  t.equal(body.isAuthenticated, true)
  t.equal(body.jwtClaims.sub, 'alice')
  t.same(body.identity.principals, ['system.Everyone', 'system.Authenticated', 'alice', 'a'])
  t.same(body.identity.claims, body.jwtClaims)
})

t.test('createJwtToken on the request and the instance share the settings', async (t) => {
  const app = await buildApp({ issuer: 'https://auth.example', audience: 'api', expiresIn: '10m' }, (app) => {
    app.post('/login', async (request) => ({ token: await request.createJwtToken('alice', { roles: ['view'] }, { expiresIn: 60 }) }))
  })
  t.teardown(() => app.close())
  const { token } = (await app.inject({ method: 'POST', url: '/login' })).json()
  const claims = decodeJwt(token)
  t.match(claims, { sub: 'alice', iss: 'https://auth.example', aud: 'api', roles: ['view'] })
  t.equal((claims.exp as number) - (claims.iat as number), 60)
  const fromApp = decodeJwt(await app.createJwtToken('bob'))
  t.equal((fromApp.exp as number) - (fromApp.iat as number), 600)
  t.equal((await app.inject({ url: '/view', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
})

t.test('reply.remember hands the policy the userid as sub will carry it: a safe integer as its digits, a bad one refused', async (t) => {
  const remembered: unknown[] = []
  const app = Fastify()
  await app.register(jwtSecurity, {
    secret: SECRET,
    policy: { identity: () => null, permits: () => false, remember: (_request, _reply, userid) => { remembered.push(userid) }, forget: () => {} }
  })
  app.post('/login', async (request, reply) => {
    await reply.remember((request.body as { userid: unknown }).userid as number)
    return { ok: true }
  })
  t.teardown(() => app.close())
  for (const userid of [42, 'alice', 0]) t.equal((await app.inject({ method: 'POST', url: '/login', payload: { userid } })).statusCode, 200)
  t.strictSame(remembered, ['42', 'alice', '0'])
  for (const userid of ['', 1.5, 2 ** 53, null, 'x'.repeat(1025)]) {
    const response = await app.inject({ method: 'POST', url: '/login', payload: { userid } })
    t.equal(response.statusCode, 500, String(userid).slice(0, 20))
    t.equal(response.json().code, 'FST_JWT_SECURITY_INVALID_CLAIMS')
  }
  t.equal(remembered.length, 3, 'the policy never saw a refused userid')
})

t.test('configuration mistakes fail at register with a coded error', async (t) => {
  const cases = [
    [{ secret: 'short' }, 'FST_JWT_SECURITY_WEAK_SECRET'],
    [{}, 'FST_JWT_SECURITY_INVALID_OPTION'],
    [{ secret: SECRET, leeway: Infinity }, 'FST_JWT_SECURITY_INVALID_OPTION'],
    [{ secret: SECRET, algorithm: 'RS256' }, 'FST_JWT_SECURITY_INVALID_OPTION'],
    [{ secret: SECRET, policy: { identity: () => null, permits: () => true, remember: () => {}, forget: () => {}, challengeScheme: 'Bad Scheme' } }, 'FST_JWT_SECURITY_INVALID_OPTION']
  ] as const
  for (const [options, code] of cases) {
    const app = Fastify()
    app.register(jwtSecurity, options as never)
    const error = await rejected(app.ready())
    t.equal(error.code, code, JSON.stringify(Object.keys(options)))
  }
})

t.test('registering twice on one instance is refused by Fastify', async (t) => {
  const app = Fastify()
  app.register(jwtSecurity, { secret: SECRET })
  app.register(jwtSecurity, { secret: SECRET })
  t.match((await rejected(app.ready())).code, /FST_ERR_DEC_ALREADY_PRESENT|FST_ERR_PLUGIN/)
})

t.test('decorators reach encapsulated child contexts (fastify-plugin)', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET })
  await app.register(async (child) => {
    child.get('/child', { preHandler: child.permits('view') }, async (request) => request.authenticatedUserid)
  })
  const token = await app.createJwtToken('alice', { roles: ['view'] })
  const response = await app.inject({ url: '/child', headers: { authorization: `Bearer ${token}` } })
  t.equal(response.body, 'alice')
})
