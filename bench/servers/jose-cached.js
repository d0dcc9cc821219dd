// Contender "jose-cached": no plugin, the reference for the hit path: an onRequest hook that
// reads the Bearer token, looks it up in a Map of tokens already verified (checking their exp),
// and calls jose's jwtVerify (CryptoKey imported once, HS256 pinned) only for a token it has not
// seen. What "plugin-hs256" costs beyond this is what the plugin does on a hit beyond a bare lookup:
// its syntax and duplicate-header checks, the cache's rules, the identity and the permission check.
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { jwtVerify } from 'jose'
import { serve } from './common.js'
import { joseTokenPool } from './jose-pool.js'

const secret = randomBytes(32)
const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
const options = { algorithms: ['HS256'] }
const verified = new Map()

const app = Fastify({ logger: false })
app.decorateRequest('sub', '')

app.get('/hello', {
  onRequest: async (request, reply) => {
    const header = request.headers.authorization
    if (header === undefined || !header.startsWith('Bearer ')) return reply.code(401).send()
    const token = header.slice(7)
    let payload = verified.get(token)
    if (payload === undefined || payload.exp * 1000 <= Date.now()) {
      try {
        payload = (await jwtVerify(token, key, options)).payload
      } catch {
        return reply.code(401).send()
      }
      verified.set(token, payload)
    }
    request.sub = payload.sub
  }
}, async (request) => ({ hello: request.sub }))

await serve(app, await joseTokenPool(key))
