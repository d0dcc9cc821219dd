import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { TokenPair } from '../../lib/index.js'

// The two requests of a refresh-token client, against an app with POST /login (reply.issueTokens)
// and POST /auth/refresh (app.refreshHandler()).

/** Logs `username` in; throws unless the app answers 200. */
export async function login (app: FastifyInstance, username = 'alice'): Promise<TokenPair> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { username } })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.body}`)
  return response.json()
}

/** A refresh with a JSON body, as RFC 6749 §6 names its members. */
export async function refreshJson (app: FastifyInstance, token: string): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/auth/refresh', payload: { grant_type: 'refresh_token', refresh_token: token } })
}
