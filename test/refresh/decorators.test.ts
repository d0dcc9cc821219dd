import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import t, { type Test } from 'tap'
import jwtSecurity, {
  MemoryDpopReplayStore, MemoryRefreshStore, MemoryRevocationStore, NO_PERMISSION_REQUIRED, type JwtSecurityOptions, type RefreshFamily, type RefreshOptions, type RefreshStore, type TokenPair
} from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { login, refreshJson } from '../helpers/refresh-requests.js'
import { DpopClient, PUBLIC_ORIGIN } from '../helpers/dpop-client.js'
import { keyPair } from '../helpers/keys.js'

// The refresh decorators through the plugin, answered by app.inject: reply.issueTokens, the
// refresh handler (rotation, the race, reuse ending the session), lifetimes with an injected clock,
// logout, the account-page pair, the cookie transport, DPoP-bound sessions, outages and options.

const START = Date.parse('2030-01-01T00:00:00Z')
const ISSUER = 'https://auth.example'
const NONCE_SECRET = 'a-nonce-secret-of-more-than-32-bytes-0123456789'
const INVALID_GRANT = { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked' }
const NO_TOKEN = { error: 'invalid_request', error_description: 'The request has no refresh token' }
const UNSUPPORTED_GRANT = { error: 'unsupported_grant_type', error_description: 'Only grant_type=refresh_token is accepted here' }
const HEADER_MISSING = { error: 'invalid_request', error_description: 'The refresh request lacks its required header' }
const REVOKED = { error: 'invalid_token', reason: 'token_revoked' }
const REFRESH_TOKEN = /^rt\.[A-Za-z0-9_-]{22}\.(0|[1-9][0-9]*)\.[A-Za-z0-9_-]{43}$/
const REFUSED = 'a refresh token was refused'
const CLEARED = '__Secure-refresh=; Max-Age=0; Path=/auth/refresh; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict'

interface LogLine { level: number, msg: string, reason?: string }

interface Harness {
  app: FastifyInstance
  clock: { now: number }
  lines: LogLine[]
}

/**
 * An app with the refresh option, a MemoryRevocationStore and the plugin on one fake clock: POST
 * /login (body username, roles), POST /auth/refresh (the refresh handler), GET /me (authenticated),
 * GET /public (what the plugin made of the credentials), POST /logout (reply.forget()).
 */
async function refreshApp (t: Test, {
  refresh = {},
  options = {},
  routes = () => {},
  start = START
}: {
  refresh?: RefreshOptions | ((clock: { now: number }) => RefreshOptions)
  options?: Partial<JwtSecurityOptions>
  routes?: (app: FastifyInstance) => void
  start?: number
} = {}): Promise<Harness> {
  const clock = { now: start }
  const lines: LogLine[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
  // A token endpoint takes forms (RFC 6749 §6); Fastify parses JSON only.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  await app.register(jwtSecurity, {
    secret: SECRET,
    issuer: ISSUER,
    now: () => clock.now,
    revocation: new MemoryRevocationStore({ now: () => clock.now }),
    refresh: typeof refresh === 'function' ? refresh(clock) : refresh,
    ...options
  })
  app.post('/login', { config: { permission: NO_PERMISSION_REQUIRED } }, async (request, reply) => {
    const { username = 'alice', roles } = (request.body ?? {}) as { username?: string, roles?: string[] }
    return await reply.issueTokens(username, roles === undefined ? {} : { roles })
  })
  app.post('/auth/refresh', app.refreshHandler())
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => ({ userid: request.authenticatedUserid, claims: request.jwtClaims }))
  app.get('/public', async (request) => ({ userid: request.authenticatedUserid, failure: request.authFailure }))
  app.post('/logout', { preHandler: app.permits('system.Authenticated') }, async (_request, reply) => { await reply.forget(); return { ok: true } })
  routes(app)
  t.teardown(() => app.close())
  await app.ready()
  return { app, clock, lines }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function refreshForm (app: FastifyInstance, parameters: Record<string, string>): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/auth/refresh',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(parameters).toString()
  })
}

async function meStatus (app: FastifyInstance, token: string): Promise<number> {
  return (await app.inject({ url: '/me', headers: bearer(token) })).statusCode
}

async function failureOf (app: FastifyInstance, token: string): Promise<unknown> {
  return (await app.inject({ url: '/public', headers: bearer(token) })).json().failure
}

/** The reasons of the refused refreshes, as the handler logged them (the client is told invalid_grant only). */
const refusals = (lines: LogLine[]): Array<string | undefined> => lines.filter((line) => line.msg === REFUSED).map((line) => line.reason)
const familyOf = (refreshToken: string): string => refreshToken.split('.')[1] as string
const generationOf = (refreshToken: string): number => Number(refreshToken.split('.')[2])

t.test('reply.issueTokens answers RFC 6749 §5.1; the access token works and names its session', async (t) => {
  const { app } = await refreshApp(t)
  const response = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice', roles: ['editor'] } })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['cache-control'], 'no-store', 'no cache may keep a token response')
  t.match(response.headers['content-type'], /^application\/json/)
  const body = response.json()
  t.strictSame(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 300, 'accessTokenLifetime, 5 minutes by default')
  t.match(body.refresh_token, REFRESH_TOKEN)
  t.equal(generationOf(body.refresh_token), 0)

  const claims = decodeJwt(body.access_token)
  t.equal(claims.sub, 'alice')
  t.equal(claims.iss, ISSUER)
  t.equal(claims.sid, familyOf(body.refresh_token), 'sid is the session\'s id')
  t.equal(claims.auth_time, START / 1000, 'auth_time is when the session opened')
  t.equal(claims.iat, START / 1000)
  t.equal(claims.exp, START / 1000 + 300)
  t.strictSame(claims.roles, ['editor'], 'the login\'s claims')

  const me = await app.inject({ url: '/me', headers: bearer(body.access_token) })
  t.equal(me.statusCode, 200)
  t.equal(me.json().userid, 'alice')
  t.equal(me.json().claims.sid, claims.sid)

  const [session] = await app.listSessions('alice')
  t.equal(session?.id, claims.sid, 'the session listed is the one the token names')

  const refreshed = await refreshJson(app, body.refresh_token)
  t.strictSame(decodeJwt(refreshed.json().access_token).roles, ['editor'], 'the next access tokens carry the login\'s claims too')
})

