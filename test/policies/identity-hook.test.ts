import Fastify, { type FastifyRequest } from 'fastify'
import t from 'tap'
import jwtSecurity, { errors, type SecurityPolicy } from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'

function policyWith (overrides: Partial<SecurityPolicy>): SecurityPolicy {
  return { identity: () => null, permits: () => true, remember: () => {}, forget: () => {}, ...overrides }
}

async function appWith (policy: SecurityPolicy) {
  const calls = { identity: 0 }
  const app = Fastify()
  const counted = { ...policy, identity: (request: FastifyRequest) => { calls.identity++; return policy.identity(request) } }
  if (policy.authenticatedUserid === undefined) delete (counted as Partial<SecurityPolicy>).authenticatedUserid
  await app.register(jwtSecurity, { secret: SECRET, policy: counted })
  app.get('/', { preHandler: app.permits('view') }, async (request) => ({
    identity: request.identity, userid: request.authenticatedUserid, isAuthenticated: request.isAuthenticated
  }))
  return { app, calls }
}

t.test('identity is resolved once per request, sync or async', async (t) => {
  for (const identity of [() => ({ userid: 'alice', x: 1 }), async () => ({ userid: 'alice', x: 1 })]) {
    const { app, calls } = await appWith(policyWith({ identity }))
    const response = await app.inject({ url: '/' })
    t.same(response.json(), { identity: { userid: 'alice', x: 1 }, userid: 'alice', isAuthenticated: true })
    t.equal(calls.identity, 1, 'memoised: the permission check and the handler reuse it')
  }
})

t.test('the default userid: a string identity, else its userid property, else null', async (t) => {
  const cases: Array<[unknown, string | null]> = [['bob', 'bob'], [{ userid: 'carol' }, 'carol'], [{ id: 'x' }, null], [{ userid: 7 }, null], [42, null], [undefined, null]]
  for (const [identity, userid] of cases) {
    const { app } = await appWith(policyWith({ identity: () => identity }))
    const body = (await app.inject({ url: '/' })).json()
    t.equal(body.userid, userid, JSON.stringify(identity))
    t.equal(body.isAuthenticated, userid !== null)
  }
})

t.test('authenticatedUserid of the policy wins, sync or async, and runs only for an identity', async (t) => {
  let calls = 0
  for (const authenticatedUserid of [() => { calls++; return 'u1' }, async () => { calls++; return 'u1' }, () => { calls++; return null }, () => { calls++; return undefined as unknown as null }]) {
    const { app } = await appWith(policyWith({ identity: () => ({ name: 'x' }), authenticatedUserid }))
    const body = (await app.inject({ url: '/' })).json()
    t.ok(body.userid === 'u1' || body.userid === null)
    t.equal(body.isAuthenticated, body.userid !== null)
  }
  t.equal(calls, 4)
  const { app } = await appWith(policyWith({ identity: () => null, authenticatedUserid: () => { calls++; return 'never' }, permits: (request) => request.isAuthenticated }))
  t.equal((await app.inject({ url: '/' })).statusCode, 401)
  t.equal(calls, 4, 'no identity, no userid')
})

t.test('a policy that throws or misbehaves is a 500 with a fixed body, and the app keeps serving', async (t) => {
  const failing: Array<Partial<SecurityPolicy>> = [
    { identity: () => { throw new Error('sync bug') } },
    { identity: async () => { throw new Error('async bug') } },
    { identity: () => 'alice', authenticatedUserid: () => { throw new Error('sync') } },
    { identity: () => 'alice', authenticatedUserid: async () => { throw new Error('async') } },
    { identity: () => 'alice', authenticatedUserid: () => 42 as unknown as string }
  ]
  for (const overrides of failing) {
    const { app } = await appWith(policyWith(overrides))
    const response = await app.inject({ url: '/' })
    t.equal(response.statusCode, 500)
    t.same(response.json(), { statusCode: 500, code: 'FST_JWT_SECURITY_POLICY_FAILED', error: 'Internal Server Error', message: 'The security policy failed' })
  }
})

t.test('the plugin\'s own coded errors pass through unchanged', async (t) => {
  const { InvalidRequestError } = await import('../../lib/errors.js')
  const { app } = await appWith(policyWith({ identity: () => { throw new InvalidRequestError() } }))
  const response = await app.inject({ url: '/' })
  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'FST_JWT_SECURITY_INVALID_REQUEST')
})

t.test('an outage error from a custom policy is a 503 with Retry-After, answered without the error handler', async (t) => {
  for (const ErrorClass of [errors.KeysUnavailableError, errors.RevocationUnavailableError]) {
    const { app } = await appWith(policyWith({ identity: async () => { throw new ErrorClass() } }))
    let handled = 0
    app.setErrorHandler((error, _request, reply) => { handled++; return reply.send(error) })
    const response = await app.inject({ url: '/' })
    t.equal(response.statusCode, 503)
    t.equal(response.headers['retry-after'], '5', `${new ErrorClass().code}: a Retry-After of 5 s when the error has none`)
    t.same(response.json(), { statusCode: 503, code: new ErrorClass().code, error: 'Service Unavailable', message: new ErrorClass().message })
    t.equal(handled, 0, 'the error handler is not called')
  }
})
