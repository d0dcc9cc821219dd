// Contender "plugin-cookie": fastify-jwt-security with the cookie policy (cookie "session", Secure
// off for plain HTTP on loopback, the CSRF defence on by default: GET is a safe method, so it checks
// nothing here), HS256 with a 32-byte random secret. Requests carry `Cookie: session=<token>` from a
// pool of 1,000 tokens minted with app.createJwtToken: the policy accepts them, auth_time falling
// back to iat.
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import jwtSecurity, { JwtCookiePolicy } from 'fastify-jwt-security'
import { serve, tokenPool } from './common.js'

const app = Fastify({ logger: false })
await app.register(jwtSecurity, {
  secret: randomBytes(32),
  algorithm: 'HS256',
  policy: new JwtCookiePolicy({ cookieName: 'session', secure: false })
})

app.get('/hello', { config: { permission: 'view' } }, async (request) => ({ hello: request.authenticatedUserid }))

const pool = await tokenPool((userid) => app.createJwtToken(userid, { roles: ['view'] }))
await serve(app, pool)
