// Contender "jose-cold": no plugin, only an onRequest hook that verifies the Bearer token with
// jose's jwtVerify and a CryptoKey imported once, HS256 pinned: the floor for any verifier built
// on jose, under the same load as "plugin-cold" (every request carries a new token). What
// "plugin-cold" costs beyond this is the plugin's own.
import Fastify from 'fastify'
import { jwtVerify } from 'jose'
import { coldSecret, serve } from './common.js'

const key = await crypto.subtle.importKey('raw', coldSecret(), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
const options = { algorithms: ['HS256'] }

const app = Fastify({ logger: false })
app.decorateRequest('sub', '')

app.get('/hello', {
  onRequest: async (request, reply) => {
    const header = request.headers.authorization
    if (header === undefined || !header.startsWith('Bearer ')) return reply.code(401).send()
    try {
      const { payload } = await jwtVerify(header.slice(7), key, options)
      request.sub = payload.sub
    } catch {
      return reply.code(401).send()
    }
  }
}, async (request) => ({ hello: request.sub }))

await serve(app)
