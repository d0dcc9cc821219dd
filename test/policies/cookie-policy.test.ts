import fastifyCookie from '@fastify/cookie'
import Fastify from 'fastify'
import t from 'tap'
import { decodeJwt } from 'jose'
import { request } from 'node:http'
import jwtSecurity, { JwtCookiePolicy, decodePyramidCookie, encodePyramidCookie, type JwtCookiePolicyOptions } from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { buildCookieApp, cookieValue, login, setCookies, START } from '../helpers/cookie-app.js'
import { caught, rejected } from '../helpers/errors.js'
import { sameHiddenClass } from '../helpers/hidden-class.js'
import { withBadSignature } from '../helpers/tokens.js'

const S = START / 1000
const COOKIE = '__Host-session'
const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'

t.test('remember: a fresh token in an HttpOnly, Secure, SameSite=Lax, host-only cookie, and a readable CSRF cookie', async (t) => {
  const { app } = await buildCookieApp()
  const { response, session, csrf } = await login(app)
  t.equal(response.statusCode, 200)
  t.equal(response.headers['cache-control'], 'no-store')
  const [sessionCookie, csrfCookie] = setCookies(response)
  t.equal(sessionCookie, `${COOKIE}=${session}; Max-Age=7200; Path=/; Expires=${new Date((S + 7200) * 1000).toUTCString()}; HttpOnly; Secure; SameSite=Lax`)
  t.equal(csrfCookie, `${COOKIE}-csrf=${csrf}; Max-Age=7200; Path=/; Expires=${new Date((S + 7200) * 1000).toUTCString()}; Secure; SameSite=Lax`)
  const claims = decodeJwt(session)
  t.same(Object.keys(claims).sort(), ['auth_time', 'csrf', 'exp', 'iat', 'jti', 'roles', 'sid', 'sub'], 'cookie options never leak into claims')
  t.match(claims, { sub: 'alice', roles: ['view'], iat: S, exp: S + 7200, auth_time: S, csrf, sid: /^[0-9a-f-]{36}$/ })
  t.not(claims.sid, claims.jti, 'the session id is not the token id')
  t.equal(response.json().csrfToken, csrf, 'policy.csrfToken() hands the new token to the handler')
  const view = await app.inject({ url: '/view', cookies: { [COOKIE]: session } })
  t.same(view.json(), { userid: 'alice', csrfToken: csrf })
  t.equal(view.headers['set-cookie'], undefined)
})

t.test('remember: the cookie options of every login share one hidden class', async (t) => {
  const options: object[] = []
  const { app } = await buildCookieApp({}, {}, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      const setCookie = reply.setCookie
      reply.setCookie = function (name, value, cookieOptions) {
        options.push(cookieOptions as object)
        return setCookie.call(this, name, value, cookieOptions)
      }
    })
  })
  // V8's caches settle after a few objects: the last logins are compared.
  for (let index = 0; index < 10; index++) await login(app)
  t.equal(options.length, 20, 'a session cookie and a CSRF cookie per login')
  t.ok(sameHiddenClass(options[16] as object, options[18] as object), 'the session cookies\'')
  t.ok(sameHiddenClass(options[17] as object, options[19] as object), 'the CSRF cookies\'')
})

t.test('remember takes a safe integer userid, as createJwtToken does, and the session carries it as a string', async (t) => {
  const { app } = await buildCookieApp()
  const response = await app.inject({ method: 'POST', url: '/session', payload: { userid: 42 } })
  const session = cookieValue(response, COOKIE) as string
  t.equal(decodeJwt(session).sub, '42')
  t.same((await app.inject({ url: '/view', cookies: { [COOKIE]: session } })).json(), { userid: '42', csrfToken: cookieValue(response, `${COOKIE}-csrf`) })
  const refused = await app.inject({ method: 'POST', url: '/session', payload: { userid: 4.2 } })
  t.equal(refused.statusCode, 500)
  t.equal(refused.json().code, 'FST_JWT_SECURITY_INVALID_CLAIMS')
  t.equal(refused.headers['set-cookie'], undefined)
})

t.test('remember never reuses the incoming session (no fixation)', async (t) => {
  const { app } = await buildCookieApp()
  const first = await login(app)
  const second = await app.inject({ method: 'POST', url: '/session', cookies: { [COOKIE]: first.session }, headers: { 'x-csrf-token': first.csrf } })
  const renewed = cookieValue(second, COOKIE) as string
  t.not(decodeJwt(renewed).jti, decodeJwt(first.session).jti)
  t.not(cookieValue(second, `${COOKIE}-csrf`), first.csrf, 'a new CSRF token too')
})

