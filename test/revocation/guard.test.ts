import { createHmac } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { decodeJwt } from 'jose'
import jwtSecurity, {
  JwtCookiePolicy, JwtHeaderPolicy, MemoryRevocationStore, PolicyChain, type JwtSecurityOptions, type RevocationStore
} from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { cookieValue } from '../helpers/cookie-app.js'
import { captureWarnings, warningsDelivered } from '../helpers/warnings.js'
import { RevocationGuard } from '../../lib/revocation/guard.js'

const START = 1_800_000_000_000
const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'
const UNAVAILABLE = { statusCode: 503, code: 'FST_JWT_SECURITY_REVOCATION_UNAVAILABLE', error: 'Service Unavailable', message: 'Credentials cannot be checked right now, try again later' }

async function buildApp (options: Partial<JwtSecurityOptions> = {}, lines: string[] = []) {
  const clock = { now: START }
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(jwtSecurity, { secret: SECRET, issuer: 'https://auth.example', expiresIn: '1h', now: () => clock.now, revocation: new MemoryRevocationStore({ now: () => clock.now }), ...options })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => request.authenticatedUserid)
  app.get('/public', async (request) => ({ userid: request.authenticatedUserid, failure: request.authFailure }))
  app.post('/logout', async (request, reply) => { await reply.forget(); return { ok: true } })
  app.post('/everywhere', async (request) => { await app.revokeAllFor(request.authenticatedUserid as string); return { ok: true } })
  await app.ready()
  return { app, clock, lines }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
async function me (app: FastifyInstance, token: string) {
  const response = await app.inject({ url: '/me', headers: bearer(token) })
  return { status: response.statusCode, challenge: response.headers['www-authenticate'], body: response.body }
}

t.test('logout with a header token revokes it; other tokens of the user stay valid', async (t) => {
  const warnings = captureWarnings(t)
  const { app } = await buildApp()
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  const other = await app.createJwtToken('alice')
  t.equal((await me(app, token)).status, 200)
  t.same((await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).json(), { ok: true })
  const refused = await me(app, token)
  t.equal(refused.status, 401)
  t.equal(refused.challenge, INVALID_TOKEN)
  t.same((await app.inject({ url: '/public', headers: bearer(token) })).json(), { userid: null, failure: { error: 'invalid_token', reason: 'token_revoked' } })
  t.equal((await me(app, other)).status, 200, 'another token of the same user is not affected')
  await warningsDelivered()
  t.equal(warnings.filter((warning) => warning.code === 'FST_JWT_SECURITY_W001').length, 0, 'forget has a meaning now: no warning')
})

