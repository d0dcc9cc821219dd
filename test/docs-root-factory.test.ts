// docs/authorization.md ("A root factory changes every route"), docs/options.md (`rootFactory`) and
// docs/errors.md (`FST_JWT_SECURITY_FORBIDDEN`) say what adding a root factory does to routes that
// relied on the default rule, and how to fix it. This is that, run.
import Fastify from 'fastify'
import t from 'tap'
import jwtSecurity, { ALL_PERMISSIONS, Allow, Authenticated, type ACE } from '../lib/index.js'
import { SECRET } from './helpers/app.js'

async function appWith (rootAcl: ACE[] | null, options: { debugAuthorization?: boolean, lines?: string[] } = {}) {
  const lines = options.lines ?? []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(jwtSecurity, {
    secret: SECRET,
    debugAuthorization: options.debugAuthorization ?? false,
    ...(rootAcl === null ? {} : { rootFactory: () => ({ __acl__: rootAcl }) })
  })
  app.get('/me', { preHandler: app.permits(Authenticated) }, async (request) => ({ userid: request.authenticatedUserid }))
  app.get('/me-without-acl', { preHandler: app.permits(Authenticated, { context: null }) }, async () => ({ ok: true }))
  app.get('/edit', { config: { permission: 'edit' } }, async () => ({ ok: true }))
  const token = await app.createJwtToken('alice', { roles: ['edit'] })
  const get = async (url: string) => (await app.inject({ url, headers: { authorization: `Bearer ${token}` } })).statusCode
  return { app, get }
}

const ROOT: ACE[] = [[Allow, 'role:admin', ALL_PERMISSIONS], [Allow, Authenticated, 'view']]

t.test('without a root factory, the default rule grants Authenticated and a role-named permission', async (t) => {
  const { app, get } = await appWith(null)
  t.teardown(() => app.close())
  t.equal(await get('/me'), 200)
  t.equal(await get('/edit'), 200)
})

t.test('a root factory whose ACL does not grant them: 403 for both, on every route', async (t) => {
  const { app, get } = await appWith(ROOT)
  t.teardown(() => app.close())
  t.equal(await get('/me'), 403, 'app.permits(Authenticated) answers 403')
  t.equal(await get('/edit'), 403, 'the role-named permission no longer matches')
  t.equal(await get('/me-without-acl'), 200, 'the fix on one route: a context without an ACL (null)')
})

t.test('the fix in the ACL: [Allow, Authenticated, Authenticated]', async (t) => {
  const { app, get } = await appWith([...ROOT, [Allow, Authenticated, Authenticated]])
  t.teardown(() => app.close())
  t.equal(await get('/me'), 200)
  t.equal(await get('/edit'), 403, 'edit needs an ACE of its own')
})

t.test('debugAuthorization logs the default denial that explains the 403', async (t) => {
  const lines: string[] = []
  const { app, get } = await appWith(ROOT, { debugAuthorization: true, lines })
  t.teardown(() => app.close())
  t.equal(await get('/me'), 403)
  const decision = lines.map((line) => JSON.parse(line) as { authorization?: { permission: string, allowed: boolean }, msg: string }).find((entry) => entry.authorization !== undefined)
  t.match(decision, { authorization: { permission: Authenticated, allowed: false }, msg: /<default deny>/ })
})
