// Contender "plugin-anonymous": fastify-jwt-security registered (HS512, its default), and a public
// GET /hello requested with no Authorization header: the cost of the plugin's onRequest identity
// hook on a route that needs no permission. GET /private (permission 'view') exists only for the
// check before the run, that the plugin is really active (401 without a token).
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import jwtSecurity from 'fastify-jwt-security'
import { serve } from './common.js'

const app = Fastify({ logger: false })
await app.register(jwtSecurity, { secret: randomBytes(64) })

app.get('/hello', async () => ({ hello: 'world' }))
app.get('/private', { config: { permission: 'view' } }, async (request) => ({ hello: request.authenticatedUserid }))

await serve(app)