t.test('app.revokeToken(claims) revokes by jti and iss, whatever the encoding of the token (C13)', async (t) => {
  const { app } = await buildApp()
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice', { roles: ['view'] })
  const claims = decodeJwt(token)
  await app.revokeToken(claims)
  t.equal((await me(app, token)).status, 401)
  // The same claims, re-encoded (other key order, spaces) and signed again: the same jti, still revoked.
  const b64u = (text: string) => Buffer.from(text).toString('base64url')
  const input = `${b64u('{ "typ":"JWT", "alg":"HS512" }')}.${b64u(`{ "jti": "${claims.jti}", "iss": "https://auth.example", "exp": ${claims.exp}, "iat": ${claims.iat}, "sub": "alice", "roles": ["view"] }`)}`
  const reencoded = `${input}.${createHmac('sha512', SECRET).update(input).digest('base64url')}`
  t.not(reencoded, token)
  const result = await me(app, reencoded)
  t.equal(result.status, 401, 'keyed on jti + iss, never on the token string')
  t.equal(result.challenge, INVALID_TOKEN)
  await t.rejects(app.revokeToken({ sub: 'alice' }), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS', message: /has no jti/ })
  await t.rejects(app.revokeToken({ jti: 'x', iss: 5 }), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS' })
  await t.rejects(app.revokeToken(null as never), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS' })
})

t.test('revokeAllFor: every token of the user issued before now is refused; later ones work', async (t) => {
  const { app, clock } = await buildApp()
  t.teardown(() => app.close())
  const [first, second] = [await app.createJwtToken('alice'), await app.createJwtToken('alice')]
  clock.now += 500
  const sameSecond = await app.createJwtToken('alice')
  const bob = await app.createJwtToken('bob')
  t.same((await app.inject({ method: 'POST', url: '/everywhere', headers: bearer(first) })).json(), { ok: true })
  for (const token of [first, second, sameSecond]) t.equal((await me(app, token)).status, 401)
  t.equal((await me(app, bob)).status, 200, 'other users are not affected')
  clock.now += 1000
  const fresh = await app.createJwtToken('alice')
  t.equal((await me(app, fresh)).status, 200, 'a token issued after it works')
  await t.rejects(app.revokeAllFor(''), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS' })
  await t.rejects(app.revokeAllFor(1.5), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS' })
})

t.test('revokeAllFor takes a userid as createJwtToken does: 42 revokes the tokens created for 42 and for "42"', async (t) => {
  const { app, clock } = await buildApp()
  t.teardown(() => app.close())
  const tokens = [await app.createJwtToken(42), await app.createJwtToken('42')]
  const other = await app.createJwtToken(43)
  clock.now += 1000
  await app.revokeAllFor(42)
  for (const token of tokens) t.equal((await me(app, token)).status, 401)
  t.equal((await me(app, other)).status, 200, 'user 43 is not affected')
})

t.test('revokeAllFor hands the store the subject as tokens carry it: a string', async (t) => {
  const subjects: unknown[] = []
  const store: RevocationStore = {
    isRevoked: () => false,
    revokeToken: () => {},
    revokeSession: () => {},
    revokeAllFor: (subject) => { subjects.push(subject.sub) }
  }
  const { app } = await buildApp({ revocation: store })
  t.teardown(() => app.close())
  await app.revokeAllFor(42)
  await app.revokeAllFor('alice')
  t.strictSame(subjects, ['42', 'alice'])
})

t.test('an expired token needs no entry; entries live as long as the token', async (t) => {
  const calls: unknown[] = []
  const store: RevocationStore = {
    isRevoked: () => false,
    revokeToken: (token, ttl) => { calls.push(['token', token, ttl]) },
    revokeSession: (session, ttl) => { calls.push(['session', session, ttl]) },
    revokeAllFor: (subject, notBefore, ttl) => { calls.push(['subject', subject, notBefore, ttl]) }
  }
  const { app, clock } = await buildApp({ revocation: store, leeway: 5, maxTokenAge: '2h' })
  t.teardown(() => app.close())
  const claims = decodeJwt(await app.createJwtToken('alice', {}, { expiresIn: 600 }))
  clock.now += 100_000
  await app.revokeToken(claims)
  await app.revokeToken({ ...claims, exp: START / 1000 + 10 })
  await app.revokeToken({ jti: 'no-exp', iat: START / 1000 })
  await app.revokeAllFor('alice')
  t.same(calls, [
    ['token', { jti: claims.jti, iss: 'https://auth.example' }, 600 + 5 - 100],
    ['token', { jti: 'no-exp', iss: undefined }, 7200 + 5 + 1 - 100],
    ['subject', { sub: 'alice', iss: 'https://auth.example' }, START / 1000 + 100 + 1, 7200 + 5 + 1]
  ], 'time to live = exp + leeway - now (iat + maxTokenAge + leeway + 1 - now: jose accepts age = maxTokenAge); the expired token wrote nothing')
})

t.test('an entry outlives the last second in which the token is accepted: fractional exp, leeway and iat round up', async (t) => {
  const S = START / 1000
  const b64u = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  // A token from another issuer that shares the key: its numeric dates need not be whole seconds.
  const foreign = (claims: object) => {
    const input = `${b64u({ alg: 'HS512', typ: 'JWT' })}.${b64u({ sub: 'alice', iss: 'https://auth.example', ...claims })}`
    return `${input}.${createHmac('sha512', SECRET).update(input).digest('base64url')}`
  }
  // Each case: the app, a token and how to revoke it at START + 0.2 s, and a moment when jose still
  // accepts the token (floor(now) is what it compares) but an entry cut at the exact time would be gone.
  const cases: Array<[string, Partial<JwtSecurityOptions>, (app: FastifyInstance) => Promise<string>, (app: FastifyInstance, token: string) => Promise<void>, number]> = [
    ['a fractional exp (exp = now + 10.5)', {}, async () => foreign({ jti: 'fractional-exp', iat: S - 10, exp: S + 10.5 }), async (app, token) => { await app.revokeToken(decodeJwt(token)) }, 10_800],
    ['a fractional leeway (0.5 s)', { leeway: 0.5 }, async (app) => await app.createJwtToken('alice', {}, { expiresIn: 10 }), async (app, token) => { await app.revokeToken(decodeJwt(token)) }, 10_800],
    ['no exp: iat + maxTokenAge is accepted to its last second', { expiresIn: false, maxTokenAge: 10 }, async (app) => await app.createJwtToken('alice'), async (app, token) => { await app.revokeToken(decodeJwt(token)) }, 10_500],
    ['revokeAllFor, a fractional iat and leeway', { leeway: 0.5, maxTokenAge: 10, expiresIn: 10 }, async () => foreign({ jti: 'fractional-iat', iat: S + 0.5, exp: S + 11.5 }), async (app) => { await app.revokeAllFor('alice') }, 11_700]
  ]
  for (const [name, options, create, revoke, stillAccepted] of cases) {
    const { app, clock } = await buildApp(options)
    t.teardown(() => app.close())
    const token = await create(app)
    t.equal((await me(app, token)).status, 200, `${name}: accepted`)
    clock.now = START + 200
    await revoke(app, token)
    clock.now = START + stillAccepted
    const { failure } = (await app.inject({ url: '/public', headers: bearer(token) })).json()
    t.same(failure, { error: 'invalid_token', reason: 'token_revoked' }, `${name}: at START + ${stillAccepted} ms, valid but still revoked`)
  }
})

t.test('with expiresIn false and no maxTokenAge, entries never expire (a token without exp never does)', async (t) => {
  const calls: unknown[] = []
  const store: RevocationStore = {
    isRevoked: () => false,
    revokeToken: (token, ttl) => { calls.push(['token', ttl]) },
    revokeSession: (session, ttl) => { calls.push(['session', ttl]) },
    revokeAllFor: (subject, notBefore, ttl) => { calls.push(['subject', ttl]) }
  }
  const { app } = await buildApp({ revocation: store, expiresIn: false })
  t.teardown(() => app.close())
  await app.revokeToken(decodeJwt(await app.createJwtToken('alice')))
  await app.revokeToken({ jti: 'j', sid: 'session-1' })
  await app.revokeAllFor('alice')
  t.same(calls, [['token', null], ['token', null], ['session', null], ['subject', null]])
})

t.test('a token with a sid revokes its session: until auth_time + maxSessionAge with a cookie policy, else as long as any token', async (t) => {
  const calls: unknown[] = []
  const store: RevocationStore = {
    isRevoked: () => false,
    revokeToken: () => {},
    revokeSession: (session, ttl) => { calls.push([session, ttl]) },
    revokeAllFor: () => {}
  }
  const withCookies = await buildApp({ revocation: store, leeway: 5, policy: new JwtCookiePolicy({ cookieName: 's', maxSessionAge: '1d' }) })
  t.teardown(() => withCookies.app.close())
  const S = START / 1000
  await withCookies.app.revokeToken({ jti: 'j', sid: 'session-1', iss: 'https://auth.example', auth_time: S - 100, exp: S + 60 })
  await withCookies.app.revokeToken({ jti: 'j', sid: 'session-2', exp: S + 60 })
  await withCookies.app.revokeToken({ jti: 'j', sid: 'session-4', auth_time: S - 100 })
  await withCookies.app.revokeToken({ jti: 'j', sid: 'session-5', auth_time: S - 100.5 })
  const headerOnly = await buildApp({ revocation: store, maxTokenAge: '2h' })
  t.teardown(() => headerOnly.app.close())
  await headerOnly.app.revokeToken({ jti: 'j', sid: 'session-3', auth_time: S, exp: S + 60 })
  t.same(calls, [
    [{ sid: 'session-1', iss: 'https://auth.example' }, 86400 + 5 - 100],
    [{ sid: 'session-2', iss: undefined }, 366 * 86400 + 5 + 1],
    [{ sid: 'session-4', iss: undefined }, 86400 + 5 - 100],
    [{ sid: 'session-5', iss: undefined }, 86400 + 5 - 100],
    [{ sid: 'session-3', iss: undefined }, 7200 + 1]
  ], 'a fractional auth_time is rounded up to the second the session ends in')
})

t.test('cookie sessions: forget clears the cookie and revokes the session token', async (t) => {
  const { app } = await buildApp({ policy: new PolicyChain([new JwtHeaderPolicy(), new JwtCookiePolicy({ cookieName: 'session', csrf: false })]) })
  t.teardown(() => app.close())
  app.log.level = 'silent'
  const token = await app.createJwtToken('alice')
  const cookies = { session: token }
  t.equal((await app.inject({ url: '/me', cookies })).statusCode, 200)
  const logout = await app.inject({ method: 'POST', url: '/logout', cookies })
  t.equal(cookieValue(logout, 'session'), '', 'the cookie is cleared')
  t.equal((await app.inject({ url: '/me', cookies })).statusCode, 401, 'a saved copy of the cookie is refused (E10 with a store)')
  t.equal((await me(app, token)).status, 401, 'and so is the same token as Bearer')
})

t.test('a store that fails: 503 with a fixed body and one log line (fail closed); public routes too; recovery', async (t) => {
  let down = true
  const store: RevocationStore = {
    isRevoked: () => { if (down) throw new Error('ECONNREFUSED 127.0.0.1:6379'); return false },
    revokeToken: async () => { throw new Error('READONLY') },
    revokeSession: async () => { throw new Error('READONLY') },
    revokeAllFor: async () => { throw new Error('READONLY') }
  }
  const lines: string[] = []
  const { app } = await buildApp({ revocation: store }, lines)
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  for (const url of ['/me', '/public', '/me']) {
    const response = await app.inject({ url, headers: bearer(token) })
    t.equal(response.statusCode, 503, url)
    t.same(response.json(), UNAVAILABLE)
    t.notMatch(response.body, /ECONNREFUSED/)
  }
  t.equal((await app.inject({ url: '/public' })).statusCode, 200, 'requests without a token are not affected')
  const errors = lines.filter((line) => line.includes('the revocation store cannot be read'))
  t.equal(errors.length, 1, 'one log line per 10 seconds, not one per request')
  t.match(errors[0], /"level":50/)
  t.match(errors[0], /ECONNREFUSED/, 'the cause is in the log')
  const logout = await app.inject({ method: 'POST', url: '/everywhere', headers: bearer(token) })
  t.equal(logout.statusCode, 503, 'the check fails first')
  down = false
  t.equal((await me(app, token)).status, 200, 'recovers by itself once the store answers')
  const write = await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })
  t.equal(write.statusCode, 503)
  t.same(write.json(), { statusCode: 503, code: 'FST_JWT_SECURITY_REVOCATION_FAILED', error: 'Service Unavailable', message: 'The token could not be revoked, try again later' })
  await t.rejects(app.revokeToken(decodeJwt(token)), { code: 'FST_JWT_SECURITY_REVOCATION_FAILED', cause: { message: 'READONLY' } }, 'a revoke that cannot be written is an error to the caller')
  await t.rejects(app.revokeAllFor('alice'), { code: 'FST_JWT_SECURITY_REVOCATION_FAILED' })
})

t.test('failOpen: a store that cannot be read lets tokens through, and says so in the log', async (t) => {
  const store: RevocationStore = {
    failOpen: true,
    isRevoked: async () => { throw new Error('timeout') },
    revokeToken: () => {},
    revokeSession: () => {},
    revokeAllFor: () => {}
  }
  const lines: string[] = []
  const { app } = await buildApp({ revocation: store }, lines)
  t.teardown(() => app.close())
  t.equal((await me(app, await app.createJwtToken('alice'))).status, 200)
  t.match(lines.join(''), /tokens are accepted without the revocation check \(failOpen\)/)
})

t.test('without a store: revoke calls are errors, forget with a header token warns', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET })
  t.teardown(() => app.close())
  await t.rejects(app.revokeToken({ jti: 'x' }), { code: 'FST_JWT_SECURITY_NO_REVOCATION_STORE' })
  await t.rejects(app.revokeAllFor('alice'), { code: 'FST_JWT_SECURITY_NO_REVOCATION_STORE' })
})

