import { createHmac } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import { decodeJwt } from 'jose'
import jwtSecurity, { RedisRevocationStore, type JwtSecurityOptions } from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'

// A real Redis server, shared by two Fastify instances: what one revokes, the other refuses on
// the very next request.

const ISSUER = 'https://auth.example'

async function instance (redis: RedisServer, options: Partial<JwtSecurityOptions> = {}, lines: string[] = []): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(jwtSecurity, {
    secret: SECRET,
    issuer: ISSUER,
    expiresIn: '1h',
    revocation: new RedisRevocationStore({ url: redis.url, timeout: 0.5 }),
    ...options
  })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => request.authenticatedUserid)
  app.post('/logout', async (request, reply) => { await reply.forget(); return { ok: true } })
  await app.ready()
  return app
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
async function status (app: FastifyInstance, token: string): Promise<number> {
  return (await app.inject({ url: '/me', headers: bearer(token) })).statusCode
}

t.test('two instances share one Redis: logout on A is refused on B; revokeAllFor on B is refused on A', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const a = await instance(redis)
  const b = await instance(redis)
  t.teardown(async () => { await a.close(); await b.close() })

  const token = await a.createJwtToken('alice')
  t.same([await status(a, token), await status(b, token)], [200, 200])
  t.equal((await a.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode, 200)
  t.equal(await status(b, token), 401, 'refused on B on the very next request')
  t.equal(await status(a, token), 401)

  const tokens = [await a.createJwtToken('bob'), await b.createJwtToken('bob')]
  await b.revokeAllFor('bob')
  for (const bobToken of tokens) t.equal(await status(a, bobToken), 401, 'every token of bob is refused on A')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const later = await a.createJwtToken('bob')
  t.same([await status(a, later), await status(b, later)], [200, 200], 'tokens issued after it work')
})

t.test('tokens without jti (minted elsewhere) are checked by subject only', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const app = await instance(redis)
  t.teardown(() => app.close())
  const b64u = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const input = `${b64u({ alg: 'HS512', typ: 'JWT' })}.${b64u({ sub: 'hank', iss: ISSUER, iat: now - 5, exp: now + 600 })}`
  const token = `${input}.${createHmac('sha512', SECRET).update(input).digest('base64url')}`
  t.equal(await status(app, token), 200)
  await app.revokeAllFor('hank')
  t.equal(await status(app, token), 401)
})

t.test('sessions: a cookie session revoked on one instance is refused with every token it left', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const a = await instance(redis)
  const b = await instance(redis)
  t.teardown(async () => { await a.close(); await b.close() })
  const sid = 'session-42'
  const first = await a.createJwtToken('judy', { sid })
  const second = await a.createJwtToken('judy', { sid })
  const unrelated = await a.createJwtToken('judy', { sid: 'session-43' })
  await a.revokeToken(decodeJwt(second))
  t.same([await status(b, first), await status(b, second), await status(b, unrelated)], [401, 401, 200])
})

t.test('keys carry the token\'s remaining life as TTL, and are gone after exp', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const app = await instance(redis, { maxTokenAge: '2h' })
  t.teardown(() => app.close())
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())

  const long = await app.createJwtToken('carol')
  await app.revokeToken(decodeJwt(long))
  const [key] = await client.keys('fastify-jwt-security:jti:*')
  t.ok(key, 'one key for the token')
  const ttl = await client.ttl(key as string)
  t.ok(ttl > 3590 && ttl <= 3601, `the TTL is the token's remaining life (${ttl} s)`)

  await app.revokeAllFor('carol')
  const [subjectKey] = await client.keys('fastify-jwt-security:sub:*')
  const subjectTtl = await client.ttl(subjectKey as string)
  t.ok(subjectTtl > 7195 && subjectTtl <= 7202, `a subject entry lives as long as the oldest token it can refuse (${subjectTtl} s)`)

  const short = await app.createJwtToken('dave', {}, { expiresIn: 2 })
  await app.revokeToken(decodeJwt(short))
  t.equal(await status(app, short), 401)
  const shortKey = `fastify-jwt-security:jti:${ISSUER.length}:${ISSUER}${decodeJwt(short).jti as string}`
  t.equal(await client.exists(shortKey), 1)
  await new Promise((resolve) => setTimeout(resolve, 3100))
  t.equal(await client.exists(shortKey), 0, 'after the token\'s exp the key is gone')
})

t.test('Redis killed mid-run: 503 at once, no 500, no hang, no crash; restarted: works again', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const lines: string[] = []
  const app = await instance(redis, {}, lines)
  t.teardown(() => app.close())
  const token = await app.createJwtToken('erin')
  t.equal(await status(app, token), 200)

  await redis.kill()
  for (let request = 0; request < 5; request++) {
    const started = Date.now()
    const response = await app.inject({ url: '/me', headers: bearer(token) })
    const elapsed = Date.now() - started
    t.equal(response.statusCode, 503, 'fail closed')
    t.equal(response.json().code, 'FST_JWT_SECURITY_REVOCATION_UNAVAILABLE')
    t.ok(elapsed < 1500, `answered in ${elapsed} ms`)
  }
  await t.rejects(app.revokeToken(decodeJwt(token)), { code: 'FST_JWT_SECURITY_REVOCATION_FAILED' }, 'a revoke is an error while Redis is down')
  t.match(lines.join('\n'), /revocation store/, 'a clear log line')

  await redis.start()
  let recovered = 0
  for (let attempt = 0; attempt < 60 && recovered !== 200; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    recovered = await status(app, token)
  }
  t.equal(recovered, 200, 'requests recover by themselves when Redis is back')
})

