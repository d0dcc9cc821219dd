import Fastify, { type FastifyInstance } from 'fastify'
import jwtSecurity, { type JwtSecurityOptions } from '../../lib/index.js'

/** A 64-byte random-looking secret, valid for every HS* algorithm. */
export const SECRET = 'k7Qp2Vx9Lm4Rt8Wz1Ny6Bc3Hd5Jf0Gs-Ua7Ie2Oo9Pk4Ql8Mr1Ns6Tv3Xw5Yz0Ab'

/** An app with the plugin and the routes most tests use: /public, /me, /view (permission view). */
export async function buildApp (
  options: Partial<JwtSecurityOptions> = {},
  addRoutes: (app: FastifyInstance) => void = () => {},
  app: FastifyInstance = Fastify()
): Promise<FastifyInstance> {
  await app.register(jwtSecurity, { secret: SECRET, ...options } as JwtSecurityOptions)
  app.get('/public', async (request) => ({
    identity: request.identity === null ? null : request.authenticatedUserid,
    authFailure: request.authFailure
  }))
  app.get('/me', { preHandler: app.permits(Authenticated) }, async (request) => ({
    userid: request.authenticatedUserid,
    principals: (request.identity as { principals?: unknown } | null)?.principals ?? null
  }))
  app.get('/view', { config: { permission: 'view' } }, async (request) => ({ userid: request.authenticatedUserid }))
  addRoutes(app)
  await app.ready()
  return app
}

const Authenticated = 'system.Authenticated'
