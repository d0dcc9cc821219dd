import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import t from 'tap'
import { promisesDuring } from '../helpers/promises.js'
import jwtSecurity, { JwtHeaderPolicy, type AccessRequirement, type JwtSecurityOptions, type SecurityPolicy } from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { withBadSignature } from '../helpers/tokens.js'
import { rejected } from '../helpers/errors.js'

// app.requires() and config.requires: scopes (RFC 6750 insufficient_scope) and step-up
// authentication (RFC 9470 insufficient_user_authentication), checked before the permission.

const NOW = 1_800_000_000_000
const NOW_SECONDS = NOW / 1000

const NO_CREDENTIALS = { statusCode: 401, code: 'FST_JWT_SECURITY_NO_CREDENTIALS', error: 'Unauthorized', message: 'Authentication is required' }
const STEP_UP = {
  statusCode: 401,
  code: 'FST_JWT_SECURITY_INSUFFICIENT_USER_AUTHENTICATION',
  error: 'Unauthorized',
  message: 'A different or more recent authentication is required'
}
const SCOPE = {
  statusCode: 403,
  code: 'FST_JWT_SECURITY_INSUFFICIENT_SCOPE',
  error: 'Forbidden',
  message: 'The request requires higher privileges than provided by the access token'
}
const FORBIDDEN = { statusCode: 403, code: 'FST_JWT_SECURITY_FORBIDDEN', error: 'Forbidden', message: 'You do not have permission to perform this action' }
const SCOPE_DESCRIPTION = 'error_description="The request requires higher privileges than provided by the access token"'

/** An app with the plugin on a fixed clock, the routes `declare` adds, and an error handler that records each error's reason. */
async function buildApp (declare: (app: FastifyInstance) => void, options: Partial<JwtSecurityOptions> = {}): Promise<{ app: FastifyInstance, reasons: unknown[] }> {
  const reasons: unknown[] = []
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, now: () => NOW, ...options } as JwtSecurityOptions)
  app.setErrorHandler((error, request, reply) => {
    reasons.push((error as { reason?: unknown }).reason)
    return reply.send(error)
  })
  declare(app)
  await app.ready()
  t.teardown(() => app.close())
  return { app, reasons }
}