t.test('a client of your own is used and left open; options are checked', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const client = new Redis(redis.url, { enableOfflineQueue: false, commandTimeout: 500 })
  await new Promise((resolve) => client.once('ready', resolve))
  t.teardown(() => client.disconnect())
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, revocation: new RedisRevocationStore({ client, prefix: 'app1:' }) })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => request.authenticatedUserid)
  const token = await app.createJwtToken('frank')
  await app.revokeToken(decodeJwt(token))
  t.equal(await status(app, token), 401)
  t.equal((await client.keys('app1:jti:*')).length, 1, 'keys carry the prefix')
  await app.close()
  t.equal(await client.ping(), 'PONG', 'the app did not close a client it was given')

  const bad: Array<[unknown, RegExp]> = [
    [{}, /"url": give either url or client/],
    [{ url: redis.url, client }, /"url": give either url or client/],
    [{ url: 'http://127.0.0.1' }, /"url": expected a redis:\/\//],
    [{ client: {} }, /"client": expected an ioredis client/],
    [{ url: redis.url, prefix: 1 }, /"prefix"/],
    [{ url: redis.url, timeout: 0 }, /"timeout"/],
    [{ client, timeout: '2s' }, /"timeout": applies to the client created from url: set commandTimeout on your own client/],
    [{ url: redis.url, failOpen: 'yes' }, /"failOpen"/],
    [{ url: redis.url, ttl: 1 }, /"ttl": unknown option/]
  ]
  for (const [options, message] of bad) t.throws(() => new RedisRevocationStore(options as never), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message })
  await t.rejects(async () => { await new RedisRevocationStore({ url: redis.url }).isRevoked({ sub: 'a', iat: 1 }) }, /not initialised/)
})

t.test('an app started while Redis is down starts, refuses tokens with 503, and recovers', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  await redis.kill()
  const app = await instance(redis)
  t.teardown(() => app.close())
  const token = await app.createJwtToken('gina')
  t.equal(await status(app, token), 503)
  await redis.start()
  let recovered = 0
  for (let attempt = 0; attempt < 60 && recovered !== 200; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    recovered = await status(app, token)
  }
  t.equal(recovered, 200)
})

t.test('without the ioredis package, a url store says what to install', async (t) => {
  const { RedisRevocationStore: Store } = await t.mockImport<typeof import('../../lib/revocation/redis-store.js')>('../../lib/revocation/redis-store.js', {
    ioredis: { get Redis () { throw new Error("Cannot find package 'ioredis'") } }
  })
  const store = new Store({ url: 'redis://127.0.0.1:1' })
  await t.rejects(store.init(Fastify().log), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: /"url": needs the ioredis package: npm install ioredis/ })
})

t.test('connection errors are logged at most every 10 seconds, and the recovery once', async (t) => {
  const { EventEmitter } = await import('node:events')
  const clients: Array<InstanceType<typeof EventEmitter>> = []
  class FakeRedis extends EventEmitter {
    constructor () { super(); clients.push(this) }
    async connect () { throw new Error('ECONNREFUSED') }
    disconnect () {}
  }
  const { RedisRevocationStore: Store } = await t.mockImport<typeof import('../../lib/revocation/redis-store.js')>('../../lib/revocation/redis-store.js', {
    ioredis: { Redis: FakeRedis }
  })
  const lines: Array<{ level: number, msg: string }> = []
  const log = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } }).log
  const store = new Store({ url: 'redis://127.0.0.1:1' })
  await store.init(log)
  const [client] = clients
  client?.emit('ready')
  t.same(lines, [], 'a first connection says nothing')
  client?.emit('error', new Error('ECONNREFUSED'))
  client?.emit('error', new Error('ECONNREFUSED'))
  client?.emit('error', new Error('ECONNREFUSED'))
  t.same(lines.map((line) => [line.level, line.msg]), [[50, 'the Redis revocation store is unreachable: requests with tokens are refused (503) until it is back']])
  client?.emit('ready')
  t.same(lines.map((line) => line.msg).at(-1), 'the Redis revocation store is reachable again')
  await store.init(log)
  t.equal(clients.length, 1, 'init connects once')
})

t.test('with tokens that may never expire, Redis keys have no TTL', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const app = await instance(redis, { expiresIn: false })
  t.teardown(() => app.close())
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const token = await app.createJwtToken('ivy')
  await app.revokeToken(decodeJwt(token))
  await app.revokeAllFor('ivy')
  const keys = await client.keys('fastify-jwt-security:*')
  t.equal(keys.length, 2)
  for (const key of keys) t.equal(await client.ttl(key), -1, `${key.split(':')[1]}: no expiry`)
  t.equal(await status(app, token), 401)
})