t.test('the revocation option is checked, and the store is initialised and closed with the app', async (t) => {
  for (const revocation of ['redis://x', { isRevoked () {} }, null]) {
    const app = Fastify()
    app.register(jwtSecurity, { secret: SECRET, revocation } as never)
    await t.rejects(async () => { await app.ready() }, { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: /"revocation"/ })
  }
  const events: string[] = []
  const store: RevocationStore = {
    init: (log) => { events.push(typeof log.info === 'function' ? 'init' : 'no logger') },
    close: async () => { events.push('close') },
    isRevoked: () => false,
    revokeToken: () => {},
    revokeSession: () => {},
    revokeAllFor: () => {}
  }
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, revocation: store })
  await app.ready()
  t.same(events, ['init'])
  await app.close()
  t.same(events, ['init', 'close'])
})

t.test('revokeSession revokes every token of a session id, for the time given', async (t) => {
  const clock = { now: START }
  const store = new MemoryRevocationStore({ now: () => clock.now })
  const guard = new RevocationGuard(store, { nowSeconds: () => Math.floor(clock.now / 1000), leeway: 0, issuer: 'https://auth.example', issuerLeeways: new Map(), maxLifetime: 3600 })
  await guard.revokeSession('family-1', 'https://auth.example', 60)
  const claims = { sub: 'alice', iat: START / 1000, sid: 'family-1', iss: 'https://auth.example' }
  t.equal(store.isRevoked(claims), true)
  t.equal(store.isRevoked({ ...claims, sid: 'family-2' }), false)
  clock.now += 61_000
  t.equal(store.isRevoked(claims), false, 'forgotten once its time is over')
  const failing = new RevocationGuard({ ...store, revokeSession: () => { throw new Error('down') } } as unknown as RevocationStore, { nowSeconds: () => 0, leeway: 0, issuer: undefined, issuerLeeways: new Map(), maxLifetime: null })
  await t.rejects(failing.revokeSession('family-1', undefined, 60), { code: 'FST_JWT_SECURITY_REVOCATION_FAILED' })
})
