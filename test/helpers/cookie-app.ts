import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import jwtSecurity, { JwtCookiePolicy, type JwtCookiePolicyOptions, type JwtSecurityOptions } from '../../lib/index.js'
import { SECRET } from './app.js'

export const START = 1_800_000_000_000

/** A cookie-session app with a controllable clock: POST/DELETE /session, GET /public, GET /view, POST /edit. */
export async function buildCookieApp (
  policyOptions: JwtCookiePolicyOptions = {},
  options: Partial<JwtSecurityOptions> = {},
  addRoutes: (app: FastifyInstance) => void = () => {}
) {
  const clock = { now: START }
  const app = Fastify()
  const policy = new JwtCookiePolicy(policyOptions)
  await app.register(jwtSecurity, { secret: SECRET, expiresIn: '2h', now: () => clock.now, policy, ...options })
  app.post('/session', async (request, reply) => {
    const { userid = 'alice', claims = { roles: ['view'] } } = (request.body ?? {}) as { userid?: string | number, claims?: Record<string, unknown> }
    await reply.remember(userid, claims)
    return { ok: true, csrfToken: policy.csrfToken(request) }
  })
  app.delete('/session', async (request, reply) => {
    await reply.forget()
    return { ok: true, csrfToken: policy.csrfToken(request) }
  })
  app.get('/public', async (request) => ({ userid: request.authenticatedUserid, failure: request.authFailure }))
  app.get('/view', { config: { permission: 'view' } }, async (request) => ({ userid: request.authenticatedUserid, csrfToken: policy.csrfToken(request) }))
  app.post('/edit', { config: { permission: 'view' } }, async (request) => ({ userid: request.authenticatedUserid }))
  addRoutes(app)
  await app.ready()
  return { app, clock, policy }
}

/** The Set-Cookie values of a response, as an array. */
export function setCookies (response: LightMyRequestResponse): string[] {
  const header = response.headers['set-cookie']
  return header === undefined ? [] : Array.isArray(header) ? header : [header]
}

/** The value a response set for cookie `name`, or undefined. */
export function cookieValue (response: LightMyRequestResponse, name: string): string | undefined {
  return response.cookies.find((cookie) => cookie.name === name)?.value
}

/** Logs in and returns the session and CSRF cookie values. */
export async function login (app: FastifyInstance, body: object = {}, name = '__Host-session') {
  const response = await app.inject({ method: 'POST', url: '/session', payload: body })
  return { response, session: cookieValue(response, name) as string, csrf: cookieValue(response, `${name}-csrf`) as string }
}
