import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import Fastify from 'fastify'
import t from 'tap'
import jwtSecurity from '../lib/index.js'
import { SECRET } from './helpers/app.js'
t.test('mem', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET, cache: { maxEntries: 10_000 } })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => request.authenticatedUserid)
  await app.ready()
  const tokens = await Promise.all(Array.from({ length: 10_000 }, async (_, index) => await app.createJwtToken(`user-${index}`, { roles: ['view', 'edit'], name: `User number ${index}` })))
  setFlagsFromString('--expose-gc'); const gc = runInNewContext('gc') as () => void
  gc(); const before = process.memoryUsage().heapUsed
  for (let pass = 0; pass < 4; pass++) {
    for (const token of tokens) await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    gc(); t.comment(`pass ${pass}: ${((process.memoryUsage().heapUsed - before) / 1048576).toFixed(1)} MB`)
  }
})