t.test('a refresh rotates, as a form and as JSON; a rotated token used again ends the session and its access tokens', async (t) => {
  const { app, clock, lines } = await refreshApp(t, { refresh: { reuseGrace: '2s' } })
  const first = await login(app)
  const sid = familyOf(first.refresh_token)

  clock.now += 10_000
  const formAnswer = await refreshForm(app, { grant_type: 'refresh_token', refresh_token: first.refresh_token })
  t.equal(formAnswer.statusCode, 200, 'a form body')
  t.equal(formAnswer.headers['cache-control'], 'no-store')
  const second: TokenPair = formAnswer.json()
  t.strictSame(Object.keys(second).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
  t.equal(second.token_type, 'Bearer')
  t.equal(second.expires_in, 300)
  t.equal(familyOf(second.refresh_token), sid, 'the same session')
  t.equal(generationOf(second.refresh_token), 1, 'the next generation')
  t.not(second.access_token, first.access_token)
  t.equal(decodeJwt(second.access_token).sid, sid)
  t.equal(decodeJwt(second.access_token).iat, START / 1000 + 10, 'a new access token')
  t.equal(decodeJwt(second.access_token).auth_time, START / 1000, 'auth_time stays the login\'s')

  clock.now += 10_000
  const jsonAnswer = await refreshJson(app, second.refresh_token)
  t.equal(jsonAnswer.statusCode, 200, 'a JSON body')
  const third: TokenPair = jsonAnswer.json()
  t.equal(generationOf(third.refresh_token), 2)
  const accessTokens = [first.access_token, second.access_token, third.access_token]
  for (const token of accessTokens) t.equal(await meStatus(app, token), 200, 'a rotation leaves the access tokens issued so far valid')

  // The thief replays the token it stole before the user's last refresh, after the grace.
  clock.now += 2_001
  const reused = await refreshJson(app, second.refresh_token)
  t.equal(reused.statusCode, 400)
  t.strictSame(reused.json(), INVALID_GRANT)
  t.equal(reused.headers['cache-control'], 'no-store')
  for (const token of accessTokens) {
    t.equal(await meStatus(app, token), 401, 'every access token of the session is refused')
    t.strictSame(await failureOf(app, token), REVOKED)
  }
  const users = await refreshJson(app, third.refresh_token)
  t.equal(users.statusCode, 400, 'the user\'s next refresh fails too: both log in again')
  t.strictSame(users.json(), INVALID_GRANT)
  t.equal((await refreshJson(app, second.refresh_token)).statusCode, 400, 'and so does the thief\'s next one')
  t.strictSame(await app.listSessions('alice'), [], 'the session is gone')
  t.strictSame(refusals(lines), ['refresh_token_reused', 'refresh_token_unknown', 'refresh_token_unknown'])
  t.equal(lines.filter((line) => line.msg === 'a rotated refresh token was used again: its session is ended, access tokens included' && line.level === 40).length, 1)

  // A token two generations old ends the session at once, however soon it comes.
  const other = await login(app)
  const next: TokenPair = (await refreshJson(app, other.refresh_token)).json()
  const last: TokenPair = (await refreshJson(app, next.refresh_token)).json()
  t.equal(generationOf(last.refresh_token), 2)
  t.strictSame((await refreshJson(app, other.refresh_token)).json(), INVALID_GRANT, 'generation 0 while the session is at 2, within the grace of the last rotation')
  t.equal((await refreshJson(app, last.refresh_token)).statusCode, 400)
  t.equal(await meStatus(app, last.access_token), 401)
})

t.test('the race: two refreshes with one token at once both get the session\'s next refresh token, within reuseGrace only', async (t) => {
  const { app, clock, lines } = await refreshApp(t, { refresh: { reuseGrace: '2s' } })
  const first = await login(app)
  const [a, b] = await Promise.all([refreshJson(app, first.refresh_token), refreshJson(app, first.refresh_token)])
  t.same([a.statusCode, b.statusCode], [200, 200], 'both tabs succeed')
  const pairA: TokenPair = a.json()
  const pairB: TokenPair = b.json()
  t.equal(pairA.refresh_token, pairB.refresh_token, 'the same refresh token')
  t.equal(generationOf(pairA.refresh_token), 1, 'one rotation, not two')
  t.not(pairA.access_token, pairB.access_token, 'each its own access token')
  for (const token of [pairA.access_token, pairB.access_token]) t.equal(await meStatus(app, token), 200)

  clock.now += 2_000
  const late = await refreshJson(app, first.refresh_token)
  t.equal(late.statusCode, 200, 'still within the grace at reuseGrace')
  t.equal(late.json().refresh_token, pairA.refresh_token)
  clock.now += 1
  t.strictSame((await refreshJson(app, first.refresh_token)).json(), INVALID_GRANT, 'past it: a reuse')
  t.equal(await meStatus(app, pairA.access_token), 401)
  t.strictSame(refusals(lines), ['refresh_token_reused'])
})

t.test('request errors: RFC 6749 §5.2 bodies, 400, never a 500; access and refresh tokens are never taken for each other', async (t) => {
  const { app, lines } = await refreshApp(t)
  const pair = await login(app)

  const empty = await app.inject({ method: 'POST', url: '/auth/refresh' })
  t.equal(empty.statusCode, 400, 'no body')
  t.strictSame(empty.json(), NO_TOKEN)
  t.equal(empty.headers['cache-control'], 'no-store')
  for (const payload of [{}, { grant_type: 'refresh_token' }, { refresh_token: '' }, { refresh_token: 42 }, { refresh_token: [pair.refresh_token] }]) {
    const response = await app.inject({ method: 'POST', url: '/auth/refresh', payload })
    t.equal(response.statusCode, 400, JSON.stringify(payload))
    t.strictSame(response.json(), NO_TOKEN)
  }
  t.strictSame((await refreshForm(app, { grant_type: 'refresh_token' })).json(), NO_TOKEN, 'a form without refresh_token')

  for (const grantType of ['password', 'client_credentials', 'authorization_code', '']) {
    const response = await refreshForm(app, { grant_type: grantType, refresh_token: pair.refresh_token })
    t.equal(response.statusCode, 400, `grant_type=${grantType}`)
    t.strictSame(response.json(), UNSUPPORTED_GRANT)
    t.equal(response.headers['cache-control'], 'no-store')
  }
  const ignoredProof = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { dpop: 'not-a-proof' }, payload: { refresh_token: pair.refresh_token } })
  t.equal(ignoredProof.statusCode, 200, 'without the dpop option, a DPoP header means nothing, as on every other route')
  const rotatedOnce: TokenPair = ignoredProof.json()
  t.equal(rotatedOnce.token_type, 'Bearer')
  const withoutGrantType = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: rotatedOnce.refresh_token } })
  t.equal(withoutGrantType.statusCode, 200, 'a JSON body may leave grant_type out')
  const current: TokenPair = withoutGrantType.json()

  const accessAsRefresh = await refreshJson(app, current.access_token)
  t.equal(accessAsRefresh.statusCode, 400, 'an access token is not a refresh token')
  t.strictSame(accessAsRefresh.json(), INVALID_GRANT)
  t.strictSame(refusals(lines), ['refresh_token_malformed'])
  t.equal(await meStatus(app, current.access_token), 200, 'and trying it ends nothing')

  const refreshAsAccess = await app.inject({ url: '/me', headers: bearer(current.refresh_token) })
  t.equal(refreshAsAccess.statusCode, 401, 'a refresh token is never an access token')
  t.equal(refreshAsAccess.json().code, 'FST_JWT_SECURITY_INVALID_TOKEN')
  t.strictSame(await failureOf(app, current.refresh_token), { error: 'invalid_token', reason: 'token_malformed' })
  t.equal((await app.inject({ url: '/public', headers: bearer(current.refresh_token) })).json().userid, null)
  t.equal((await refreshJson(app, current.refresh_token)).statusCode, 200, 'the refresh token itself is still good')
})

