// Contender "fastify-jwt-cold": @fastify/jwt with its default configuration, as "fastify-jwt", under
// requests that each carry a token never seen before, signed by the parent with the secret it passes
// in BENCH_JWT_SECRET (see bench/cold-tokens.js). @fastify/jwt caches nothing by default, so this
// differs from "fastify-jwt" only by the load: the same one as "plugin-cold".
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { coldSecret, serve } from './common.js'

const app = Fastify({ logger: false })
await app.register(fastifyJwt, { secret: coldSecret() })

app.get('/hello', {
  onRequest: async (request) => {
    await request.jwtVerify()
  }
}, async (request) => ({ hello: request.user.sub }))

await serve(app)
