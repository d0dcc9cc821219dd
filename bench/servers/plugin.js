// The server of the plugin contenders with tokens: fastify-jwt-security with the default header policy.
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import jwtSecurity from 'fastify-jwt-security'
import { serve, tokenPool } from './common.js'

const SECRET_BYTES = { HS256: 32, HS384: 48, HS512: 64 }

/**
 * Serves GET /hello, which requires the permission 'view', with a pool of tokens signed by the
 * plugin itself (`app.createJwtToken`, default lifetime of 1 h, claim roles: ['view']).
 */
export async function servePlugin (algorithm) {
  const app = Fastify({ logger: false })
  await app.register(jwtSecurity, { secret: randomBytes(SECRET_BYTES[algorithm]), algorithm })

  // config.permission adds the check as the route's last onRequest hook, where @fastify/jwt's
  // contender calls request.jwtVerify().
  app.get('/hello', { config: { permission: 'view' } }, async (request) => ({ hello: request.authenticatedUserid }))

  const pool = await tokenPool((userid) => app.createJwtToken(userid, { roles: ['view'] }))
  await serve(app, pool)
}