t.test('lifetimes with an injected clock: an idle session ends; none outlives maxSessionAge', async (t) => {
  // The refresh store on the plugin's clock: the store lets an idle session expire.
  const onClock = await refreshApp(t, { refresh: (clock) => ({ idleTimeout: '1h', maxSessionAge: '1d', store: new MemoryRefreshStore({ now: () => clock.now }) }) })
  const kept = await login(onClock.app)
  onClock.clock.now += 3_599_999
  const renewed = await refreshJson(onClock.app, kept.refresh_token)
  t.equal(renewed.statusCode, 200, 'used 1 ms before idleTimeout: still alive')
  onClock.clock.now += 3_600_001
  t.strictSame((await refreshJson(onClock.app, renewed.json().refresh_token)).json(), INVALID_GRANT, 'idle for idleTimeout and 1 ms')
  t.strictSame(refusals(onClock.lines), ['refresh_token_unknown'], 'gone from the store')

  // The default store keeps time by Date.now: the session checks the plugin's clock itself.
  const idle = await refreshApp(t, { refresh: { idleTimeout: '1h', maxSessionAge: '1d' } })
  const pair = await login(idle.app)
  idle.clock.now += 3_600_001
  const refused = await refreshJson(idle.app, pair.refresh_token)
  t.equal(refused.statusCode, 400)
  t.strictSame(refused.json(), INVALID_GRANT)
  t.strictSame(refusals(idle.lines), ['session_idle'])
  t.strictSame(await idle.app.listSessions('alice'), [], 'the idle session is ended')

  // Used every 50 minutes, a session still ends at maxSessionAge.
  const aging = await refreshApp(t, { refresh: { idleTimeout: '1h', maxSessionAge: '3h' } })
  let token = (await login(aging.app)).refresh_token
  for (let step = 1; step <= 3; step++) {
    aging.clock.now += 3_000_000
    const answer = await refreshJson(aging.app, token)
    t.equal(answer.statusCode, 200, `refresh ${step}, at ${step * 50} minutes`)
    token = answer.json().refresh_token
  }
  const [session] = await aging.app.listSessions('alice')
  t.equal(session?.expiresAt.getTime(), START + 3 * 3_600_000, 'expiresAt is the absolute end')
  t.equal(session?.lastUsedAt.getTime(), START + 9_000_000)
  aging.clock.now = START + 3 * 3_600_000 - 1
  const lastOne = await refreshJson(aging.app, token)
  t.equal(lastOne.statusCode, 200, '1 ms before maxSessionAge')
  t.equal(lastOne.json().expires_in, 1, 'no access token outlives its session')
  t.equal(decodeJwt(lastOne.json().access_token).exp, Math.floor((START + 3 * 3_600_000) / 1000))
  aging.clock.now = START + 3 * 3_600_000
  t.strictSame((await refreshJson(aging.app, lastOne.json().refresh_token)).json(), INVALID_GRANT, 'at maxSessionAge')
  t.strictSame(refusals(aging.lines), ['session_expired'])
  t.equal(await meStatus(aging.app, lastOne.json().access_token), 401, 'its last access token has expired with it')
  t.strictSame(await failureOf(aging.app, lastOne.json().access_token), { error: 'invalid_token', reason: 'token_expired', claim: 'exp' })
})

