// Contender "bare-hook": the bare route in an app that pays what any plugin resolving an identity in
// onRequest pays before its own code runs: one global onRequest hook (written with `done`, doing
// nothing) and the request and reply decorations fastify-jwt-security adds. A control, not a competitor:
// "plugin-anonymous" is divided by it, so what remains of that ratio is the plugin's own work.
import Fastify from 'fastify'
import { serve } from './common.js'

const app = Fastify({ logger: false })

// The plugin's request decorations, with the same initial values (Fastify sets each on every request).
for (const [name, initial] of [['identity', null], ['jwtClaims', null], ['authenticatedUserid', null], ['isAuthenticated', false], ['authFailure', null]]) {
  app.decorateRequest(name, initial)
}
app.decorateRequest(Symbol('rootContext'), null)
app.decorateRequest('hasPermission', function () {})
app.decorateRequest('createJwtToken', function () {})
app.decorateReply('remember', async function () {})
app.decorateReply('forget', async function () {})
app.addHook('onRequest', (request, reply, done) => { done() })

app.get('/hello', async () => ({ hello: 'world' }))

await serve(app)