async function bearer (app: FastifyInstance, claims: Record<string, unknown> = {}): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await app.createJwtToken('alice', claims)}` }
}

t.test('scopes, all of them: 401 for anonymous and refused tokens as a permission gives, 403 insufficient_scope without them', async (t) => {
  const { app, reasons } = await buildApp((app) => {
    app.get('/messages', { config: { requires: { scopes: ['messages:read', 'messages:write'] } } }, async () => 'ran')
  })
  const challenge = `Bearer realm="api", error="insufficient_scope", ${SCOPE_DESCRIPTION}, scope="messages:read messages:write"`
  const anonymous = await app.inject({ url: '/messages' })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), NO_CREDENTIALS)
  t.equal(anonymous.headers['www-authenticate'], 'Bearer realm="api"')

  const bad = await app.inject({ url: '/messages', headers: { authorization: `Bearer ${withBadSignature(await app.createJwtToken('alice', { scope: 'messages:read messages:write' }))}` } })
  t.equal(bad.statusCode, 401)
  t.equal(bad.json().code, 'FST_JWT_SECURITY_INVALID_TOKEN')
  t.equal(bad.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"')

  const malformed = await app.inject({ url: '/messages', headers: { authorization: 'Bearer' } })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.headers['www-authenticate'], 'Bearer realm="api", error="invalid_request", error_description="The authorization request is malformed"')

  for (const claims of [{}, { scope: 'messages:read' }, { scope: 'messages:write messages' }, { roles: ['scope:messages:read', 'scope:messages:write'] }]) {
    const refused = await app.inject({ url: '/messages', headers: await bearer(app, claims) })
    t.equal(refused.statusCode, 403, JSON.stringify(claims))
    t.same(refused.json(), SCOPE)
    t.equal(refused.headers['www-authenticate'], challenge)
  }
  for (const claims of [{ scope: 'messages:write messages:read' }, { scp: ['messages:read', 'messages:write'] }, { scope: 'messages:read', scp: ['messages:write'] }]) {
    const granted = await app.inject({ url: '/messages', headers: await bearer(app, claims) })
    t.equal(granted.statusCode, 200, JSON.stringify(claims))
    t.equal(granted.body, 'ran')
    t.equal(granted.headers['www-authenticate'], undefined)
  }
  t.same(reasons, [undefined, undefined, undefined, 'scope_missing', 'scope_missing', 'scope_missing', 'scope_missing'], 'the 403s record why')
})

t.test('scopes, any of them: one is enough, and the challenge names them all', async (t) => {
  const { app } = await buildApp((app) => {
    app.get('/reports', { config: { requires: { scopes: { anyOf: ['reports:read', 'reports:admin', 'reports:read'] } } } }, async () => 'ran')
  })
  for (const scope of ['reports:read', 'reports:admin', 'other reports:admin']) {
    t.equal((await app.inject({ url: '/reports', headers: await bearer(app, { scope }) })).statusCode, 200, scope)
  }
  const refused = await app.inject({ url: '/reports', headers: await bearer(app, { scope: 'reports' }) })
  t.equal(refused.statusCode, 403)
  t.equal(refused.headers['www-authenticate'], `Bearer realm="api", error="insufficient_scope", ${SCOPE_DESCRIPTION}, scope="reports:read reports:admin"`, 'duplicates dropped')
})

t.test('acr: the token\'s acr must be one of the values', async (t) => {
  const { app, reasons } = await buildApp((app) => {
    app.get('/transfer', { config: { requires: { acr: ['urn:example:mfa', 'urn:example:hwk'] } } }, async () => 'ran')
  })
  const challenge = 'Bearer realm="api", error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:example:mfa urn:example:hwk"'
  for (const claims of [{}, { acr: 'urn:example:pwd' }, { acr: 'urn:example:mfa ' }]) {
    const refused = await app.inject({ url: '/transfer', headers: await bearer(app, claims) })
    t.equal(refused.statusCode, 401, JSON.stringify(claims))
    t.same(refused.json(), STEP_UP)
    t.equal(refused.headers['www-authenticate'], challenge)
  }
  for (const acr of ['urn:example:mfa', 'urn:example:hwk']) {
    t.equal((await app.inject({ url: '/transfer', headers: await bearer(app, { acr }) })).statusCode, 200, acr)
  }
  t.same(reasons, ['acr_not_accepted', 'acr_not_accepted', 'acr_not_accepted'])
  const anonymous = await app.inject({ url: '/transfer' })
  t.same([anonymous.statusCode, anonymous.headers['www-authenticate']], [401, 'Bearer realm="api"'], 'anonymous: the bare challenge, not a step-up')
})

t.test('maxAge: now - auth_time at most maxAge, on the plugin\'s clock; no auth_time fails it', async (t) => {
  const { app, reasons } = await buildApp((app) => {
    app.get('/recent', { config: { requires: { maxAge: '5m' } } }, async () => 'ran')
    app.get('/seconds', { preHandler: app.requires({ maxAge: 60 }) }, async () => 'ran')
    app.get('/now', { preHandler: app.requires({ maxAge: 0 }) }, async () => 'ran')
  })
  const challenge = 'Bearer realm="api", error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="300"'
  for (const [claims, reason] of [
    [{}, 'auth_time_missing'],
    [{ auth_time: NOW_SECONDS - 301 }, 'auth_time_too_old']
  ] as const) {
    const refused = await app.inject({ url: '/recent', headers: await bearer(app, claims) })
    t.equal(refused.statusCode, 401, reason)
    t.same(refused.json(), STEP_UP)
    t.equal(refused.headers['www-authenticate'], challenge)
  }
  t.same(reasons, ['auth_time_missing', 'auth_time_too_old'])
  for (const authTime of [NOW_SECONDS - 300, NOW_SECONDS]) {
    t.equal((await app.inject({ url: '/recent', headers: await bearer(app, { auth_time: authTime }) })).statusCode, 200, `auth_time ${authTime - NOW_SECONDS}`)
  }
  const old = await app.inject({ url: '/seconds', headers: await bearer(app, { auth_time: NOW_SECONDS - 61 }) })
  t.equal(old.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="60"')
  t.equal((await app.inject({ url: '/now', headers: await bearer(app, { auth_time: NOW_SECONDS }) })).statusCode, 200, 'maxAge 0: authenticated this second')
  t.equal((await app.inject({ url: '/now', headers: await bearer(app, { auth_time: NOW_SECONDS - 1 }) })).statusCode, 401)
})

t.test('the order: 401 anonymous, then step-up (acr, then maxAge), then scopes, then the permission', async (t) => {
  const { app, reasons } = await buildApp((app) => {
    app.get('/all', { config: { requires: { scopes: ['payments'], acr: ['urn:mfa'], maxAge: 300 }, permission: 'pay' } }, async () => 'ran')
  })
  const stepUp = (description: string): string =>
    `Bearer realm="api", error="insufficient_user_authentication", error_description="${description}", acr_values="urn:mfa", max_age="300"`
  const cases: Array<[Record<string, unknown> | null, number, string | undefined, string]> = [
    [null, 401, 'Bearer realm="api"', 'FST_JWT_SECURITY_NO_CREDENTIALS'],
    [{}, 401, stepUp('A different authentication level is required'), 'FST_JWT_SECURITY_INSUFFICIENT_USER_AUTHENTICATION'],
    [{ acr: 'urn:mfa' }, 401, stepUp('More recent authentication is required'), 'FST_JWT_SECURITY_INSUFFICIENT_USER_AUTHENTICATION'],
    [{ acr: 'urn:mfa', auth_time: NOW_SECONDS }, 403, `Bearer realm="api", error="insufficient_scope", ${SCOPE_DESCRIPTION}, scope="payments"`, 'FST_JWT_SECURITY_INSUFFICIENT_SCOPE'],
    [{ acr: 'urn:mfa', auth_time: NOW_SECONDS, scope: 'payments' }, 403, undefined, 'FST_JWT_SECURITY_FORBIDDEN'],
    [{ acr: 'urn:mfa', auth_time: NOW_SECONDS, scope: 'payments', roles: ['pay'] }, 200, undefined, '']
  ]
  for (const [claims, status, challenge, code] of cases) {
    const response = await app.inject({ url: '/all', headers: claims === null ? {} : await bearer(app, claims) })
    t.equal(response.statusCode, status, code)
    t.equal(response.headers['www-authenticate'], challenge, `${code}: challenge`)
    if (status === 403 && challenge === undefined) t.same(response.json(), FORBIDDEN, 'a denied permission keeps its 403 without a challenge')
    if (status !== 200) t.equal(response.json().code, code)
  }
  t.same(reasons, [undefined, 'acr_not_accepted', 'auth_time_missing', 'scope_missing', undefined])
})

t.test('config.requires runs in onRequest, after the route\'s own hooks, before the body is read, whatever permissionHook says', async (t) => {
  const order: string[] = []
  const { app } = await buildApp((app) => {
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => { order.push('parse'); done(null, JSON.parse(body as string)) })
    app.post('/upload', {
      config: { requires: { scopes: ['upload'] }, permission: 'upload', permissionHook: 'preHandler' },
      onRequest: async () => { order.push('own hook') }
    }, async () => 'ran')
  })
  const refused = await app.inject({ method: 'POST', url: '/upload', payload: { a: 1 }, headers: await bearer(app, { roles: ['upload'] }) })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'FST_JWT_SECURITY_INSUFFICIENT_SCOPE')
  t.same(order, ['own hook'], 'the body was never parsed')
  t.equal((await app.inject({ method: 'POST', url: '/upload', payload: { a: 1 }, headers: await bearer(app, { roles: ['upload'], scope: 'upload' }) })).statusCode, 200)
})

t.test('HEAD routes Fastify adds are covered, with the challenge once', async (t) => {
  const { app } = await buildApp((app) => {
    app.get('/doc', { config: { requires: { scopes: ['docs'] } } }, async () => 'doc')
  })
  const refused = await app.inject({ method: 'HEAD', url: '/doc', headers: await bearer(app) })
  t.equal(refused.statusCode, 403)
  t.equal(refused.headers['www-authenticate'], `Bearer realm="api", error="insufficient_scope", ${SCOPE_DESCRIPTION}, scope="docs"`)
  t.equal((await app.inject({ method: 'HEAD', url: '/doc', headers: await bearer(app, { scope: 'docs' }) })).statusCode, 200)
})

t.test('app.requires(): a hook with done, or a promise when called with the request and reply only', async (t) => {
  const { app } = await buildApp((app) => {
    const canRead = app.requires({ scopes: ['read'] })
    app.get('/pre', { preHandler: canRead }, async () => 'ran')
    app.get('/on-request', { onRequest: [canRead] }, async () => 'ran')
    app.get('/inside', async (request, reply) => {
      await canRead(request, reply)
      return 'ran'
    })
  })
  for (const url of ['/pre', '/on-request', '/inside']) {
    const refused = await app.inject({ url, headers: await bearer(app) })
    t.equal(refused.statusCode, 403, url)
    t.equal(refused.headers['www-authenticate'], `Bearer realm="api", error="insufficient_scope", ${SCOPE_DESCRIPTION}, scope="read"`, url)
    t.equal((await app.inject({ url, headers: await bearer(app, { scope: 'read' }) })).statusCode, 200, url)
    t.equal((await app.inject({ url })).statusCode, 401, url)
  }
})

// A request and reply as the hook sees them: what the identity hook left.
function fakeRequest (identity: unknown, claims: Record<string, unknown> | null): FastifyRequest {
  return { isAuthenticated: identity !== null, identity, jwtClaims: claims, authFailure: null } as unknown as FastifyRequest
}
function fakeReply (): FastifyReply & { headers: Record<string, unknown> } {
  const headers: Record<string, unknown> = {}
  return {
    headers,
    getHeader: (name: string) => headers[name],
    header (name: string, value: unknown) { headers[name] = value; return this }
  } as unknown as FastifyReply & { headers: Record<string, unknown> }
}

t.test('a decision costs no promise: done is called before the hook returns', async (t) => {
  const { app } = await buildApp(() => {})
  const hook = app.requires({ scopes: ['read'], acr: ['urn:mfa'], maxAge: 60 })
  const identity = { userid: 'alice', principals: ['system.Everyone', 'system.Authenticated', 'alice', 'scope:read'] }
  const calls: unknown[] = []
  const returned = hook(fakeRequest(identity, { sub: 'alice', acr: 'urn:mfa', auth_time: NOW_SECONDS }), fakeReply(), (error) => calls.push(error))
  t.equal(returned, undefined, 'no promise returned')
  t.same(calls, [undefined], 'passed, synchronously')
  const refusedReply = fakeReply()
  hook(fakeRequest(identity, { sub: 'alice' }), refusedReply, (error) => calls.push((error as { code?: string }).code))
  t.same(calls, [undefined, 'FST_JWT_SECURITY_INSUFFICIENT_USER_AUTHENTICATION'], 'refused, synchronously')
  t.match(refusedReply.headers['www-authenticate'], /^Bearer realm="api", error="insufficient_user_authentication"/)

  t.equal(await hook(fakeRequest(identity, { sub: 'alice', acr: 'urn:mfa', auth_time: NOW_SECONDS }), fakeReply()), undefined, 'the promise form resolves')
  const error = await rejected(hook(fakeRequest(identity, { sub: 'alice', acr: 'urn:mfa', auth_time: NOW_SECONDS - 61 }), fakeReply()))
  t.match(error, { code: 'FST_JWT_SECURITY_INSUFFICIENT_USER_AUTHENTICATION', reason: 'auth_time_too_old', statusCode: 401 })
  t.equal(error.stack, undefined, 'a refusal captures no stack')

  // A custom policy's claims are not checked by the token service: a value of another type fails.
  for (const claims of [{ sub: 'alice', acr: ['urn:mfa'], auth_time: NOW_SECONDS }, { sub: 'alice', acr: 'urn:mfa', auth_time: String(NOW_SECONDS) }]) {
    t.match(await rejected(hook(fakeRequest(identity, claims), fakeReply())), { code: 'FST_JWT_SECURITY_INSUFFICIENT_USER_AUTHENTICATION' }, JSON.stringify(claims))
  }
})

t.test('a custom policy: an identity without principals holds no scope; without jwtClaims, no acr or auth_time', async (t) => {
  const policy: SecurityPolicy<unknown> = {
    identity: (request) => {
      const user = request.headers['x-user']
      if (user === 'list') return { userid: 'list', principals: ['scope:read'] }
      if (user === 'object') return { userid: 'object', principals: 'scope:read' }
      return user ?? null
    },
    permits: () => true,
    remember: () => {},
    forget: () => {}
  }
  const { app } = await buildApp((app) => {
    app.get('/read', { config: { requires: { scopes: ['read'] } } }, async () => 'ran')
    app.get('/mfa', { config: { requires: { acr: ['urn:mfa'] } } }, async () => 'ran')
  }, { policy, realm: 'custom' })
  t.equal((await app.inject({ url: '/read', headers: { 'x-user': 'list' } })).statusCode, 200)
  for (const user of ['object', 'alice']) {
    const refused = await app.inject({ url: '/read', headers: { 'x-user': user } })
    t.equal(refused.statusCode, 403, user)
    t.equal(refused.headers['www-authenticate'], `Bearer realm="custom", error="insufficient_scope", ${SCOPE_DESCRIPTION}, scope="read"`)
  }
  t.equal((await app.inject({ url: '/mfa', headers: { 'x-user': 'list' } })).statusCode, 401)
  const anonymous = await app.inject({ url: '/read' })
  t.same([anonymous.statusCode, anonymous.headers['www-authenticate']], [401, 'Bearer realm="custom"'])
})

t.test('the policy\'s challenge scheme names every challenge', async (t) => {
  const { app } = await buildApp((app) => {
    app.get('/read', { config: { requires: { scopes: ['read'], acr: ['urn:mfa'] } } }, async () => 'ran')
  }, { policy: new JwtHeaderPolicy({ authType: 'JWT' }) })
  const token = await app.createJwtToken('alice')
  t.equal((await app.inject({ url: '/read', headers: { authorization: `JWT ${token}` } })).headers['www-authenticate'],
    'JWT realm="api", error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:mfa"')
  const withAcr = await app.createJwtToken('alice', { acr: 'urn:mfa' })
  t.equal((await app.inject({ url: '/read', headers: { authorization: `JWT ${withAcr}` } })).headers['www-authenticate'],
    `JWT realm="api", error="insufficient_scope", ${SCOPE_DESCRIPTION}, scope="read"`)
})

t.test('a clock that throws during the check is a logged 500 with a fixed body', async (t) => {
  let broken = false
  const requirement: AccessRequirement = { maxAge: 60 }
  const { app } = await buildApp((app) => {
    app.get('/recent', { config: { requires: requirement }, onRequest: (request, reply, done) => { broken = true; done() } }, async () => 'ran')
  }, { now: () => { if (broken) throw new Error('clock down'); return NOW } })
  const headers = await bearer(app, { auth_time: NOW_SECONDS })
  const response = await app.inject({ url: '/recent', headers })
  t.equal(response.statusCode, 500)
  t.same(response.json(), { statusCode: 500, code: 'FST_JWT_SECURITY_POLICY_FAILED', error: 'Internal Server Error', message: 'The security policy failed' })
})

t.test('with a cached token, a requirement adds no promise to a request', async (t) => {
  const { app } = await buildApp((app) => {
    app.get('/permission', { config: { permission: 'view' } }, async () => 'ran')
    app.get('/both', { config: { permission: 'view', requires: { scopes: ['read'], acr: ['urn:mfa'], maxAge: 60 } } }, async () => 'ran')
  })
  const headers = await bearer(app, { roles: ['view'], scope: 'read', acr: 'urn:mfa', auth_time: NOW_SECONDS })
  // Every route once before counting, so that the token is verified and cached.
  for (let index = 0; index < 3; index++) {
    for (const url of ['/permission', '/both']) t.equal((await app.inject({ url, headers })).statusCode, 200)
  }
  const baseline = await promisesDuring(async () => await app.inject({ url: '/permission', headers }))
  t.equal(await promisesDuring(async () => await app.inject({ url: '/both', headers })), baseline)
})

t.test('debugAuthorization logs the decisions of authenticated requests, without claim values', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(jwtSecurity, { secret: SECRET, now: () => NOW, debugAuthorization: true })
  app.get('/messages', { config: { requires: { scopes: { anyOf: ['read', 'admin'] }, acr: ['urn:mfa'], maxAge: 60 } } }, async () => 'ok')
  await app.ready()
  t.teardown(() => app.close())
  await app.inject({ url: '/messages', headers: await bearer(app, { scope: 'read', acr: 'urn:mfa', auth_time: NOW_SECONDS }) })
  await app.inject({ url: '/messages', headers: await bearer(app, { scope: 'write', acr: 'urn:mfa', auth_time: NOW_SECONDS }) })
  await app.inject({ url: '/messages' })
  const decisions = lines.map((line) => JSON.parse(line)).filter((entry) => entry.requirement !== undefined)
  const requirement = { method: 'GET', route: '/messages', scopes: ['read', 'admin'], anyOf: true, acr: ['urn:mfa'], maxAge: 60, userid: 'alice' }
  t.same(decisions.map((entry) => [entry.requirement, entry.msg]), [
    [{ ...requirement, allowed: true }, 'the requirement is met'],
    [{ ...requirement, allowed: false }, 'the requirement is not met: scope_missing']
  ], 'an anonymous request is the permission check\'s to log')
  t.notOk(lines.some((line) => line.includes('write')), 'the token\'s scopes are not logged')
})