t.test('reply.forget() ends the session of the access token; revokeAllFor ends every session of the user, no other', async (t) => {
  const { app, clock } = await refreshApp(t)
  const phone = await login(app)
  const laptop = await login(app)
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: bearer(phone.access_token) })
  t.equal(logout.statusCode, 200)
  t.strictSame((await refreshJson(app, phone.refresh_token)).json(), INVALID_GRANT, 'the session\'s refresh token is refused')
  t.strictSame(await failureOf(app, phone.access_token), REVOKED)
  t.strictSame((await app.listSessions('alice')).map((session) => session.id), [familyOf(laptop.refresh_token)], 'the other session stays')
  const laptopNext = await refreshJson(app, laptop.refresh_token)
  t.equal(laptopNext.statusCode, 200, 'and refreshes')
  t.equal(await meStatus(app, laptop.access_token), 200)

  const tablet = await login(app)
  const bob = await login(app, 'bob')
  await app.revokeAllFor('alice')
  for (const refreshToken of [laptopNext.json().refresh_token, tablet.refresh_token]) {
    t.strictSame((await refreshJson(app, refreshToken)).json(), INVALID_GRANT, 'every session of alice ends')
  }
  for (const access of [laptopNext.json().access_token, tablet.access_token]) t.equal(await meStatus(app, access), 401)
  t.strictSame(await app.listSessions('alice'), [])
  t.equal(await meStatus(app, bob.access_token), 200, 'bob\'s access token still works')
  const bobNext = await refreshJson(app, bob.refresh_token)
  t.equal(bobNext.statusCode, 200, 'and his session refreshes')
  t.equal(await meStatus(app, bobNext.json().access_token), 200)

  clock.now += 1_000
  const again = await login(app)
  t.equal(await meStatus(app, again.access_token), 200, 'alice logs in again afterwards')
  t.equal((await refreshJson(app, again.refresh_token)).statusCode, 200)
})

t.test('listSessions shows no secret; endSession ends only a session of the user', async (t) => {
  const { app, clock } = await refreshApp(t, { refresh: { maxSessionAge: '30d' } })
  const first = await login(app)
  clock.now += 60_000
  const second = await login(app)
  const bob = await login(app, 'bob')
  clock.now += 60_000
  const rotated: TokenPair = (await refreshJson(app, first.refresh_token)).json()

  const sessions = await app.listSessions('alice')
  t.equal(sessions.length, 2)
  for (const session of sessions) t.strictSame(Object.keys(session).sort(), ['createdAt', 'dpopBound', 'expiresAt', 'id', 'lastUsedAt'])
  t.strictSame(sessions, [
    { id: familyOf(first.refresh_token), createdAt: new Date(START), lastUsedAt: new Date(START + 120_000), expiresAt: new Date(START + 30 * 86_400_000), dpopBound: false },
    { id: familyOf(second.refresh_token), createdAt: new Date(START + 60_000), lastUsedAt: new Date(START + 60_000), expiresAt: new Date(START + 60_000 + 30 * 86_400_000), dpopBound: false }
  ], 'oldest first')
  const text = JSON.stringify(sessions)
  for (const token of [first.refresh_token, rotated.refresh_token, second.refresh_token]) t.notOk(text.includes(token.split('.')[3] as string), 'no MAC of a refresh token')
  t.strictSame(await app.listSessions('nobody'), [])

  const bobId = familyOf(bob.refresh_token)
  t.equal(await app.endSession('alice', bobId), false, 'another user\'s session is refused by its id')
  t.equal((await refreshJson(app, bob.refresh_token)).statusCode, 200, 'and left alone')
  t.equal(await app.endSession('alice', 'A'.repeat(22)), false, 'an unknown id')

  t.equal(await app.endSession('alice', familyOf(second.refresh_token)), true)
  t.strictSame((await refreshJson(app, second.refresh_token)).json(), INVALID_GRANT, 'the ended session cannot refresh')
  t.strictSame(await failureOf(app, second.access_token), REVOKED, 'its access token is revoked')
  t.equal(await meStatus(app, rotated.access_token), 200, 'the other session of alice goes on')
  t.equal(await app.endSession('alice', familyOf(second.refresh_token)), false, 'ended once')
  await t.rejects(app.endSession('alice', 42 as unknown as string), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: /^Invalid option "id"/ })
  t.strictSame((await app.listSessions('alice')).map((session) => session.id), [familyOf(first.refresh_token)])
})

