import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { JwtHeaderPolicy } from '../../lib/policies/header-policy.js'
import { buildApp } from '../helpers/app.js'
import { caught } from '../helpers/errors.js'
import { captureWarnings, warningsDelivered } from '../helpers/warnings.js'

const BARE = 'Bearer realm="api"'
const INVALID_REQUEST = 'Bearer realm="api", error="invalid_request", error_description="The authorization request is malformed"'
const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'

t.test('options are validated at construction', async (t) => {
  const policy = new JwtHeaderPolicy()
  t.equal(policy.header, 'authorization')
  t.equal(policy.authType, 'Bearer')
  t.equal(policy.challengeScheme, 'Bearer')
  const custom = new JwtHeaderPolicy({ header: 'X-My-Header', authType: 'JWT' })
  t.equal(custom.header, 'x-my-header')
  t.equal(custom.authType, null, 'a custom header carries the bare token')
  t.equal(custom.challengeScheme, 'Bearer')
  for (const options of [{ header: 'bad header' }, { header: '' }, { authType: 'Bearer x' }, { authType: 3 }, { header: null }, { auth_type: 'JWT' }, []]) {
    const error = caught(() => new JwtHeaderPolicy(options as object))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', JSON.stringify(options))
  }
})

t.test('Bearer scheme: case-insensitive, one or more spaces, exactly one token', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  const cases: Array<[string, number, string | undefined, string | null]> = [
    [`Bearer ${token}`, 200, undefined, 'alice'],
    [`bearer ${token}`, 200, undefined, 'alice'],
    [`BEARER ${token}`, 200, undefined, 'alice'],
    [`Bearer  ${token}`, 200, undefined, 'alice'],
    ['Bearer', 400, INVALID_REQUEST, null],
    [`Bearer\t${token}`, 400, INVALID_REQUEST, null],
    [`Bearer ${token} extra`, 400, INVALID_REQUEST, null],
    [`Bearer ${token}\textra`, 401, INVALID_TOKEN, null],
    [`Bearer:${token}`, 401, BARE, null],
    [`BearerX ${token}`, 401, BARE, null],
    ['Basic dXNlcjpwYXNz', 401, BARE, null],
    [`JWT ${token}`, 401, BARE, null],
    ['Bea', 401, BARE, null],
    ['Bearer null', 401, INVALID_TOKEN, null],
    ['Bearer [object Object]', 400, INVALID_REQUEST, null],
    [`Bearer ${token.replace('.', '\t.')}`, 401, INVALID_TOKEN, null]
  ]
  for (const [authorization, status, challenge, userid] of cases) {
    const response = await app.inject({ url: '/me', headers: { authorization } })
    t.equal(response.statusCode, status, authorization.slice(0, 20))
    t.equal(response.headers['www-authenticate'], challenge, authorization.slice(0, 20))
    if (userid !== null) t.equal(response.json().userid, userid)
    const publicRoute = await app.inject({ url: '/public', headers: { authorization } })
    t.equal(publicRoute.statusCode, 200, 'a public route never refuses')
    t.equal(publicRoute.json().identity, userid)
  }
})

t.test('a request made only of spaces after the scheme is malformed', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  // light-my-request keeps trailing spaces that Node would trim from a real request.
  const response = await app.inject({ url: '/me', headers: { authorization: 'Bearer   ' } })
  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'FST_JWT_SECURITY_INVALID_REQUEST')
})

t.test('authType JWT: pyramid_jwt and pyramid_jwtauth forms', async (t) => {
  const app = await buildApp({ policy: new JwtHeaderPolicy({ authType: 'JWT' }) })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  for (const authorization of [`JWT ${token}`, `jwt ${token}`, `JWT token="${token}"`, `JWT token=${token}`]) {
    const response = await app.inject({ url: '/me', headers: { authorization } })
    t.equal(response.statusCode, 200, authorization.slice(0, 12))
  }
  for (const authorization of [`JWT token="${token}`, 'JWT token=""', `JWT token="${token}" x`]) {
    const response = await app.inject({ url: '/me', headers: { authorization } })
    t.not(response.statusCode, 200, authorization.slice(0, 12))
  }
  const bearer = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(bearer.statusCode, 401)
  t.equal(bearer.headers['www-authenticate'], 'JWT realm="api"', 'the challenge uses the configured scheme')
  const bad = await app.inject({ url: '/me', headers: { authorization: 'JWT token=nope' } })
  t.equal(bad.headers['www-authenticate'], 'JWT realm="api", error="invalid_token", error_description="The access token is invalid"')
})

