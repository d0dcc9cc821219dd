import { readFile } from 'node:fs/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import jwtSecurity from '../lib/index.js'
import { MySecurityPolicy, type User, type UserStore } from './fixtures/my-security-policy.js'
import { SECRET as secret } from './helpers/app.js'

const BARE = 'Bearer realm="api"'
const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'

const users: Record<string, User> = {
  alice: { userid: 'alice', name: 'Alice', permissions: ['view', 'edit'] },
  bob: { userid: 'bob', name: 'Bob', permissions: ['view'] },
  carol: { userid: 'carol', name: 'Carol', permissions: ['view', 'edit'], revoked: true }
}

async function buildApp (lookups: string[] = []): Promise<FastifyInstance> {
  const store: UserStore = {
    async get (userid) {
      lookups.push(userid)
      return users[userid]
    }
  }
  const app = Fastify()
  await app.register(jwtSecurity, { secret, policy: new MySecurityPolicy(store) })
  app.get('/articles', { preHandler: app.permits('view') }, async (request) => ({
    identity: request.identity,
    userid: request.authenticatedUserid
  }))
  app.post('/articles', { config: { permission: 'edit' } }, async () => ({ edited: true }))
  app.get('/state', async (request) => ({
    identity: request.identity,
    jwtClaims: request.jwtClaims,
    authFailure: request.authFailure
  }))
  await app.ready()
  return app
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('a valid token of a known user: the identity is the user, a permitted route runs', async (t) => {
  const lookups: string[] = []
  const app = await buildApp(lookups)
  t.teardown(() => app.close())
  const token = await app.createJwtToken('alice')
  const response = await app.inject({ url: '/articles', headers: bearer(token) })
  t.equal(response.statusCode, 200)
  t.same(response.json(), { identity: users.alice, userid: 'alice' })
  t.same(lookups, ['alice'], 'the store is read once per request')
  const edit = await app.inject({ method: 'POST', url: '/articles', headers: bearer(token) })
  t.equal(edit.statusCode, 200)
  t.same(edit.json(), { edited: true })
})

t.test('a valid token of a user missing from the store is a 401 invalid_token', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const token = await app.createJwtToken('mallory', { permissions: ['view'] })
  const response = await app.inject({ url: '/articles', headers: bearer(token) })
  t.equal(response.statusCode, 401)
  t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
  t.equal(response.json().code, 'FST_JWT_SECURITY_INVALID_TOKEN')
  const state = await app.inject({ url: '/state', headers: bearer(token) })
  t.same(state.json(), {
    identity: null,
    jwtClaims: null,
    authFailure: { error: 'invalid_token', reason: 'identity_rejected' }
  }, 'a public route runs as anonymous, without the claims')
})

t.test('a revoked user is a 401 invalid_token, whatever the token says', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const token = await app.createJwtToken('carol')
  for (const [method, url] of [['GET', '/articles'], ['POST', '/articles']] as const) {
    const response = await app.inject({ method, url, headers: bearer(token) })
    t.equal(response.statusCode, 401, `${method} ${url}`)
    t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
  }
})

t.test('a known user without the permission is a 403 without a challenge', async (t) => {
  const app = await buildApp()
  t.teardown(() => app.close())
  const token = await app.createJwtToken('bob', { permissions: ['edit'] })
  const response = await app.inject({ method: 'POST', url: '/articles', headers: bearer(token) })
  t.equal(response.statusCode, 403, 'permissions come from the store, not from the token')
  t.equal(response.headers['www-authenticate'], undefined)
  t.same(response.json(), {
    statusCode: 403,
    code: 'FST_JWT_SECURITY_FORBIDDEN',
    error: 'Forbidden',
    message: 'You do not have permission to perform this action'
  })
  t.equal((await app.inject({ url: '/articles', headers: bearer(token) })).statusCode, 200)
})

t.test('no token is a 401 with a bare challenge, and the store is not read', async (t) => {
  const lookups: string[] = []
  const app = await buildApp(lookups)
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/articles' })
  t.equal(response.statusCode, 401)
  t.equal(response.headers['www-authenticate'], BARE)
  t.equal(response.json().code, 'FST_JWT_SECURITY_NO_CREDENTIALS')
  t.same(lookups, [])
})

t.test('a tampered token is a 401 invalid_token, and the store is not read', async (t) => {
  const lookups: string[] = []
  const app = await buildApp(lookups)
  t.teardown(() => app.close())
  const [header, payload, signature] = (await app.createJwtToken('bob')).split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'alice' })).toString('base64url')
  const token = `${header}.${forged}.${signature}`
  const response = await app.inject({ method: 'POST', url: '/articles', headers: bearer(token) })
  t.equal(response.statusCode, 401)
  t.equal(response.headers['www-authenticate'], INVALID_TOKEN)
  const state = await app.inject({ url: '/state', headers: bearer(token) })
  t.same(state.json().authFailure, { error: 'invalid_token', reason: 'signature_invalid' })
  t.same(lookups, [])
})

t.test('docs/security-policy.md shows this very policy', async (t) => {
  const [doc, fixture] = await Promise.all([
    readFile(new URL('../docs/security-policy.md', import.meta.url), 'utf8'),
    readFile(new URL('./fixtures/my-security-policy.ts', import.meta.url), 'utf8')
  ])
  const blocks = [...doc.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1])
  const expected = fixture.replace("from '../../lib/index.js'", "from 'fastify-jwt-security'")
  t.ok(blocks.includes(expected), 'a ts code block of the doc equals the fixture, but for the import path')
})