t.test('the cookie transport: HttpOnly, Secure, SameSite=Strict on the refresh path; the header is required', async (t) => {
  const { app, clock } = await refreshApp(t, { refresh: { cookie: { path: '/auth/refresh' } } })
  const loginAnswer = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice' } })
  t.equal(loginAnswer.statusCode, 200)
  t.equal(loginAnswer.headers['cache-control'], 'no-store')
  const body = loginAnswer.json()
  t.strictSame(Object.keys(body).sort(), ['access_token', 'expires_in', 'token_type'], 'no refresh_token in the body')
  t.equal(loginAnswer.cookies.length, 1)
  const cookie = loginAnswer.cookies[0] as { name: string, value: string, [attribute: string]: unknown }
  t.match(cookie, { name: '__Secure-refresh', path: '/auth/refresh', httpOnly: true, secure: true, sameSite: 'Strict', maxAge: 30 * 86_400 })
  t.match(cookie.value, REFRESH_TOKEN)
  t.equal(decodeJwt(body.access_token).sid, familyOf(cookie.value))
  t.equal(loginAnswer.headers['set-cookie'], `__Secure-refresh=${cookie.value}; Max-Age=2592000; Path=/auth/refresh; HttpOnly; Secure; SameSite=Strict`)

  const withCookie = (value: string) => ({ cookie: `__Secure-refresh=${value}` })
  const noHeader = await app.inject({ method: 'POST', url: '/auth/refresh', headers: withCookie(cookie.value) })
  t.equal(noHeader.statusCode, 400, 'no x-refresh header: a cross-site form cannot refresh (the CSRF defence)')
  t.strictSame(noHeader.json(), HEADER_MISSING)
  t.equal(noHeader.headers['set-cookie'], undefined, 'and the cookie is left alone')
  const twice = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { cookie: `__Secure-refresh=${cookie.value}; __Secure-refresh=planted`, 'x-refresh': '1' } })
  t.equal(twice.statusCode, 400, 'two cookies of the name (one planted for a parent domain): neither is trusted')
  t.strictSame(twice.json(), { error: 'invalid_request', error_description: 'The refresh cookie was sent twice' })
  t.equal(twice.headers['set-cookie'], undefined)
  const noCookie = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { 'x-refresh': '1' }, payload: { refresh_token: cookie.value } })
  t.equal(noCookie.statusCode, 400, 'the body is not read in cookie mode')
  t.strictSame(noCookie.json(), NO_TOKEN)

  clock.now += 5_000
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...withCookie(cookie.value), 'x-refresh': '1' } })
  t.equal(refreshed.statusCode, 200)
  t.equal(refreshed.headers['cache-control'], 'no-store')
  t.strictSame(Object.keys(refreshed.json()).sort(), ['access_token', 'expires_in', 'token_type'])
  const next = refreshed.cookies.find((item) => item.name === '__Secure-refresh') as { value: string }
  t.equal(familyOf(next.value), familyOf(cookie.value))
  t.equal(generationOf(next.value), 1, 'the cookie is rotated')
  t.equal(await meStatus(app, refreshed.json().access_token), 200)

  clock.now += 5_000
  const reused = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...withCookie(cookie.value), 'x-refresh': '1' } })
  t.equal(reused.statusCode, 400)
  t.strictSame(reused.json(), INVALID_GRANT)
  t.equal(reused.headers['set-cookie'], CLEARED, 'a refused refresh clears the cookie')
  t.strictSame(await failureOf(app, refreshed.json().access_token), REVOKED)

  // Logout clears the cookie too.
  const again = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice' } })
  const logout = await app.inject({ method: 'POST', url: '/logout', headers: bearer(again.json().access_token) })
  t.equal(logout.statusCode, 200)
  t.equal(logout.headers['set-cookie'], CLEARED, 'logout clears it')
  const afterLogout = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...withCookie(again.cookies[0]?.value as string), 'x-refresh': '1' } })
  t.strictSame(afterLogout.json(), INVALID_GRANT)
})

t.test('the cookie transport with a name and a header of the app\'s own', async (t) => {
  const { app } = await refreshApp(t, { refresh: { cookie: { path: '/auth/refresh', name: 'refresh', header: 'X-Refresh-Request' } } })
  const loginAnswer = await app.inject({ method: 'POST', url: '/login', payload: {} })
  const value = loginAnswer.cookies.find((item) => item.name === 'refresh')?.value as string
  t.match(value, REFRESH_TOKEN)
  const headers = { cookie: `refresh=${value}` }
  t.strictSame((await app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...headers, 'x-refresh': '1' } })).json(), HEADER_MISSING, 'the default header is not the one')
  const ok = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { ...headers, 'x-refresh-request': 'yes' } })
  t.equal(ok.statusCode, 200)
  t.equal(generationOf(ok.cookies.find((item) => item.name === 'refresh')?.value as string), 1)
})

t.test('the refresh route stays open under defaultPermission; a permission of its own still applies', async (t) => {
  const { app, clock } = await refreshApp(t, {
    options: { defaultPermission: 'view' },
    routes: (app) => { app.post('/admin/refresh', { config: { permission: 'admin' } }, app.refreshHandler()) }
  })
  const pair = await login(app)
  clock.now += 301_000
  t.equal(await meStatus(app, pair.access_token), 401, 'the access token has expired')
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', headers: bearer(pair.access_token), payload: { refresh_token: pair.refresh_token } })
  t.equal(refreshed.statusCode, 200, 'which is why the client refreshes: the route needs no permission')
  t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshed.json().refresh_token } })).statusCode, 200, 'nor any credential')
  t.equal((await app.inject({ url: '/public' })).statusCode, 401, 'other routes get defaultPermission')
  const guarded = await app.inject({ method: 'POST', url: '/admin/refresh', payload: { refresh_token: refreshed.json().refresh_token } })
  t.equal(guarded.statusCode, 401, 'a route\'s own config.permission still applies')
})