t.test('remember refuses session claims and cookies browsers would drop (E7)', async (t) => {
  const { app } = await buildCookieApp()
  for (const claims of [{ auth_time: 1 }, { csrf: 'x' }]) {
    const response = await app.inject({ method: 'POST', url: '/session', payload: { claims } })
    t.equal(response.statusCode, 500)
    t.equal(response.json().code, 'FST_JWT_SECURITY_INVALID_CLAIMS')
  }
  const large = await app.inject({ method: 'POST', url: '/session', payload: { claims: { blob: 'x'.repeat(3000) } } })
  t.equal(large.statusCode, 500)
  t.equal(large.json().code, 'FST_JWT_SECURITY_COOKIE_TOO_LARGE')
  t.equal(large.headers['set-cookie'], undefined, 'no cookie is sent at all')
  const fits = await app.inject({ method: 'POST', url: '/session', payload: { claims: { blob: 'x'.repeat(2000) } } })
  t.equal(fits.statusCode, 200)
})

t.test('forget clears both cookies with the attributes they were set with (E5)', async (t) => {
  const { app } = await buildCookieApp()
  const { session, csrf } = await login(app)
  const out = await app.inject({ method: 'DELETE', url: '/session', cookies: { [COOKIE]: session }, headers: { 'x-csrf-token': csrf } })
  t.same(setCookies(out), [
    `${COOKIE}=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax`,
    `${COOKIE}-csrf=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=Lax`
  ])
  t.equal(out.headers['cache-control'], 'no-store')
  t.equal(out.json().csrfToken, null)
})

t.test('domains: one Set-Cookie per domain, and forget clears each', async (t) => {
  const { app } = await buildCookieApp({ cookieName: 'session', domains: ['example.org', 'api.example.org'], csrf: false, path: '/app' })
  const response = await app.inject({ method: 'POST', url: '/session' })
  const cookies = setCookies(response)
  t.equal(cookies.length, 2)
  t.match(cookies[0], /^session=.*; Domain=example.org; Path=\/app; .*HttpOnly; Secure; SameSite=Lax$/)
  t.match(cookies[1], /; Domain=api.example.org; Path=\/app;/)
  const out = await app.inject({ method: 'DELETE', url: '/session' })
  t.same(setCookies(out), [
    'session=; Max-Age=0; Domain=example.org; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
    'session=; Max-Age=0; Domain=api.example.org; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax'
  ])
})

t.test('sliding reissue: before, at and after reissueTime; once; fresh iat/exp/jti; claims copied (E2)', async (t) => {
  const { app, clock } = await buildCookieApp({ reissueTime: '15m' })
  const { session, csrf } = await login(app)
  clock.now = START + (15 * 60 - 1) * 1000
  const before = await app.inject({ url: '/view', cookies: { [COOKIE]: session } })
  t.equal(before.statusCode, 200)
  t.equal(before.headers['set-cookie'], undefined, 'not yet due')
  clock.now = START + 15 * 60 * 1000
  const at = await app.inject({ url: '/view', cookies: { [COOKIE]: session } })
  const cookies = setCookies(at)
  t.equal(cookies.length, 2, 'exactly one session cookie and its CSRF companion')
  t.equal(at.headers['cache-control'], 'no-store')
  const reissued = decodeJwt(cookieValue(at, COOKIE) as string)
  const original = decodeJwt(session)
  t.equal(reissued.iat, S + 900)
  t.equal(reissued.exp, S + 900 + 7200)
  t.not(reissued.jti, original.jti)
  t.same({ ...reissued, iat: 0, exp: 0, jti: '' }, { ...original, iat: 0, exp: 0, jti: '' }, 'sub, roles, auth_time and csrf unchanged')
  t.equal(cookieValue(at, `${COOKIE}-csrf`), csrf)
  clock.now = START + 20 * 60 * 1000
  const after = await app.inject({ url: '/public', cookies: { [COOKIE]: session } })
  t.equal(setCookies(after).length, 2, 'also after, and on public routes')
  const fresh = await app.inject({ url: '/view', cookies: { [COOKIE]: cookieValue(at, COOKIE) as string } })
  t.equal(fresh.headers['set-cookie'], undefined, 'the reissued token is young again')
})

