import { Redis } from 'ioredis'
import t from 'tap'
import { RedisDpopReplayStore, type RedisDpopClientLike } from '../../lib/dpop/redis-replay-store.js'
import { startRedis } from '../helpers/redis-server.js'
import { capturingLog, until, type LogLine } from '../helpers/store-tests.js'

// A real Redis server: what one store instance records, another on the same Redis sees at once.

t.test('two stores on one Redis: a proof accepted by one is a replay for the other, even at the same moment', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const [a, b] = [new RedisDpopReplayStore({ url: redis.url }), new RedisDpopReplayStore({ url: redis.url })]
  t.teardown(() => { a.close(); b.close() })
  await a.init(capturingLog())
  await b.init(capturingLog())

  t.equal(await a.firstUse('jkt:j1', 60), true)
  t.equal(await b.firstUse('jkt:j1', 60), false, 'the other instance refuses the replay')
  t.equal(await a.firstUse('jkt:j1', 60), false)
  t.equal(await b.firstUse('jkt:j2', 60), true)
  t.equal(await a.firstUse('jkt:j2', 60), false)

  const answers = await Promise.all(Array.from({ length: 20 }, async (_, at) => await (at % 2 === 0 ? a : b).firstUse('jkt:raced', 60)))
  t.equal(answers.filter((first) => first).length, 1, 'twenty concurrent uses on two instances: exactly one is first')
})

t.test('keys carry the prefix and the time to live in whole seconds, and are gone when it ends', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const store = new RedisDpopReplayStore({ url: redis.url, prefix: 'billing:dpop:' })
  t.teardown(() => store.close())
  await store.init(capturingLog())

  await store.firstUse('jkt:long', 60)
  await store.firstUse('jkt:rounded', 2.5)
  await store.firstUse('jkt:short', 0.2)
  const left = async (key: string) => await client.pttl(`billing:dpop:${key}`)
  const long = await left('jkt:long')
  t.ok(long > 59_000 && long <= 60_000, `60 s (${long} ms)`)
  const rounded = await left('jkt:rounded')
  t.ok(rounded > 2000 && rounded <= 3000, `2.5 s is rounded up to 3 s (${rounded} ms)`)
  const short = await left('jkt:short')
  t.ok(short > 0 && short <= 1000, `at least 1 s, never 0, which Redis refuses (${short} ms)`)
  t.same(await client.keys('fastify-jwt-security:*'), [], 'nothing under the default prefix')

  t.ok(await until(async () => await client.exists('billing:dpop:jkt:short') === 0, 30), 'the key is gone once its time to live ends')
  t.equal(await store.firstUse('jkt:short', 1), true, 'and the key is a first use again')

  const byDefault = new RedisDpopReplayStore({ client })
  await byDefault.firstUse('jkt:j', 60)
  t.equal(await client.get('fastify-jwt-security:dpop:jkt:j'), '1', 'the default prefix')
})

t.test('a store created from a url closes its own client; a client of your own is used and left open', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const watcher = new Redis(redis.url)
  t.teardown(() => watcher.disconnect())
  const connections = async () => ((await watcher.client('LIST')) as string).trim().split('\n').length

  const owned = new RedisDpopReplayStore({ url: redis.url })
  await owned.init(capturingLog())
  await owned.init(capturingLog())
  t.equal(await connections(), 2, 'the watcher and the store: init connects once')
  t.equal(await owned.firstUse('jkt:j1', 60), true)
  owned.close()
  t.ok(await until(async () => await connections() === 1), 'close() disconnected the store\'s client')
  await t.rejects(owned.firstUse('jkt:j2', 60), 'a closed store cannot tell, and says so')

  const client = new Redis(redis.url, { enableOfflineQueue: false, commandTimeout: 500 })
  await new Promise((resolve) => client.once('ready', resolve))
  t.teardown(() => client.disconnect())
  const given: RedisDpopClientLike = client
  const store = new RedisDpopReplayStore({ client: given })
  t.equal(await store.firstUse('jkt:j3', 60), true, 'a given client works before init')
  await store.init(capturingLog())
  t.equal(await store.firstUse('jkt:j3', 60), false)
  store.close()
  t.equal(await client.ping(), 'PONG', 'close() left the given client open')
  t.equal(await connections(), 2, 'the watcher and the given client')
})