t.test('DPoP-bound sessions: refreshed only with a proof of the session\'s key, the new access token bound', async (t) => {
  const { app, lines } = await refreshApp(t, { options: { dpop: { publicOrigin: PUBLIC_ORIGIN } }, routes: dpopLogin, start: Date.now() })
  const client = await DpopClient.create()
  const answer = await client.tokenRequest(app, '/dpop/login')
  t.equal(answer.status, 200, answer.body)
  const first = answer.json() as unknown as TokenPair
  t.equal(first.token_type, 'DPoP')
  t.strictSame(decodeJwt(first.access_token).cnf, { jkt: client.jkt }, 'the access token is bound')
  t.equal((await client.request(app, first.access_token, '/me')).status, 200)
  t.equal(await meStatus(app, first.access_token), 401, 'and refused as Bearer')
  t.strictSame((await app.listSessions('alice')).map((session) => session.dpopBound), [true])

  const refreshed = await refreshGrant(app, client, first.refresh_token)
  t.equal(refreshed.status, 200, refreshed.body)
  const second = refreshed.json() as unknown as TokenPair
  t.equal(second.token_type, 'DPoP')
  t.equal(generationOf(second.refresh_token), 1)
  t.strictSame(decodeJwt(second.access_token).cnf, { jkt: client.jkt }, 'the new access token is bound to the same key')
  t.equal((await client.request(app, second.access_token, '/me')).status, 200)

  const noProof = await refreshJson(app, second.refresh_token)
  t.equal(noProof.statusCode, 400, 'a stolen bound refresh token without a proof')
  t.strictSame(noProof.json(), INVALID_GRANT)
  const thief = await DpopClient.create()
  const otherKey = await refreshGrant(app, thief, second.refresh_token)
  t.equal(otherKey.status, 400, 'with a proof of another key')
  t.strictSame(otherKey.json(), INVALID_GRANT)
  const badProof = await app.inject({ method: 'POST', url: '/auth/refresh', headers: { dpop: 'not-a-proof' }, payload: { refresh_token: second.refresh_token } })
  t.equal(badProof.statusCode, 400, 'a proof that is not one')
  t.strictSame(badProof.json(), { error: 'invalid_dpop_proof', error_description: 'The DPoP proof is invalid' })
  t.equal(badProof.headers['cache-control'], 'no-store')
  t.strictSame(refusals(lines), ['dpop_key_mismatch', 'dpop_key_mismatch'])

  const third = await refreshGrant(app, client, second.refresh_token)
  t.equal(third.status, 200, 'none of them ended or rotated the session')
  t.equal(generationOf((third.json() as unknown as TokenPair).refresh_token), 2)
})

t.test('DPoP nonces at refresh: a proof without the current nonce gets use_dpop_nonce and the nonce', async (t) => {
  const { app } = await refreshApp(t, { options: { dpop: { publicOrigin: PUBLIC_ORIGIN, nonce: { secret: NONCE_SECRET } } }, routes: dpopLogin, start: Date.now() })
  const client = await DpopClient.create()
  const nonceFirst = await client.tokenRequest(app, '/dpop/login')
  t.equal(nonceFirst.status, 400, 'the first login is asked for the nonce')
  const answer = await client.tokenRequest(app, '/dpop/login')
  t.equal(answer.status, 200, answer.body)
  const pair = answer.json() as unknown as TokenPair

  const fresh = client.withoutNonces()
  const refused = await refreshGrant(app, fresh, pair.refresh_token)
  t.equal(refused.status, 400)
  t.strictSame(refused.json(), { error: 'use_dpop_nonce', error_description: 'The DPoP proof must carry the server\'s current nonce' })
  t.match(refused.headers.get('dpop-nonce'), /^[A-Za-z0-9_-]+$/, 'with the nonce to use')
  t.equal(refused.headers.get('cache-control'), 'no-store')
  const retried = await refreshGrant(app, fresh, pair.refresh_token)
  t.equal(retried.status, 200, 'oauth4webapi kept the nonce: the retry passes')
  t.equal(generationOf((retried.json() as unknown as TokenPair).refresh_token), 1, 'the refused attempt rotated nothing')
})

t.test('a DPoP-bound session in the refresh cookie: a refresh without the key\'s proof leaves the cookie, any other refusal clears it', async (t) => {
  const { app } = await refreshApp(t, { refresh: { cookie: { path: '/auth/refresh' } }, options: { dpop: { publicOrigin: PUBLIC_ORIGIN } }, routes: dpopLogin, start: Date.now() })
  const client = await DpopClient.create()
  const answer = await client.tokenRequest(app, '/dpop/login')
  t.equal(answer.status, 200, answer.body)
  t.strictSame(Object.keys(answer.json()).sort(), ['access_token', 'expires_in', 'token_type'])
  t.equal(answer.json().token_type, 'DPoP')
  const value = /__Secure-refresh=([^;]+)/.exec(answer.headers.get('set-cookie') as string)?.[1] as string
  t.match(value, REFRESH_TOKEN)
  const headers = { cookie: `__Secure-refresh=${value}`, 'x-refresh': '1' }

  const noProof = await app.inject({ method: 'POST', url: '/auth/refresh', headers })
  t.equal(noProof.statusCode, 400)
  t.strictSame(noProof.json(), INVALID_GRANT)
  t.equal(noProof.headers['set-cookie'], undefined, 'the session lives on: its cookie is kept')
  const otherKey = await refreshGrant(app, await DpopClient.create(), value, headers)
  t.strictSame(otherKey.json(), INVALID_GRANT)
  t.equal(otherKey.headers.get('set-cookie'), null)

  const refreshed = await refreshGrant(app, client, value, headers)
  t.equal(refreshed.status, 200, refreshed.body)
  t.equal(refreshed.json().token_type, 'DPoP')
  const next = /__Secure-refresh=([^;]+)/.exec(refreshed.headers.get('set-cookie') as string)?.[1] as string
  t.equal(generationOf(next), 1)

  await new Promise((resolve) => setTimeout(resolve, 10))
  const reused = await refreshGrant(app, client, value, headers)
  t.equal(reused.status, 200, 'within the grace: the current token again')
  const forgedValue = `${next.slice(0, -4)}${next.endsWith('AAAA') ? 'BAAA' : 'AAAA'}`
  const forged = await refreshGrant(app, client, forgedValue, { ...headers, cookie: `__Secure-refresh=${forgedValue}` })
  t.equal(forged.status, 400)
  t.strictSame(forged.json(), INVALID_GRANT)
  t.equal(forged.headers.get('set-cookie'), CLEARED, 'a refusal for any other reason clears the cookie')
})