t.test('reissue never passes maxSessionAge, and a session past it is refused (E3)', async (t) => {
  const { app, clock } = await buildCookieApp({ reissueTime: '15m', maxSessionAge: '3h' })
  let { session } = await login(app)
  clock.now = START + 2 * 3600 * 1000 - 1000
  const near = await app.inject({ url: '/view', cookies: { [COOKIE]: session } })
  session = cookieValue(near, COOKIE) as string
  const claims = decodeJwt(session)
  t.equal(claims.exp, S + 3 * 3600, 'exp = min(now + expiresIn, auth_time + maxSessionAge)')
  t.equal(claims.auth_time, S)
  clock.now = START + 3 * 3600 * 1000 - 1000
  const last = await app.inject({ url: '/view', cookies: { [COOKIE]: session } })
  t.equal(last.statusCode, 200)
  t.equal(decodeJwt(cookieValue(last, COOKIE) as string).exp, S + 3 * 3600)
  clock.now = START + 3 * 3600 * 1000
  const over = await app.inject({ url: '/view', cookies: { [COOKIE]: session } })
  t.equal(over.statusCode, 401)
  t.equal(over.headers['set-cookie'], undefined)
})

t.test('a token whose auth_time is past maxSessionAge is refused even with a fresh iat (E3)', async (t) => {
  const { app } = await buildCookieApp({ reissueTime: '15m', maxSessionAge: '1d' })
  const forged = await app.createJwtToken('alice', { roles: ['view'], auth_time: S - 86400 - 1 })
  const response = await app.inject({ url: '/view', cookies: { [COOKIE]: forged } })
  t.equal(response.statusCode, 401)
  t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
  t.equal(response.headers['set-cookie'], undefined)
  const anonymous = await app.inject({ url: '/public', cookies: { [COOKIE]: forged } })
  t.same(anonymous.json(), { userid: null, failure: { error: 'invalid_token', reason: 'session_expired', claim: 'auth_time' } })
  const garbage = await app.createJwtToken('alice', { auth_time: 'yesterday' })
  t.same((await app.inject({ url: '/public', cookies: { [COOKIE]: garbage } })).json().failure, { error: 'invalid_token', reason: 'claim_invalid', claim: 'auth_time' })
  const noAuthTime = await app.createJwtToken('alice', { roles: ['view'] })
  t.equal((await app.inject({ url: '/view', cookies: { [COOKIE]: noAuthTime } })).statusCode, 200, 'without auth_time the session starts at iat')
})

t.test('forget or remember in a request with a pending reissue wins over it (E4)', async (t) => {
  const { app, clock } = await buildCookieApp({ reissueTime: '15m' })
  const { session, csrf } = await login(app)
  clock.now = START + 20 * 60 * 1000
  const out = await app.inject({ method: 'DELETE', url: '/session', cookies: { [COOKIE]: session }, headers: { 'x-csrf-token': csrf } })
  t.same(setCookies(out).map((cookie) => cookie.split(';')[0]), [`${COOKIE}=`, `${COOKIE}-csrf=`], 'only the clearing cookies')
  const other = await app.inject({ method: 'POST', url: '/session', payload: { userid: 'bob' }, cookies: { [COOKIE]: session }, headers: { 'x-csrf-token': csrf } })
  const cookies = setCookies(other)
  t.equal(cookies.length, 2)
  t.equal(decodeJwt(cookieValue(other, COOKIE) as string).sub, 'bob', 'only the new session for bob')
})

t.test('no reissue for invalid, expired or refused sessions, nor on 4xx/5xx (E1)', async (t) => {
  const { app, clock } = await buildCookieApp({ reissueTime: '15m' }, { callback: (userid) => userid === 'mallory' ? null : ['view'] }, (app) => {
    app.get('/admin', { config: { permission: 'admin' } }, async () => 'never')
    app.get('/boom', async () => { throw new Error('handler failed') })
  })
  const { session } = await login(app)
  const mallory = (await login(app, { userid: 'mallory' })).session
  clock.now = START + 20 * 60 * 1000
  const forbidden = await app.inject({ url: '/admin', cookies: { [COOKIE]: session } })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.headers['set-cookie'], undefined)
  const failed = await app.inject({ url: '/boom', cookies: { [COOKIE]: session } })
  t.equal(failed.statusCode, 500)
  t.equal(failed.headers['set-cookie'], undefined)
  const refused = await app.inject({ url: '/public', cookies: { [COOKIE]: mallory } })
  t.equal(refused.json().userid, null)
  t.equal(refused.headers['set-cookie'], undefined)
  const [header, payload, signature] = session.split('.') as [string, string, string]
  const tampered = [
    `${header}.${Buffer.from(JSON.stringify({ ...decodeJwt(session), sub: 'admin' })).toString('base64url')}.${signature}`,
    withBadSignature(session),
    `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.${signature}`,
    'null'
  ]
  for (const value of tampered) {
    const protectedRoute = await app.inject({ url: '/view', cookies: { [COOKIE]: value } })
    t.equal(protectedRoute.statusCode, 401, 'tampered: 401 (D7)')
    t.equal(protectedRoute.headers['www-authenticate'], INVALID_TOKEN)
    t.equal(protectedRoute.headers['set-cookie'], undefined)
    const publicRoute = await app.inject({ url: '/public', cookies: { [COOKIE]: value } })
    t.equal(publicRoute.json().userid, null, 'tampered: anonymous on a public route')
    t.equal(publicRoute.headers['set-cookie'], undefined)
  }
  clock.now = START + 2 * 3600 * 1000
  const expired = await app.inject({ url: '/public', cookies: { [COOKIE]: session } })
  t.equal(expired.json().failure.reason, 'token_expired')
  t.equal(expired.headers['set-cookie'], undefined, 'never minted from an expired token')
})

