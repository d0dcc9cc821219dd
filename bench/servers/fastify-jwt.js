// Contender "fastify-jwt": @fastify/jwt with its default configuration (HS256 with a 32-byte random
// secret, no verification cache), and request.jwtVerify() in the route's onRequest hook. Its tokens
// carry the same claims as the plugin's: sub, roles, jti, iat and exp (1 h).
import { randomBytes, randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { serve, tokenPool } from './common.js'

const app = Fastify({ logger: false })
await app.register(fastifyJwt, { secret: randomBytes(32) })

app.get('/hello', {
  onRequest: async (request) => {
    await request.jwtVerify()
  }
}, async (request) => ({ hello: request.user.sub }))

const pool = await tokenPool(async (userid) => app.jwt.sign({ sub: userid, roles: ['view'], jti: randomUUID() }, { expiresIn: '1h' }))
await serve(app, pool)