t.test('a DPoP replay store that fails at refresh: 503, and the session is not rotated', async (t) => {
  const proofs = new MemoryDpopReplayStore()
  let down = false
  const replay = { firstUse: (key: string, ttlSeconds: number) => { if (down) throw new Error('connection refused'); return proofs.firstUse(key, ttlSeconds) } }
  const { app } = await refreshApp(t, { options: { dpop: { publicOrigin: PUBLIC_ORIGIN, replay } }, routes: dpopLogin, start: Date.now() })
  const client = await DpopClient.create()
  const pair = (await client.tokenRequest(app, '/dpop/login')).json() as unknown as TokenPair
  down = true
  const refused = await refreshGrant(app, client, pair.refresh_token)
  t.equal(refused.status, 503)
  t.equal(refused.json().code, 'FST_JWT_SECURITY_DPOP_REPLAY_UNAVAILABLE')
  t.equal(refused.headers.get('retry-after'), '5')
  down = false
  const back = await refreshGrant(app, client, pair.refresh_token)
  t.equal(back.status, 200)
  t.equal(generationOf((back.json() as unknown as TokenPair).refresh_token), 1)
})

t.test('a refresh store that fails: 503 with Retry-After, never a guess; back, it works', async (t) => {
  const store = new FlakyStore()
  const { app, lines } = await refreshApp(t, { refresh: { store } })
  const pair = await login(app)
  store.down = true
  const refused = await refreshJson(app, pair.refresh_token)
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '5')
  t.strictSame(refused.json(), {
    statusCode: 503, code: 'FST_JWT_SECURITY_REFRESH_UNAVAILABLE', error: 'Service Unavailable', message: 'Sessions cannot be refreshed right now, try again later'
  })
  const loginDown = await app.inject({ method: 'POST', url: '/login', payload: {} })
  t.equal(loginDown.statusCode, 503, 'a login cannot open a session either')
  t.equal(loginDown.json().code, 'FST_JWT_SECURITY_REFRESH_UNAVAILABLE')
  t.equal(loginDown.headers['retry-after'], '5')
  await t.rejects(app.listSessions('alice'), { code: 'FST_JWT_SECURITY_REFRESH_UNAVAILABLE' })
  t.equal(await meStatus(app, pair.access_token), 200, 'access tokens do not need the refresh store')
  t.strictSame(lines.filter((line) => line.msg.includes('refresh store')).map((line) => [line.level, line.msg]), [[50, 'the refresh store cannot be used: refreshes are refused (503)']], 'logged once for the outage')

  store.down = false
  const back = await refreshJson(app, pair.refresh_token)
  t.equal(back.statusCode, 200, 'the token the client kept works once the store is back')
  t.equal(generationOf(back.json().refresh_token), 1)
  t.strictSame(lines.filter((line) => line.msg.includes('refresh store')).map((line) => line.msg).slice(1), ['the refresh store answers again'])
})

t.test('option errors at register', async (t) => {
  const pair = keyPair('ec256')
  const base = { secret: SECRET, revocation: new MemoryRevocationStore() }
  const fails = async (options: Record<string, unknown>, option: string, message: RegExp = /./) => {
    const app = Fastify()
    const error = await app.register(jwtSecurity, options as JwtSecurityOptions).ready().then(() => null, (caught: Error) => caught)
    await app.close()
    t.match(error, { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: new RegExp(`^Invalid option "${option.replace(/\./g, '\\.')}": ${message.source}`) }, `${option}: ${JSON.stringify(options.refresh)}`)
  }
  await fails({ secret: SECRET, refresh: {} }, 'refresh', /needs the revocation option/)
  await fails({ algorithm: 'ES256', publicKey: pair.publicKey, revocation: new MemoryRevocationStore(), refresh: {} }, 'refresh', /needs a key that signs/)
  await fails({ ...base, refresh: null }, 'refresh', /expected an object/)
  await fails({ ...base, refresh: { lifetime: '5m' } }, 'refresh.lifetime', /unknown option/)
  for (const name of ['accessTokenLifetime', 'idleTimeout', 'maxSessionAge']) {
    await fails({ ...base, refresh: { [name]: 0 } }, `refresh.${name}`, /must be more than 0 seconds/)
    await fails({ ...base, refresh: { [name]: -1 } }, `refresh.${name}`)
    await fails({ ...base, refresh: { [name]: 'soon' } }, `refresh.${name}`)
  }
  await fails({ ...base, refresh: { reuseGrace: -1 } }, 'refresh.reuseGrace')
  await fails({ ...base, refresh: { reuseGrace: '1 minute' } }, 'refresh.reuseGrace')
  await fails({ ...base, refresh: { reuseGrace: 61 } }, 'refresh.reuseGrace', /at most 60 seconds/)
  await fails({ ...base, refresh: { reuseGrace: '2m' } }, 'refresh.reuseGrace', /at most 60 seconds/)
  await fails({ ...base, refresh: { idleTimeout: '31d' } }, 'refresh.idleTimeout', /must not exceed maxSessionAge/)
  await fails({ ...base, refresh: { idleTimeout: '2h', maxSessionAge: '1h' } }, 'refresh.idleTimeout', /must not exceed maxSessionAge/)
  await fails({ ...base, maxTokenAge: '5m', refresh: { accessTokenLifetime: 301 } }, 'refresh.accessTokenLifetime', /must not exceed maxTokenAge \(300 s\)/)
  await fails({ ...base, maxTokenAge: '1m', refresh: {} }, 'refresh.accessTokenLifetime', /must not exceed maxTokenAge \(60 s\)/)
  await fails({ ...base, refresh: { cookie: true } }, 'refresh.cookie', /expected an object/)
  await fails({ ...base, refresh: { cookie: {} } }, 'refresh.cookie.path', /expected the path of the refresh route/)
  for (const path of ['auth/refresh', '/auth;refresh', '/auth refresh', '', 7]) await fails({ ...base, refresh: { cookie: { path } } }, 'refresh.cookie.path')
  for (const name of ['__Host-refresh', 'a b', 'a;b', '', 7]) await fails({ ...base, refresh: { cookie: { path: '/auth/refresh', name } } }, 'refresh.cookie.name')
  for (const header of ['x refresh', 'x:refresh', '', 7]) await fails({ ...base, refresh: { cookie: { path: '/auth/refresh', header } } }, 'refresh.cookie.header', /expected a header name/)
  await fails({ ...base, refresh: { cookie: { path: '/auth/refresh', domain: 'example.com' } } }, 'refresh.cookie.domain', /unknown option/)
  const memory = new MemoryRefreshStore()
  const partial = { create: memory.create.bind(memory), get: memory.get.bind(memory), rotate: memory.rotate.bind(memory), delete: memory.delete.bind(memory) }
  await fails({ ...base, refresh: { store: partial } }, 'refresh.store', /expected a RefreshStore \(create, get, rotate, delete, listFor\)/)
  await fails({ ...base, refresh: { store: null } }, 'refresh.store')
  await fails({ ...base, refresh: { store: {} } }, 'refresh.store')

  // At their limits, the same options are accepted.
  for (const refresh of [{ reuseGrace: 60 }, { reuseGrace: 0 }, { idleTimeout: '30d', maxSessionAge: '30d' }, { accessTokenLifetime: '5m' }]) {
    const app = Fastify()
    await app.register(jwtSecurity, { ...base, maxTokenAge: '5m', refresh })
    await app.ready()
    t.equal(typeof app.refreshHandler, 'function', JSON.stringify(refresh))
    await app.close()
  }
})