t.test('Redis killed: firstUse rejects at once, one log line; Redis back: it works again', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const lines: LogLine[] = []
  // A long timeout: answers within it come from the closed offline queue, not from waiting.
  const store = new RedisDpopReplayStore({ url: redis.url, timeout: '5s' })
  t.teardown(() => store.close())
  await store.init(capturingLog(lines))
  t.equal(await store.firstUse('jkt:before', 60), true)

  await redis.kill()
  for (let attempt = 0; attempt < 5; attempt++) {
    const started = Date.now()
    await t.rejects(store.firstUse(`jkt:down-${attempt}`, 60), 'fails closed: never true without the key recorded')
    const elapsed = Date.now() - started
    t.ok(elapsed < 1000, `rejected in ${elapsed} ms`)
  }
  t.ok(await until(() => lines.length > 0, 30), 'the outage is logged')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same(lines.map((line) => [line.level, line.msg]), [[50, 'the Redis DPoP replay store is unreachable: requests with DPoP proofs are refused (503) until it is back']], 'once, however many reconnection attempts fail')

  await redis.start()
  t.ok(await until(async () => await store.firstUse('jkt:after', 60).then(() => true, () => false)), 'works again once Redis is back')
  t.equal(await store.firstUse('jkt:after', 60), false, 'and records keys again')
  t.same(lines.map((line) => line.msg).at(-1), 'the Redis DPoP replay store is reachable again')
})

t.test('firstUse is one SET … EX … NX; any answer but OK or null, and any failure, rejects', async (t) => {
  const calls: unknown[][] = []
  const replies: unknown[] = ['OK', null, 'QUEUED']
  const client: RedisDpopClientLike = {
    set: async (...args: unknown[]) => {
      calls.push(args)
      return replies.shift()
    }
  }
  const store = new RedisDpopReplayStore({ client, prefix: 'p:' })
  t.equal(await store.firstUse('jkt:j', 2.5), true)
  t.equal(await store.firstUse('jkt:j', 2.5), false)
  await t.rejects(store.firstUse('jkt:j', 2.5), { message: 'the Redis DPoP replay store got string in reply to SET … NX, expected "OK" or null' })
  t.same(calls, Array.from({ length: 3 }, () => ['p:jkt:j', '1', 'EX', 3, 'NX']), 'one command per check')
  await t.rejects(store.firstUse('jkt:j', Number.NaN), { name: 'RangeError', message: /needs a finite time to live/ })
  t.equal(calls.length, 3, 'a time to live that is not a number sends nothing')

  const failing = new RedisDpopReplayStore({ client: { set: async () => { throw new Error('READONLY You can\'t write against a read only replica.') } } })
  await t.rejects(failing.firstUse('jkt:j', 60), { message: /READONLY/ }, 'a Redis error rejects')
})

t.test('options are checked', async (t) => {
  const client = { set: async () => 'OK' }
  const bad: Array<[unknown, RegExp]> = [
    [{}, /"url": give either url or client/],
    [{ url: 'redis://127.0.0.1:6379', client }, /"url": give either url or client/],
    [{ url: 'http://127.0.0.1' }, /"url": expected a redis:\/\//],
    [{ client: {} }, /"client": expected an ioredis client/],
    [{ client: null }, /"client": expected an ioredis client/],
    [{ client: { get: async () => null } }, /"client": expected an ioredis client/],
    [{ url: 'redis://127.0.0.1:6379', prefix: 1 }, /"prefix": expected a string/],
    [{ url: 'redis://127.0.0.1:6379', timeout: 0 }, /"timeout": must be more than 0 seconds/],
    [{ url: 'redis://127.0.0.1:6379', timeout: '1 hour' }, /"timeout": expected seconds or a duration/],
    [{ client, timeout: '2s' }, /"timeout": applies to the client created from url: set commandTimeout on your own client/],
    [{ url: 'redis://127.0.0.1:6379', failOpen: true }, /"failOpen": unknown option/],
    [null, /"options": expected an object/]
  ]
  for (const [options, message] of bad) t.throws(() => new RedisDpopReplayStore(options as never), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message }, String(message))
  t.ok(new RedisDpopReplayStore({ url: 'rediss://cache.internal:6380/0', prefix: '', timeout: '2s' }), 'a TLS URL, an empty prefix and a duration string')
  await t.rejects(new RedisDpopReplayStore({ url: 'redis://127.0.0.1:6379' }).firstUse('jkt:j', 60), { message: 'the Redis DPoP replay store is not initialised: register it with the plugin' })
})

t.test('without the ioredis package, a url store says what to install', async (t) => {
  const { RedisDpopReplayStore: Store } = await t.mockImport<typeof import('../../lib/dpop/redis-replay-store.js')>('../../lib/dpop/redis-replay-store.js', {
    ioredis: { get Redis () { throw new Error("Cannot find package 'ioredis'") } }
  })
  const store = new Store({ url: 'redis://127.0.0.1:1' })
  await t.rejects(store.init(capturingLog()), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: /"url": needs the ioredis package: npm install ioredis/, cause: { message: /Cannot find package/ } })
})