t.test('reissue of a token made elsewhere: no auth_time (iat stands in), no CSRF claim', async (t) => {
  const { app, clock } = await buildCookieApp({ reissueTime: 60, csrf: false })
  const token = await app.createJwtToken('alice', { roles: ['view'] })
  clock.now = START + 61_000
  const response = await app.inject({ url: '/view', cookies: { [COOKIE]: token } })
  const claims = decodeJwt(cookieValue(response, COOKIE) as string)
  t.equal(claims.auth_time, S)
  t.equal(claims.csrf, undefined)
  t.same(setCookies(response).length, 1, 'no CSRF companion cookie')
})

t.test('onReissue may change the claims or refuse', async (t) => {
  const seen: unknown[] = []
  const { app, clock } = await buildCookieApp({
    reissueTime: 60,
    onReissue: async (request, claims) => {
      seen.push(claims)
      return request.url === '/public' ? false : { ...claims, roles: ['view', 'fresh'], auth_time: 0, csrf: 'forced' }
    }
  })
  const { session, csrf } = await login(app)
  clock.now = START + 61_000
  t.equal((await app.inject({ url: '/public', cookies: { [COOKIE]: session } })).headers['set-cookie'], undefined)
  const changed = await app.inject({ url: '/view', cookies: { [COOKIE]: session } })
  const claims = decodeJwt(cookieValue(changed, COOKIE) as string)
  t.same(claims.roles, ['view', 'fresh'])
  t.equal(claims.auth_time, S, 'auth_time cannot be moved')
  t.equal(claims.csrf, csrf, 'nor the CSRF token')
  t.same(seen[0], { roles: ['view'] }, 'the hook sees custom claims only')
})

t.test('an onReissue that throws or returns garbage is a logged 500 with a fixed body, and no cookie', async (t) => {
  for (const onReissue of [async () => { throw new Error('profile store down') }, async () => 'yes' as unknown as false]) {
    const { app, clock } = await buildCookieApp({ reissueTime: 60, onReissue })
    const { session } = await login(app)
    clock.now = START + 61_000
    const response = await app.inject({ url: '/view', cookies: { [COOKIE]: session } })
    t.equal(response.statusCode, 500)
    t.same(response.json(), { statusCode: 500, code: 'FST_JWT_SECURITY_POLICY_FAILED', error: 'Internal Server Error', message: 'The security policy failed' })
    t.equal(cookieValue(response, COOKIE), undefined, 'no reissued cookie')
  }
})

