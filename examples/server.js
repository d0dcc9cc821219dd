// `npm start`: the example app on 127.0.0.1:PORT (default 3000). REISSUE_TIME (default 15m) sets
// how old a session cookie gets before it is reissued; REDIS_URL, when set, shares revocations
// (logouts) between instances through Redis instead of keeping them in memory.
import { randomBytes } from 'node:crypto'
import { MemoryRevocationStore, RedisRevocationStore } from 'fastify-jwt-security'
import { buildApp } from './app.js'

const port = Number(process.env.PORT ?? 3000)
let secret = process.env.JWT_SECRET
const generated = secret === undefined || secret === ''
if (generated) secret = randomBytes(64).toString('base64url')

const app = await buildApp({
  secret,
  logger: { level: process.env.LOG_LEVEL ?? 'info' },
  reissueTime: process.env.REISSUE_TIME ?? '15m',
  // One instance keeps logouts in memory; several instances share them through Redis.
  revocation: process.env.REDIS_URL === undefined || process.env.REDIS_URL === ''
    ? new MemoryRevocationStore()
    : new RedisRevocationStore({ url: process.env.REDIS_URL })
})
if (generated) {
  app.log.warn('JWT_SECRET is not set: using a development secret generated at start-up. Tokens stop working when the app restarts; set JWT_SECRET (64 random bytes for HS512) outside development.')
}

try {
  await app.listen({ host: '127.0.0.1', port })
} catch (error) {
  app.log.error(error)
  process.exit(1)
}

const address = app.server.address()
app.log.info(`Open http://127.0.0.1:${address.port}/ in a browser, or try: curl -s -X POST http://127.0.0.1:${address.port}/login -H 'content-type: application/json' -d '{"username":"bob","password":"bob-demo-password"}'`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  })
}
