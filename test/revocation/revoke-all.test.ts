import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import jwtSecurity, { MemoryRevocationStore, RedisRevocationStore, type RevocationStore } from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { startRedis } from '../helpers/redis-server.js'

// revokeAllFor called more than once, from instances that share a store: the cut-off only moves
// forward, whatever the clock of the instance that calls it. Both built-in stores behave the same.

const START = 1_800_000_000_000

async function stores (t: Test): Promise<Array<[string, () => RevocationStore]>> {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const memory = new MemoryRevocationStore()
  return [['memory', () => memory], ['redis', () => new RedisRevocationStore({ url: redis.url })]]
}

async function instance (store: RevocationStore, clock: { now: number }, maxTokenAge: number): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, maxTokenAge, now: () => clock.now, revocation: store })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => request.authenticatedUserid)
  await app.ready()
  return app
}

async function status (app: FastifyInstance, token: string): Promise<number> {
  return (await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })).statusCode
}

t.test('a second revokeAllFor moves the cut-off forward; one from a clock behind never moves it back', async (t) => {
  for (const [name, store] of await stores(t)) {
    const clock = { now: START }
    const skewed = { now: START - 300_000 } // five minutes behind
    const app = await instance(store(), clock, 3600)
    const behind = await instance(store(), skewed, 3600)
    t.teardown(async () => { await app.close(); await behind.close() })
    const first = await app.createJwtToken('alice')
    await app.revokeAllFor('alice')
    clock.now += 10_000
    const between = await app.createJwtToken('alice')
    t.same([await status(app, first), await status(app, between)], [401, 200], `${name}: the first call refuses the tokens issued before it`)
    clock.now += 10_000
    await app.revokeAllFor('alice')
    clock.now += 10_000
    const after = await app.createJwtToken('alice')
    t.same([await status(app, between), await status(app, after)], [401, 200], `${name}: the second call refuses the tokens issued between the two`)
    await behind.revokeAllFor('alice')
    t.same([await status(app, first), await status(app, between), await status(app, after)], [401, 401, 200], `${name}: a call from a clock behind moves nothing back`)
  }
})