t.test('CSRF: unsafe cookie-authenticated requests need the token and an allowed origin (E11)', async (t) => {
  const { app } = await buildCookieApp()
  const { session, csrf } = await login(app)
  const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/edit', cookies: { [COOKIE]: session }, headers })
  const refused = { statusCode: 403, code: 'FST_JWT_SECURITY_CSRF_FAILED', error: 'Forbidden', message: 'The request failed the cross-site request forgery check' }
  const cases: Array<[string, Record<string, string>, number]> = [
    ['no token', {}, 403],
    ['wrong token', { 'x-csrf-token': 'x'.repeat(csrf.length) }, 403],
    ['short token', { 'x-csrf-token': 'x' }, 403],
    ['token', { 'x-csrf-token': csrf }, 200],
    ['token, same origin', { 'x-csrf-token': csrf, origin: 'http://localhost' }, 200],
    ['token, evil origin', { 'x-csrf-token': csrf, origin: 'https://evil.example' }, 403],
    ['token, null origin', { 'x-csrf-token': csrf, origin: 'null' }, 403],
    ['token, cross-site fetch', { 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' }, 403],
    ['token, same-site fetch', { 'x-csrf-token': csrf, 'sec-fetch-site': 'same-site' }, 403],
    ['token, same-origin fetch', { 'x-csrf-token': csrf, 'sec-fetch-site': 'same-origin' }, 200],
    ['token, user-initiated', { 'x-csrf-token': csrf, 'sec-fetch-site': 'none' }, 200],
    ['token, evil referer', { 'x-csrf-token': csrf, referer: 'https://evil.example/page' }, 403],
    ['token, bad referer', { 'x-csrf-token': csrf, referer: 'not a url' }, 403],
    ['token, own referer', { 'x-csrf-token': csrf, referer: 'http://localhost:80/page' }, 200],
    ['evil origin, no token', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, 403]
  ]
  for (const [name, headers, status] of cases) {
    const response = await post(headers)
    t.equal(response.statusCode, status, name)
    if (status === 403) t.same(response.json(), refused, name)
  }
  const form = await app.inject({ method: 'POST', url: '/edit', cookies: { [COOKIE]: session }, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' })
  t.equal(form.statusCode, 403, 'a form post is refused before its body is parsed')
  t.equal((await app.inject({ url: '/view', cookies: { [COOKIE]: session } })).statusCode, 200, 'safe methods need no token')
  t.equal((await app.inject({ method: 'POST', url: '/session' })).statusCode, 200, 'no session cookie, no CSRF check')
})

t.test('CSRF: configured origins and header; csrf: false turns it off', async (t) => {
  const { app } = await buildCookieApp({ csrf: { header: 'X-XSRF', cookieName: 'xsrf', origins: ['https://app.example'] } })
  const { session, csrf } = await login(app, {}, COOKIE)
  t.equal(csrf, undefined, 'the companion cookie has the configured name')
  const login2 = await app.inject({ method: 'POST', url: '/session' })
  const token = cookieValue(login2, 'xsrf') as string
  const cookie = cookieValue(login2, COOKIE) as string
  t.ok(session)
  t.equal((await app.inject({ method: 'POST', url: '/edit', cookies: { [COOKIE]: cookie }, headers: { 'x-xsrf': token, origin: 'https://app.example' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/edit', cookies: { [COOKIE]: cookie }, headers: { 'x-xsrf': token, origin: 'http://localhost' } })).statusCode, 403)
  const off = await buildCookieApp({ csrf: false })
  const offLogin = await login(off.app)
  t.equal(offLogin.csrf, undefined)
  t.equal(decodeJwt(offLogin.session).csrf, undefined)
  t.equal(offLogin.response.json().csrfToken, null)
  t.equal((await off.app.inject({ method: 'POST', url: '/edit', cookies: { [COOKIE]: offLogin.session } })).statusCode, 200)
})

t.test('a token without a csrf claim cannot make unsafe cookie requests', async (t) => {
  const { app } = await buildCookieApp()
  const token = await app.createJwtToken('alice', { roles: ['view'] })
  t.equal((await app.inject({ method: 'POST', url: '/edit', cookies: { [COOKIE]: token }, headers: { 'x-csrf-token': 'anything' } })).statusCode, 403)
})

t.test('replay after logout is accepted until exp without a revocation store (E10, documented)', async (t) => {
  const { app } = await buildCookieApp()
  const { session, csrf } = await login(app)
  await app.inject({ method: 'DELETE', url: '/session', cookies: { [COOKIE]: session }, headers: { 'x-csrf-token': csrf } })
  t.equal((await app.inject({ url: '/view', cookies: { [COOKIE]: session } })).statusCode, 200)
})

t.test('secure: auto follows the connection (behind a proxy, with trustProxy)', async (t) => {
  const app = Fastify({ trustProxy: true })
  await app.register(jwtSecurity, { secret: SECRET, policy: new JwtCookiePolicy({ cookieName: 'session', secure: 'auto' }) })
  app.post('/session', async (request, reply) => { await reply.remember('alice'); return 'ok' })
  const plain = await app.inject({ method: 'POST', url: '/session' })
  t.notMatch(setCookies(plain)[0], /Secure/)
  const tls = await app.inject({ method: 'POST', url: '/session', headers: { 'x-forwarded-proto': 'https' } })
  t.match(setCookies(tls)[0], /; Secure;/)
})

t.test('pyramid_jwt cookie format, to share sessions with a Pyramid service', async (t) => {
  const { app } = await buildCookieApp({ cookieFormat: 'pyramid', cookieName: 'Authorization', secure: true })
  const response = await app.inject({ method: 'POST', url: '/session' })
  const value = cookieValue(response, 'Authorization') as string
  t.match(value, /^[A-Za-z0-9_-]+=*$/)
  const token = decodePyramidCookie(value) as string
  t.equal(decodeJwt(token).sub, 'alice')
  // What Python's base64.urlsafe_b64encode(json.dumps(token)) produces, padding included.
  t.equal(value, Buffer.from(`"${token}"`).toString('base64').replace(/\+/g, '-').replace(/\//g, '_'))
  t.equal(encodePyramidCookie(token), value)
  t.equal((await app.inject({ url: '/view', cookies: { Authorization: value } })).statusCode, 200)
  t.equal((await app.inject({ url: '/view', cookies: { Authorization: value.replace(/=+$/, '') } })).statusCode, 200, 'padding is optional on read')
  for (const bad of [token, 'e30=', 'IjEyMyI', '!!!', Buffer.from('123').toString('base64url')]) {
    const refused = await app.inject({ url: '/view', cookies: { Authorization: bad } })
    t.equal(refused.statusCode, 401)
    t.equal(refused.headers['www-authenticate'], INVALID_TOKEN)
  }
  t.equal(decodePyramidCookie('bm90IGpzb24'), null)
})

t.test('an app that registered @fastify/cookie itself keeps it', async (t) => {
  const app = Fastify()
  await app.register(fastifyCookie, { secret: 'cookie-signing-secret-for-other-cookies' })
  await app.register(jwtSecurity, { secret: SECRET, policy: new JwtCookiePolicy({ cookieName: 'session' }) })
  app.post('/session', async (request, reply) => { await reply.remember('alice', { roles: ['view'] }); return 'ok' })
  app.get('/view', { config: { permission: 'view' } }, async (request) => request.authenticatedUserid)
  const session = cookieValue(await app.inject({ method: 'POST', url: '/session' }), 'session') as string
  t.equal((await app.inject({ url: '/view', cookies: { session } })).body, 'alice')
  // D8: the session cookie is the bare token, never signed by @fastify/cookie (the JWT's own
  // signature is the integrity check); a value with a cookie signature appended is not unwrapped.
  const signed = app.signCookie(session)
  t.not(signed, session)
  const refused = await app.inject({ url: '/view', cookies: { session: signed } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['www-authenticate'], INVALID_TOKEN)
})

t.test('cookies are read even when @fastify/cookie parses them later than onRequest', async (t) => {
  const app = Fastify()
  await app.register(fastifyCookie, { hook: 'preHandler' })
  await app.register(jwtSecurity, { secret: SECRET, policy: new JwtCookiePolicy({ cookieName: 'session' }) })
  app.get('/view', { config: { permission: 'view' } }, async (request) => request.authenticatedUserid)
  const token = await app.createJwtToken('alice', { roles: ['view'] })
  t.equal((await app.inject({ url: '/view', cookies: { session: token } })).body, 'alice')
  t.equal((await app.inject({ url: '/view' })).statusCode, 401)
  t.equal((await app.inject({ url: '/view', cookies: { session: '' } })).statusCode, 401)
})

t.test('csrfToken() outside a session', async (t) => {
  const policy = new JwtCookiePolicy()
  t.equal(policy.csrfToken({ jwtClaims: null } as never), null)
  t.equal(policy.csrfToken({ jwtClaims: { csrf: 'abc' } } as never), 'abc')
  t.equal(policy.csrfToken({ jwtClaims: { csrf: 5 } } as never), null)
})

t.test('the session cookie must arrive verbatim: no trimmed spaces, no percent-encoding (B3, B4)', async (t) => {
  const { app } = await buildCookieApp()
  const { session } = await login(app)
  const view = (cookie: string) => app.inject({ url: '/view', headers: { cookie } })
  for (const cookie of [`${COOKIE}=${session}`, `a=1; ${COOKIE}=${session}`, `x${COOKIE}=${session}; ${COOKIE}=${session}`, `q= ${COOKIE}=${session}X; ${COOKIE}=${session}`]) {
    t.equal((await view(cookie)).statusCode, 200, cookie.replace(session, '<token>'))
  }
  for (const cookie of [`${COOKIE}= ${session}`, `${COOKIE}=${session} `, `${COOKIE}=${session.replace(/\./g, '%2E')}`, `${COOKIE}="${session}"`]) {
    const response = await view(cookie)
    t.equal(response.statusCode, 401, cookie.replace(session, '<token>'))
    t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
  }
})

t.test('a session or CSRF cookie sent twice authenticates neither: 401 invalid_token, anonymous with the reason, no reissue (cookie tossing)', async (t) => {
  const { app, clock } = await buildCookieApp({ reissueTime: '15m' })
  const attacker = await login(app, { userid: 'mallory' })
  const victim = await login(app)
  clock.now += 16 * 60_000
  const cases: Array<[string, string]> = [
    ['two session cookies', `${COOKIE}=${attacker.session}; ${COOKIE}=${victim.session}`],
    ['the same value twice', `${COOKIE}=${victim.session}; ${COOKIE}=${victim.session}`],
    ['a second one after other cookies, with spaces before its "="', `${COOKIE}=${victim.session}; a=1;\t${COOKIE} =${attacker.session}`],
    ['a second CSRF cookie', `${COOKIE}=${victim.session}; ${COOKIE}-csrf=${victim.csrf}; ${COOKIE}-csrf=${attacker.csrf}`],
    ['an empty one first', `${COOKIE}=; ${COOKIE}=${victim.session}`]
  ]
  for (const [name, cookie] of cases) {
    const view = await app.inject({ url: '/view', headers: { cookie } })
    t.equal(view.statusCode, 401, name)
    t.equal(view.headers['www-authenticate'], INVALID_TOKEN, `${name}: the challenge`)
    t.equal(view.headers['set-cookie'], undefined, `${name}: no reissue`)
    const open = await app.inject({ url: '/public', headers: { cookie } })
    t.same(open.json(), { userid: null, failure: { error: 'invalid_token', reason: 'cookie_duplicated' } }, `${name}: anonymous on an open route`)
    t.equal(open.headers['set-cookie'], undefined, `${name}: no reissue on an open route`)
  }
  // One Cookie header per cookie, as HTTP/2 clients send them: Node joins them with "; ".
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  const status = await new Promise<number | undefined>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/view', headers: { cookie: [`${COOKIE}=${attacker.session}`, `${COOKIE}=${victim.session}`] } }, (response) => {
      response.resume()
      resolve(response.statusCode)
    }).on('error', reject).end()
  })
  t.equal(status, 401, 'two Cookie headers')
  t.equal((await app.inject({ url: '/view', headers: { cookie: `${COOKIE}=${victim.session}; x${COOKIE}=1; ${COOKIE}-csrfx=2` } })).statusCode, 200,
    'names that only contain the cookie\'s name are other cookies')
})

t.test('a cookie sent twice is logged at info with its name and reason, never its value', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(jwtSecurity, { secret: SECRET, expiresIn: '2h', policy: new JwtCookiePolicy() })
  app.get('/public', async (request) => request.authFailure)
  const token = await app.createJwtToken('alice')
  const response = await app.inject({ url: '/public', headers: { cookie: `${COOKIE}=${token}; ${COOKIE}=${token}x` } })
  t.same(response.json(), { error: 'invalid_token', reason: 'cookie_duplicated' })
  const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.cookie !== undefined)
  t.equal(logged.length, 1)
  t.match(logged[0], { level: 30, cookie: COOKIE, authFailure: { reason: 'cookie_duplicated' } })
  t.notOk(lines.some((line) => line.includes(token.split('.')[2] as string)), 'no token in any line')
})

t.test('hostDomain sets and clears the cookies with Domain=<the request host>, as pyramid_jwt does', async (t) => {
  const { app } = await buildCookieApp({ cookieName: 'session', hostDomain: true })
  const response = await app.inject({ method: 'POST', url: '/session', headers: { host: 'app.example.org:8443' } })
  const cookies = setCookies(response)
  const clearHostOnly = [
    'session=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
    'session-csrf=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=Lax'
  ]
  t.same(cookies.slice(0, 2), clearHostOnly, 'a host-only cookie left by an earlier setting is cleared, so that it cannot sit beside the new one')
  t.match(cookies[2], /^session=[^;]+; Max-Age=7200; Domain=app\.example\.org; Path=\/; /)
  t.match(cookies[3], /^session-csrf=[^;]+; Max-Age=7200; Domain=app\.example\.org; Path=\/; /)
  const out = await app.inject({ method: 'DELETE', url: '/session', headers: { host: 'app.example.org' } })
  t.same(setCookies(out), [
    'session=; Max-Age=0; Domain=app.example.org; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
    'session-csrf=; Max-Age=0; Domain=app.example.org; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=Lax',
    ...clearHostOnly
  ], 'forget clears both variants')
  const literal = setCookies(await app.inject({ method: 'POST', url: '/session', headers: { host: '[::1]:3000' } }))
  t.equal(literal.length, 2, 'a host a cookie cannot name: host-only cookies, nothing else to clear')
  t.notMatch(literal[0], /Domain=/)
  for (const [options, message] of [
    [{ cookieName: 'session', hostDomain: 'yes' }, /"hostDomain": expected true or false/],
    [{ cookieName: 'session', hostDomain: true, domains: ['example.org'] }, /"hostDomain": cannot be combined with domains/],
    [{ hostDomain: true }, /"cookieName": __Host- cookies need secure: true, no domains, no hostDomain/]
  ] as Array<[object, RegExp]>) {
    t.match(caught(() => new JwtCookiePolicy(options as JwtCookiePolicyOptions)), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message })
  }
})

t.test('cookie options are validated at construction', async (t) => {
  const production = process.env.NODE_ENV
  t.teardown(() => { process.env.NODE_ENV = production })
  const cases: Array<[unknown, RegExp]> = [
    [{ cookieName: 'bad name' }, /"cookieName"/],
    [{ cookieName: '' }, /"cookieName"/],
    [{ path: 'relative' }, /"path"/],
    [{ path: '/a;b' }, /"path"/],
    [{ cookieName: 's', domains: 'example.org' }, /"domains"/],
    [{ cookieName: 's', domains: ['exa mple.org'] }, /"domains"/],
    [{ secure: 'yes' }, /"secure"/],
    [{ sameSite: 'None' }, /"sameSite"/],
    [{ cookieName: 's', sameSite: 'none', secure: 'auto' }, /"sameSite": 'none' needs secure: true/],
    [{ secure: false }, /"cookieName": __Host- cookies need/],
    [{ domains: ['example.org'] }, /"cookieName": __Host-/],
    [{ path: '/app' }, /"cookieName": __Host-/],
    [{ cookieName: '__Secure-s', secure: 'auto' }, /"cookieName": __Secure- cookies need secure: true/],
    [{ cookieFormat: 'webob' }, /"cookieFormat"/],
    [{ onReissue: 'x' }, /"onReissue"/],
    [{ reissueTime: '1 hour' }, /"reissueTime"/],
    [{ maxSessionAge: 0 }, /"maxSessionAge"/],
    [{ csrf: { header: 'bad header' } }, /"csrf.header"/],
    [{ csrf: { cookieName: '__Host-session' } }, /"csrf.cookieName"/],
    [{ csrf: { origins: ['https://app.example/path'] } }, /"csrf.origins"/],
    [{ csrf: { origins: ['not a url'] } }, /"csrf.origins"/],
    [{ csrf: { origins: 'https://app.example' } }, /"csrf.origins": expected an array/],
    [{ csrf: { header: 'x-csrf', orgins: [] } }, /"csrf.orgins": unknown option/],
    [{ csrf: 'on' }, /"csrf": expected an object/],
    [{ cookieName: 's', secure: 'auto', csrf: { cookieName: '__Host-csrf' } }, /"csrf.cookieName": __Host- cookies need/],
    [{ cookieName: 's', secure: false, csrf: { cookieName: '__Secure-csrf' } }, /"csrf.cookieName": __Secure- cookies need/],
    [{ cookiename: 'session' }, /"cookiename": unknown option/],
    [null, /"options": expected an object/]
  ]
  for (const [options, message] of cases) {
    const error = caught(() => new JwtCookiePolicy(options as never))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', JSON.stringify(options))
    t.match(error.message, message)
  }
  process.env.NODE_ENV = 'production'
  t.match(caught(() => new JwtCookiePolicy({ cookieName: 's', secure: false })).message, /"secure": false is refused when NODE_ENV is production/)
  t.ok(new JwtCookiePolicy({ cookieName: 's', secure: 'auto' }))
  process.env.NODE_ENV = 'development'
  t.ok(new JwtCookiePolicy({ cookieName: 's', secure: false }))
})

t.test('cookie options that contradict the token settings fail at register', async (t) => {
  const cases: Array<[object, object, RegExp]> = [
    [{ reissueTime: '2h' }, { expiresIn: '2h' }, /"reissueTime": must be shorter than expiresIn/],
    [{ reissueTime: '3h' }, { expiresIn: '2h' }, /"reissueTime"/],
    [{}, { expiresIn: false }, /"expiresIn": the cookie policy needs tokens that expire/]
  ]
  for (const [policyOptions, options, message] of cases) {
    const app = Fastify()
    app.register(jwtSecurity, { secret: SECRET, ...options, policy: new JwtCookiePolicy(policyOptions) })
    const error = await rejected(app.ready())
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION')
    t.match(error.message, message)
  }
})