// A login that binds the session to the key of its DPoP proof.
function dpopLogin (app: FastifyInstance): void {
  app.post('/dpop/login', async (request, reply) => {
    const { jkt } = await request.dpopProof()
    return await reply.issueTokens('alice', {}, { jkt })
  })
}

/** A RefreshGrant request by oauth4webapi (RFC 6749 §6, a form with a proof of the client's key), answered by app.inject. */
async function refreshGrant (app: FastifyInstance, client: DpopClient, refreshToken: string, headers: Record<string, string> = {}): Promise<{ status: number, headers: Headers, body: string, json: () => Record<string, unknown> }> {
  const as: oauth.AuthorizationServer = { issuer: PUBLIC_ORIGIN, token_endpoint: `${PUBLIC_ORIGIN}/auth/refresh` }
  const response = await oauth.refreshTokenGrantRequest(as, { client_id: 'test-client' }, oauth.None(), refreshToken, {
    DPoP: client.handle,
    headers,
    [oauth.customFetch]: async (url: string, init: oauth.CustomFetchOptions<string, unknown>) => {
      const target = new URL(url)
      const injected = await app.inject({ method: 'POST', url: target.pathname, headers: init.headers, payload: String(init.body) })
      const headers = new Headers()
      for (const [name, value] of Object.entries(injected.headers)) for (const item of [value].flat()) if (item !== undefined) headers.append(name, String(item))
      return new Response(injected.body, { status: injected.statusCode, headers })
    }
  })
  const body = await response.text()
  return { status: response.status, headers: response.headers, body, json: () => JSON.parse(body) }
}

/** A memory store that throws while `down`, as a database that cannot be reached. */
class FlakyStore implements RefreshStore {
  down = false
  readonly #inner = new MemoryRefreshStore()

  #check (): void {
    if (this.down) throw new Error('connection refused')
  }

  create (family: RefreshFamily, ttlSeconds: number): void { this.#check(); this.#inner.create(family, ttlSeconds) }
  get (id: string): RefreshFamily | null { this.#check(); return this.#inner.get(id) }
  rotate (id: string, from: number, at: number, ttlSeconds: number) { this.#check(); return this.#inner.rotate(id, from, at, ttlSeconds) }
  delete (id: string): boolean { this.#check(); return this.#inner.delete(id) }
  listFor (subject: { sub: string, iss: string }): RefreshFamily[] { this.#check(); return this.#inner.listFor(subject) }
}

t.test('a revocation store that cannot write when a reuse ends a session: the refresh fails (503), never passes', async (t) => {
  const revocation = new MemoryRevocationStore()
  const failing = Object.assign(Object.create(revocation) as MemoryRevocationStore, { revokeSession: () => { throw new Error('disk full') } })
  const { app, clock } = await refreshApp(t, { options: { revocation: failing } })
  const first = await login(app)
  const second = (await refreshJson(app, first.refresh_token)).json() as TokenPair
  clock.now += 3000
  const reuse = await refreshJson(app, first.refresh_token)
  t.equal(reuse.statusCode, 503)
  t.equal(reuse.json().code, 'FST_JWT_SECURITY_REVOCATION_FAILED')
  t.equal((await refreshJson(app, second.refresh_token)).statusCode, 200, 'the session is not ended while its access tokens could not be revoked')
})

t.test('a logout ends the session its token names only when the token\'s subject owns it', async (t) => {
  const { app } = await refreshApp(t)
  const alice = await login(app)
  const sid = decodeJwt(alice.access_token).sid as string
  const mallory = await app.createJwtToken('mallory', { sid })
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(mallory) })).statusCode, 200)
  t.equal((await app.listSessions('alice')).length, 1, 'alice\'s session lives on')
  t.equal((await refreshJson(app, alice.refresh_token)).statusCode, 200)
})
