import Fastify from 'fastify'
import t from 'tap'
import { JwtHeaderPolicy } from '../../lib/policies/header-policy.js'
import jwtSecurity, { Allow, Authenticated } from '../../lib/index.js'
import { buildApp, SECRET } from '../helpers/app.js'
import { rejected } from '../helpers/errors.js'
import { captureWarnings, warningsDelivered } from '../helpers/warnings.js'

t.test('principals: Everyone, Authenticated, the userid, then roles and permissions claims', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice', { roles: ['view', 3, 'editor'], permissions: ['edit'], other: ['x'] })
  const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.same(response.json().principals, ['system.Everyone', 'system.Authenticated', 'alice', 'view', 'editor', 'edit'])
  const notLists = await app.createJwtToken('bob', { roles: 'view', permissions: { edit: true } })
  const bob = await app.inject({ url: '/me', headers: { authorization: `Bearer ${notLists}` } })
  t.same(bob.json().principals, ['system.Everyone', 'system.Authenticated', 'bob'])
  t.equal((await app.inject({ url: '/view', headers: { authorization: `Bearer ${notLists}` } })).statusCode, 403)
  t.equal((await app.inject({ url: '/view', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
})

t.test('scope and scp become scope: principals after the roles, with or without a callback', async (t) => {
  const app = await buildApp({}, (app) => {
    app.get('/read', { preHandler: app.permits('scope:read:messages') }, async () => 'read')
  })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice', { roles: ['view', 'scope:forged'], scope: 'read:messages write:messages', scp: ['x'] })
  const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.same(response.json().principals, ['system.Everyone', 'system.Authenticated', 'alice', 'view', 'scope:read:messages', 'scope:write:messages', 'scope:x'])
  t.equal((await app.inject({ url: '/read', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  const withCallback = await buildApp({ callback: () => ['role:admin'] })
  t.teardown(() => withCallback.close())
  const other = await withCallback.createJwtToken('bob', { roles: ['view'], scope: 'read' })
  const bob = await withCallback.inject({ url: '/me', headers: { authorization: `Bearer ${other}` } })
  t.same(bob.json().principals, ['system.Everyone', 'system.Authenticated', 'bob', 'role:admin', 'scope:read'])
})

t.test('principalClaims chooses the claims', async (t) => {
  const app = await buildApp({ principalClaims: ['groups'] })
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice', { roles: ['admin'], groups: ['view'] })
  const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.same(response.json().principals, ['system.Everyone', 'system.Authenticated', 'alice', 'view'])
})

t.test('the callback runs after verification, reads jwtClaims and adds principals', async (t) => {
  const seen: unknown[] = []
  const app = await buildApp({
    callback: async (userid, request) => {
      seen.push([userid, request.jwtClaims?.sub])
      return userid === 'mallory' ? null : userid === 'ghost' ? undefined : (request.jwtClaims?.roles as string[]).map((role) => `role:${role}`)
    }
  }, (app) => {
    app.get('/claims', async (request) => ({ claims: request.jwtClaims, failure: request.authFailure }))
  })
  t.teardown(() => app.close())
  const alice = await app.createJwtToken('alice', { roles: ['admin'] })
  const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${alice}` } })
  t.same(me.json().principals, ['system.Everyone', 'system.Authenticated', 'alice', 'role:admin'])
  t.same(seen, [['alice', 'alice']])
  for (const refused of ['mallory', 'ghost']) {
    const token = await app.createJwtToken(refused, { roles: [] })
    const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(response.statusCode, 401, `${refused}: a refused identity is a 401`)
    t.equal(response.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"')
    const claims = await app.inject({ url: '/claims', headers: { authorization: `Bearer ${token}` } })
    t.same(claims.json(), { claims: null, failure: { error: 'invalid_token', reason: 'identity_rejected' } }, 'claims are cleared')
  }
  t.equal(seen.length, 5)
  const bad = await app.inject({ url: '/me', headers: { authorization: 'Bearer x.y.z' } })
  t.equal(bad.statusCode, 401)
  t.equal(seen.length, 5, 'the callback never sees an unverified token')
})

t.test('a callback that throws or returns garbage is a logged 500 with a fixed body', async (t) => {
  const lines: string[] = []
  const stream = { write: (line: string) => { lines.push(line) } }
  const results: Record<string, unknown> = { throws: new Error('database password is hunter2'), string: 'admin', mixed: ['a', 1], object: { a: 1 } }
  const app = await buildApp({
    callback: async (userid) => {
      const result = results[userid]
      if (result instanceof Error) throw result
      return result as string[]
    }
  }, () => {}, Fastify({ logger: { level: 'error', stream } }))
  t.teardown(() => app.close())
  for (const userid of Object.keys(results)) {
    const token = await app.createJwtToken(userid)
    const response = await app.inject({ url: '/public', headers: { authorization: `Bearer ${token}` } })
    t.equal(response.statusCode, 500, userid)
    t.same(response.json(), { statusCode: 500, code: 'FST_JWT_SECURITY_POLICY_FAILED', error: 'Internal Server Error', message: 'The security policy failed' })
    t.notMatch(response.body, /hunter2/)
  }
  const log = lines.join('')
  t.match(log, /the identity callback threw/)
  t.match(log, /hunter2/, 'the app author sees the cause in the log')
  t.match(log, /the identity callback must return an array of strings/)
})

t.test('system principals are never identities', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  for (const userid of ['system.Everyone', 'system.Authenticated']) {
    const token = await app.createJwtToken(userid)
    const response = await app.inject({ url: '/public', headers: { authorization: `Bearer ${token}` } })
    t.same(response.json(), { identity: null, authFailure: { error: 'invalid_token', reason: 'subject_reserved', claim: 'sub' } })
  }
})

t.test('authFailure carries the reason and the failing claim, never a value', async (t) => {
  const app = await buildApp({ audience: 'api' })
  t.teardown(() => app.close())
  const other = await app.createJwtToken('alice', {}, { audience: 'other' })
  const response = await app.inject({ url: '/public', headers: { authorization: `Bearer ${other}` } })
  t.same(response.json().authFailure, { error: 'invalid_token', reason: 'claim_invalid', claim: 'aud' })
})

t.test('direct calls: an array header is a duplicate, no identity has no userid', async (t) => {
  const policy = new JwtHeaderPolicy()
  const request = { headers: { authorization: ['Bearer a', 'Bearer b'] }, log: { debug () {} } } as unknown as Parameters<JwtHeaderPolicy['identity']>[0]
  t.equal(policy.identity(request), null)
  t.same(request.authFailure, { error: 'invalid_request', reason: 'header_duplicated' })
  t.equal(policy.authenticatedUserid({ identity: null } as never), null)
  t.equal(policy.authenticatedUserid({ identity: { userid: 'a' } } as never), 'a')
})

t.test('a built-in policy used outside the plugin says so', async (t) => {
  const app = Fastify()
  const policy = new JwtHeaderPolicy()
  app.get('/', async (request) => await policy.identity(request))
  const response = await app.inject({ url: '/', headers: { authorization: 'Bearer a.b.c' } })
  t.equal(response.statusCode, 500)
  t.match(response.json().message, /Invalid option "policy": the policy is not registered: give it to the plugin as its policy option, or have the register of the policy that holds it call its register/)
  t.equal(await Promise.resolve(policy.identity({ headers: {} } as never)), null, 'no credentials needs no plugin')
})

t.test('a JWT policy serves one registration: a second one is refused at register', async (t) => {
  const policy = new JwtHeaderPolicy()
  const first = Fastify()
  t.teardown(() => first.close())
  await first.register(jwtSecurity, { secret: SECRET, policy })
  const second = Fastify()
  second.register(jwtSecurity, { secret: SECRET, policy })
  t.match(await rejected(second.ready()), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: /"policy": this policy instance is registered already: create one per registration/ })
})

t.test('an ACL that denies by default a permission the request holds as a principal warns once (W002): the rootFactory mistake', async (t) => {
  const warnings = captureWarnings(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtSecurity, {
    secret: SECRET,
    rootFactory: () => ({ __acl__: [[Allow, 'editor', 'edit']] })
  })
  app.get('/me', { preHandler: app.permits(Authenticated) }, async () => 'ok')
  app.get('/edit', { preHandler: app.permits('edit') }, async () => 'ok')
  app.get('/publish', { preHandler: app.permits('publish') }, async () => 'ok')
  const token = await app.createJwtToken('alice', { roles: ['editor', 'publisher'] })
  const get = async (url: string) => (await app.inject({ url, headers: { authorization: `Bearer ${token}` } })).statusCode
  t.equal(await get('/edit'), 200, 'an ACE grants')
  t.equal(await get('/publish'), 403, 'no ACE for publish, and alice holds no principal "publish": no warning')
  await warningsDelivered()
  t.same(warnings.filter((warning) => warning.code === 'FST_JWT_SECURITY_W002'), [])
  t.equal(await get('/me'), 403, 'system.Authenticated is a principal, but no ACE grants it')
  t.equal(await get('/me'), 403)
  await warningsDelivered()
  const emitted = warnings.filter((warning) => warning.code === 'FST_JWT_SECURITY_W002')
  t.equal(emitted.length, 1, 'once per process')
  t.match(emitted[0]?.message, /^an ACL denied "system\.Authenticated" by default although the request holds the principal "system\.Authenticated"/)
})
