// Contender "plugin-cold": fastify-jwt-security with its default options (header policy,
// verified-token cache on) and HS256, under requests that each carry a token never seen before.
// The parent signs those tokens by hand with the secret it passes in BENCH_JWT_SECRET (see
// bench/cold-tokens.js), so every request pays the full verification, plus what the cache costs when
// it cannot help: noting the fingerprint of a token it sees for the first time.
import Fastify from 'fastify'
import jwtSecurity from 'fastify-jwt-security'
import { coldSecret, serve } from './common.js'

const app = Fastify({ logger: false })
await app.register(jwtSecurity, { secret: coldSecret(), algorithm: 'HS256' })

app.get('/hello', { config: { permission: 'view' } }, async (request) => ({ hello: request.authenticatedUserid }))

await serve(app)
