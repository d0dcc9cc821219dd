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

// The status once the store answers again (the client reconnects by itself after a restart).
async function statusOnceBack (app: FastifyInstance, token: string): Promise<number> {
  let answer = 503
  for (let attempt = 0; attempt < 60 && answer === 503; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    answer = await status(app, token)
  }
  return answer
}

const NOT_PERSISTENT = /^Redis has neither AOF \(appendonly\) nor RDB snapshots \(save\) on: a restart of Redis forgets every revocation/
function persistenceWarnings (lines: string[]): Array<{ level: number, msg: string, redis: unknown }> {
  return lines.map((line) => JSON.parse(line)).filter((line) => NOT_PERSISTENT.test(line.msg))
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

t.test('an app started while Redis is down starts, refuses tokens with 503, recovers, and checks persistence then', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  await redis.kill()
  const lines: string[] = []
  const app = await instance(redis, {}, lines)
  t.teardown(() => app.close())
  const token = await app.createJwtToken('gina')
  t.equal(await status(app, token), 503)
  t.same(persistenceWarnings(lines), [], 'nothing is known of its persistence yet')
  await redis.start()
  t.equal(await statusOnceBack(app, token), 200)
  for (let attempt = 0; attempt < 20 && persistenceWarnings(lines).length === 0; attempt++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(persistenceWarnings(lines).length, 1, 'checked once Redis is reachable')
})

t.test('a Redis restarted without persistence forgets every revocation; with AOF it keeps them; only the first warns', async (t) => {
  const kept: Record<string, number[]> = {}
  for (const persistence of ['none', 'aof'] as const) {
    const redis = await startRedis({ persistence })
    t.teardown(() => redis.stop())
    const lines: string[] = []
    const app = await instance(redis, {}, lines)
    t.teardown(() => app.close())
    const [one, every] = [await app.createJwtToken('kim'), await app.createJwtToken('lee')]
    await app.revokeToken(decodeJwt(one))
    await app.revokeAllFor('lee')
    t.same([await status(app, one), await status(app, every)], [401, 401], `${persistence}: revoked`)
    await redis.kill()
    await redis.start()
    kept[persistence] = [await statusOnceBack(app, one), await statusOnceBack(app, every)]
    const warnings = persistenceWarnings(lines)
    if (persistence === 'none') {
      t.match(warnings, [{ level: 40, redis: { appendonly: 'no', save: '' } }], 'one warning, at start-up, not again after the restart')
      t.equal(warnings.length, 1)
    } else {
      t.same(warnings, [], 'AOF on: no warning')
    }
  }
  t.same(kept, { none: [200, 200], aof: [401, 401] }, 'without persistence the revoked tokens work again; with AOF they stay refused')
})

t.test('RDB snapshots alone count as persistence: no warning', async (t) => {
  const redis = await startRedis({ persistence: 'rdb' })
  t.teardown(() => redis.stop())
  const lines: string[] = []
  const app = await instance(redis, {}, lines)
  t.teardown(() => app.close())
  t.same(persistenceWarnings(lines), [])
})

t.test('the persistence check reads either reply shape, and is silent (debug) when CONFIG is refused or missing', async (t) => {
  const reply = (appendonly: string) => (_: 'GET', parameter: string) => [parameter, parameter === 'save' ? '' : appendonly]
  const cases: Array<[string, ((subcommand: 'GET', parameter: string) => unknown) | undefined, number, RegExp | null]> = [
    ['[name, value] replies, nothing on', reply('no'), 1, null],
    ['{ name: value } replies (ioredis replyMapping resp3)', (_, parameter) => ({ [parameter]: parameter === 'save' ? '' : 'no' }), 1, null],
    ['AOF on', reply('yes'), 0, null],
    ['a reply without the setting', () => [], 0, null],
    ['a null reply', () => null, 0, null],
    ['CONFIG refused (managed Redis)', () => { throw new Error("ERR unknown command 'CONFIG'") }, 0, /could not read Redis's persistence settings/],
    ['a client without config()', undefined, 0, null]
  ]
  for (const [name, config, warned, debug] of cases) {
    const lines: string[] = []
    const log = Fastify({ logger: { level: 'debug', stream: { write: (line: string) => { lines.push(line) } } } }).log
    const client = { mget: async () => [], set: async () => 'OK', eval: async () => 0, ...(config === undefined ? {} : { config: async (subcommand: 'GET', parameter: string) => config(subcommand, parameter) }) }
    const store = new RedisRevocationStore({ client })
    await store.init(log)
    await store.init(log)
    await new Promise((resolve) => setImmediate(resolve))
    t.equal(persistenceWarnings(lines).length, warned, `${name}: ${warned} warning(s), once however often init runs`)
    const debugLines = lines.map((line) => JSON.parse(line)).filter((line) => line.level === 20)
    if (debug === null) t.same(debugLines, [], `${name}: no debug line`)
    else t.match(debugLines, [{ msg: debug, err: { message: /unknown command/ } }], `${name}: one debug line`)
  }
})

t.test('revokeAllFor twice: the later cut-off and the later expiry win, whichever call comes first', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const store = new RedisRevocationStore({ client })
  const key = 'fastify-jwt-security:sub:0:alice'
  const revoked = async (iat: number) => await store.isRevoked({ sub: 'alice', iat })
  await store.revokeAllFor({ sub: 'alice' }, 1000, 7200)
  await store.revokeAllFor({ sub: 'alice' }, 2000, 60)
  t.same([await revoked(1500), await revoked(1999), await revoked(2000)], [true, true, false], 'moved forward')
  await store.revokeAllFor({ sub: 'alice' }, 1500, 60)
  t.equal(await client.get(key), '2000', 'an earlier cut-off (a clock behind) moves nothing back')
  t.ok(await client.pttl(key) > 7_100_000, 'a shorter time to live does not shorten the entry')
  await store.revokeAllFor({ sub: 'alice' }, 3000, 9000)
  t.ok(await client.pttl(key) > 8_900_000, 'a longer one lengthens it')
  await store.revokeAllFor({ sub: 'carol' }, 1000, null)
  await store.revokeAllFor({ sub: 'carol' }, 2000, 60)
  t.same([await client.get('fastify-jwt-security:sub:0:carol'), await client.ttl('fastify-jwt-security:sub:0:carol')], ['2000', -1], 'an entry without expiry keeps none')
})

t.test('a token without exp (maxTokenAge): its key outlives the last second jose accepts it in', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const app = await instance(redis, { expiresIn: false, maxTokenAge: 10 })
  t.teardown(() => app.close())
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const claims = decodeJwt(await app.createJwtToken('nina'))
  await app.revokeToken(claims)
  const before = Date.now()
  const left = await client.pttl(`fastify-jwt-security:jti:${ISSUER.length}:${ISSUER}${claims.jti as string}`)
  // jose accepts it while floor(now) <= iat + maxTokenAge, that is until (iat + 11) s.
  const acceptedUntil = ((claims.iat as number) + 11) * 1000
  t.ok(before + left >= acceptedUntil, `the key expires at or after ${acceptedUntil} (${before + left})`)
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