t.test('a custom header carries the bare token', async (t) => {
  const app = await buildApp({ policy: new JwtHeaderPolicy({ header: 'X-My-Header' }) })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  t.equal((await app.inject({ url: '/me', headers: { 'x-my-header': token } })).statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 401)
  const empty = await app.inject({ url: '/me', headers: { 'x-my-header': '' } })
  t.equal(empty.statusCode, 400)
  const several = await app.inject({ url: '/me', headers: { 'x-my-header': `${token}, ${token}` } })
  t.equal(several.statusCode, 400)
  t.equal(several.headers['www-authenticate'], INVALID_REQUEST)
  const withScheme = await app.inject({ url: '/me', headers: { 'x-my-header': `Bearer ${token}` } })
  t.equal(withScheme.statusCode, 401)
  t.equal(withScheme.headers['www-authenticate'], INVALID_TOKEN)
})

t.test('a repeated Authorization header is an invalid request (RFC 6750 §3.1)', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const token = await app.createJwtToken('alice')
  async function get (rawHeaders: string[]): Promise<{ status: number, challenge: string | undefined }> {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/me', headers: ['Host', `127.0.0.1:${port}`, ...rawHeaders] })
    req.end()
    const [res] = await once(req, 'response')
    res.resume()
    return { status: res.statusCode, challenge: res.headers['www-authenticate'] }
  }
  t.same(await get(['Authorization', `Bearer ${token}`]), { status: 200, challenge: undefined })
  t.same(await get(['Authorization', `Bearer ${token}`, 'authorization', `Bearer ${token}`]), { status: 400, challenge: INVALID_REQUEST })
  t.same(await get(['Authorization', `Bearer ${token}`, 'X-Other', 'a', 'AUTHORIZATION', 'Basic x']), { status: 400, challenge: INVALID_REQUEST })
})

t.test('an array header value (as a test client may send) is refused, not thrown on', async (t) => {
  const app = await buildApp({ policy: new JwtHeaderPolicy({ header: 'X-My-Header' }) })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  const response = await app.inject({ url: '/me', headers: { 'x-my-header': [token, token] as unknown as string } })
  t.equal(response.statusCode, 400)
})

// Before the test below: the warning is emitted once per process, so this one would catch it first.
t.test('remember refuses a userid no token could carry, before the policy and its warning', async (t) => {
  const warnings = captureWarnings(t)
  const app = await buildApp({}, (app) => {
    app.post('/login', async (_request, reply) => {
      await reply.remember('')
      return { ok: true }
    })
  })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'POST', url: '/login' })
  t.equal(response.statusCode, 500)
  t.equal(response.json().code, 'FST_JWT_SECURITY_INVALID_CLAIMS')
  await warningsDelivered()
  t.same(warnings.filter((warning) => warning.code === 'FST_JWT_SECURITY_W001'), [])
})

t.test('remember and forget only warn, once', async (t) => {
  const warnings = captureWarnings(t)
  const app = await buildApp({}, (app) => {
    app.post('/login', async (request, reply) => {
      await reply.remember('alice', { roles: [] })
      await reply.forget()
      return { ok: true }
    })
  })
  t.teardown(() => app.close())
  t.equal((await app.inject({ method: 'POST', url: '/login' })).headers['set-cookie'], undefined)
  await app.inject({ method: 'POST', url: '/login' })
  await warningsDelivered()
  const ours = warnings.filter((warning) => warning.code === 'FST_JWT_SECURITY_W001')
  t.equal(ours.length, 1)
  t.match(ours[0]?.message, /do nothing with a header policy/)
})
