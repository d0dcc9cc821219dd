import Fastify from 'fastify'
import t from 'tap'
import { decodeJwt } from 'jose'
import jwtSecurity, { JwtCookiePolicy, JwtHeaderPolicy, PolicyChain, type SecurityPolicy } from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { cookieValue, setCookies, START } from '../helpers/cookie-app.js'
import { caught } from '../helpers/errors.js'
import { captureWarnings, warningsDelivered } from '../helpers/warnings.js'

const COOKIE = '__Host-session'

async function chainApp () {
  const clock = { now: START }
  const app = Fastify()
  await app.register(jwtSecurity, {
    secret: SECRET,
    expiresIn: '2h',
    now: () => clock.now,
    policy: new PolicyChain([new JwtHeaderPolicy(), new JwtCookiePolicy({ reissueTime: '15m' })])
  })
  app.post('/session', async (request, reply) => { await reply.remember((request.body as { userid: string }).userid, { roles: ['view'] }); return 'ok' })
  app.delete('/session', async (request, reply) => { await reply.forget(); return 'ok' })
  app.get('/view', { config: { permission: 'view' } }, async (request) => request.authenticatedUserid)
  app.post('/edit', { config: { permission: 'view' } }, async (request) => request.authenticatedUserid)
  await app.ready()
  const login = await app.inject({ method: 'POST', url: '/session', payload: { userid: 'cookie-user' } })
  return { app, clock, session: cookieValue(login, COOKIE) as string, csrf: cookieValue(login, `${COOKIE}-csrf`) as string }
}

t.test('header first, then cookie; never merged, never a fallback after a refused header (D6)', async (t) => {
  const { app, session } = await chainApp()
  const headerToken = await app.createJwtToken('header-user', { roles: ['view'] })
  const both = await app.inject({ url: '/view', headers: { authorization: `Bearer ${headerToken}` }, cookies: { [COOKIE]: session } })
  t.equal(both.body, 'header-user', '(a) the header wins')
  const badHeader = await app.inject({ url: '/view', headers: { authorization: 'Bearer x.y.z' }, cookies: { [COOKIE]: session } })
  t.equal(badHeader.statusCode, 401, '(b) an invalid Bearer token is not rescued by the cookie')
  t.equal(badHeader.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"')
  const malformed = await app.inject({ url: '/view', headers: { authorization: 'Bearer a b' }, cookies: { [COOKIE]: session } })
  t.equal(malformed.statusCode, 400, '(c) a malformed header is a 400')
  const otherScheme = await app.inject({ url: '/view', headers: { authorization: 'Basic dXNlcjpwYXNz' }, cookies: { [COOKIE]: session } })
  t.equal(otherScheme.body, 'cookie-user', 'another scheme is no Bearer credential: the cookie is used (D3)')
  t.equal((await app.inject({ url: '/view', cookies: { [COOKIE]: session } })).body, 'cookie-user')
  const none = await app.inject({ url: '/view' })
  t.equal(none.statusCode, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer realm="api"')
})

t.test('header-authenticated requests get no cookie and need no CSRF token (E8, E11)', async (t) => {
  const { app, clock } = await chainApp()
  const headerToken = await app.createJwtToken('api-client', { roles: ['view'] })
  clock.now = START + 3600 * 1000
  const old = await app.inject({ url: '/view', headers: { authorization: `Bearer ${headerToken}` } })
  t.equal(old.statusCode, 200)
  t.equal(old.headers['set-cookie'], undefined, 'an API token never turns into a cookie')
  const post = await app.inject({ method: 'POST', url: '/edit', headers: { authorization: `Bearer ${headerToken}`, origin: 'https://evil.example' } })
  t.equal(post.statusCode, 200)
})

t.test('cookie sessions in a chain: CSRF, reissue, remember and forget reach the cookie policy only', async (t) => {
  const warnings = captureWarnings(t)
  const { app, clock, session, csrf } = await chainApp()
  t.equal((await app.inject({ method: 'POST', url: '/edit', cookies: { [COOKIE]: session } })).statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: '/edit', cookies: { [COOKIE]: session }, headers: { 'x-csrf-token': csrf } })).statusCode, 200)
  clock.now = START + 16 * 60 * 1000
  const reissued = await app.inject({ url: '/view', cookies: { [COOKIE]: session } })
  t.equal(decodeJwt(cookieValue(reissued, COOKIE) as string).sub, 'cookie-user')
  const out = await app.inject({ method: 'DELETE', url: '/session', cookies: { [COOKIE]: session }, headers: { 'x-csrf-token': csrf } })
  t.equal(setCookies(out).length, 2)
  await warningsDelivered()
  t.equal(warnings.length, 0, 'the header policy was not asked to remember or forget')
})

t.test('permits and authenticatedUserid come from the policy that identified the request', async (t) => {
  const calls: string[] = []
  const named = (name: string, userid: string | null): SecurityPolicy => ({
    identity: (request) => request.headers['x-policy'] === name ? { name } : null,
    authenticatedUserid: userid === null ? undefined as never : async () => userid,
    permits: () => { calls.push(name); return true },
    remember: () => { calls.push(`remember ${name}`) },
    forget: () => { calls.push(`forget ${name}`) }
  })
  const first = named('first', 'u1')
  const second = named('second', null)
  delete (second as Partial<SecurityPolicy>).authenticatedUserid
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, policy: new PolicyChain([first, second]) })
  app.get('/', { config: { permission: 'view' } }, async (request) => request.authenticatedUserid)
  app.post('/session', async (request, reply) => { await reply.remember('a'); await reply.forget(); return 'ok' })
  t.equal((await app.inject({ url: '/', headers: { 'x-policy': 'first' } })).body, 'u1')
  t.equal((await app.inject({ url: '/', headers: { 'x-policy': 'second' } })).body, 'null', 'an identity without a userid')
  await app.inject({ url: '/' })
  await app.inject({ method: 'POST', url: '/session' })
  t.same(calls, ['first', 'second', 'first', 'remember first', 'remember second', 'forget first', 'forget second'])
})

t.test('the chain is validated and takes the challenge scheme of its first policy', async (t) => {
  for (const policies of [[], null, [{}], [new JwtHeaderPolicy(), { identity () {} }]]) {
    t.equal(caught(() => new PolicyChain(policies as never)).code, 'FST_JWT_SECURITY_INVALID_OPTION')
  }
  t.equal(new PolicyChain([new JwtHeaderPolicy({ authType: 'JWT' })]).challengeScheme, 'JWT')
  t.equal(new PolicyChain([new JwtCookiePolicy()]).challengeScheme, 'Bearer')
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, policy: new PolicyChain([new JwtHeaderPolicy({ authType: 'JWT' }), new JwtCookiePolicy()]) })
  app.get('/', { config: { permission: 'view' } }, async () => 'x')
  t.equal((await app.inject({ url: '/' })).headers['www-authenticate'], 'JWT realm="api"')
})
