import fastifyCookie from '@fastify/cookie'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import { DpopNonceRequiredError, DpopProofRefusedError, InvalidGrantError, InvalidOptionError, RefreshUnavailableError } from '../errors.js'
import { openHandler } from '../authz/permits.js'
import { hasTwoPairs } from '../policies/cookie-header.js'
import { toUserid } from '../tokens/claims.js'
import type { ResolvedRefresh } from './options.js'
import { RefreshSessions, type TokenPair } from './sessions.js'

/**
 * What a token response holds (RFC 6749 §5.1): with the `refresh.cookie` transport, the refresh
 * token is in the cookie and not in the body.
 * @example
 * ```ts
 * import type { TokenResponse } from 'fastify-jwt-security'
 *
 * app.post('/login', async (request, reply): Promise<TokenResponse> => {
 *   const user = await checkPassword(request.body) // your code
 *   return await reply.issueTokens(user.id, { roles: user.roles })
 * })
 * ```
 */
export type TokenResponse = Omit<TokenPair, 'refresh_token'> & { readonly refresh_token?: string }

/**
 * A session as an account page shows it: never its tokens or its secret.
 * @example
 * ```ts
 * app.get('/account/sessions', { preHandler: app.permits('system.Authenticated') }, async (request) => {
 *   const sessions = await app.listSessions(request.authenticatedUserid as string)
 *   return sessions.map((session) => ({ ...session, current: session.id === request.jwtClaims?.sid }))
 * })
 * ```
 */
export interface RefreshSessionInfo {
  readonly id: string
  readonly createdAt: Date
  readonly lastUsedAt: Date
  readonly expiresAt: Date
  /** True when its tokens are bound to a DPoP key. */
  readonly dpopBound: boolean
}

/** What the refresh decorators need from the rest of the plugin, resolved at registration. */
export interface RefreshDependencies {
  readonly sign: (userid: string, claims: Record<string, unknown>, options: { expiresIn: number, jkt?: string }) => Promise<string>
  readonly encodeClaims: (claims: Record<string, unknown>) => Record<string, unknown>
  readonly revokeSession: (sid: string, iss: string | undefined, ttlSeconds: number) => Promise<void>
  readonly now: () => number
  readonly issuer: string | undefined
  readonly leeway: number
  /** Whether the `dpop` option is set: a refresh request's DPoP proof is then checked. */
  readonly dpop: boolean
}

const oauthError = (error: string, description: string) => Object.freeze({ error, error_description: description })
const MISSING_TOKEN = oauthError('invalid_request', 'The request has no refresh token')
const UNSUPPORTED_GRANT = oauthError('unsupported_grant_type', 'Only grant_type=refresh_token is accepted here')
const HEADER_MISSING = oauthError('invalid_request', 'The refresh request lacks its required header')
const COOKIE_DUPLICATED = oauthError('invalid_request', 'The refresh cookie was sent twice')
const INVALID_GRANT = oauthError('invalid_grant', new InvalidGrantError().message)
const INVALID_PROOF = oauthError('invalid_dpop_proof', new DpopProofRefusedError().message)
const USE_NONCE = oauthError('use_dpop_nonce', new DpopNonceRequiredError().message)
const NO_STORE = 'no-store'

/** What `reply.forget()` and `app.revokeAllFor()` do to refresh sessions. */
export interface RefreshLifecycle {
  /** Ends the session of the request's access token (its `sid`, if the token's `sub` owns it), and clears the refresh cookie. */
  forget (reply: FastifyReply, claims: { readonly sid?: unknown, readonly sub?: unknown } | null): Promise<void>
  /** Ends every session of `userid` ("sign out everywhere"). */
  endAll (userid: string, log: FastifyBaseLogger): Promise<void>
}

/**
 * Adds `reply.issueTokens()`, `app.refreshHandler()`, `app.listSessions()` and `app.endSession()`,
 * and returns what `reply.forget()` and `app.revokeAllFor()` add for refresh sessions.
 */
export async function decorateRefresh (fastify: FastifyInstance, refresh: ResolvedRefresh, dependencies: RefreshDependencies): Promise<RefreshLifecycle> {
  const { store, cookie, accessTokenLifetime, maxSessionAge } = refresh
  const sessionTtl = Math.ceil(accessTokenLifetime + dependencies.leeway) + 1
  const sessions = new RefreshSessions({
    ...refresh,
    now: dependencies.now,
    issuer: dependencies.issuer,
    sign: dependencies.sign,
    encodeClaims: dependencies.encodeClaims,
    // Every access token of a session is refused for as long as the last one could be accepted.
    revokeSession: async (sid, iss) => { await dependencies.revokeSession(sid, iss, sessionTtl) }
  })
  await store.init?.(fastify.log)
  fastify.addHook('onClose', async () => { await store.close?.() })
  if (cookie !== null && !fastify.hasReplyDecorator('setCookie')) await fastify.register(fastifyCookie)

  // The token response: no cache may keep it (RFC 6749 §5.1); with the cookie transport, the
  // refresh token goes into its cookie.
  function respond (reply: FastifyReply, pair: TokenPair): TokenResponse {
    reply.header('cache-control', NO_STORE)
    if (cookie === null) return pair
    reply.setCookie(cookie.name, pair.refresh_token, { path: cookie.path, httpOnly: true, secure: true, sameSite: 'strict', maxAge: maxSessionAge })
    const { refresh_token: _inCookie, ...body } = pair
    return body
  }

  fastify.decorateReply('issueTokens', async function (this: FastifyReply, userid: unknown, claims?: Record<string, unknown>, options?: { jkt?: string }) {
    const pair = await sessions.open(toUserid(userid), claims ?? {}, options?.jkt ?? null, this.request.log)
    return respond(this, pair)
  })

  // Open whatever defaultPermission says: the caller's access token has expired, which is why it refreshes.
  fastify.decorate('refreshHandler', (): RouteHandlerMethod => openHandler(async function refreshTokens (request, reply) {
    const token = readRefreshToken(request, refresh)
    if (typeof token !== 'string') return await reply.code(400).header('cache-control', NO_STORE).send(token)
    let jkt: string | null = null
    // Without the dpop option a DPoP header means nothing here, as on every other route.
    if (dependencies.dpop && request.headers.dpop !== undefined) {
      const proof = await request.dpopProof().catch((error: unknown) => error)
      if (proof instanceof DpopNonceRequiredError) return await reply.code(400).header('cache-control', NO_STORE).headers((proof as { headers?: Record<string, string> }).headers as Record<string, string>).send(USE_NONCE)
      if (proof instanceof DpopProofRefusedError) return await reply.code(400).header('cache-control', NO_STORE).send(INVALID_PROOF)
      if (proof instanceof Error) throw proof
      jkt = (proof as { jkt: string }).jkt
    }
    try {
      return respond(reply, await sessions.refresh({ token, jkt, log: request.log }))
    } catch (error) {
      if (error instanceof RefreshUnavailableError) return await unavailable(reply, error)
      if (!(error instanceof InvalidGrantError)) throw error
      const { reason } = error as { reason?: string }
      request.log.info({ reason }, 'a refresh token was refused')
      // A proof of another key leaves the session alive, and so its cookie; any other refusal ends it.
      if (cookie !== null && reason !== 'dpop_key_mismatch') reply.clearCookie(cookie.name, { path: cookie.path, secure: true, sameSite: 'strict', httpOnly: true })
      return await reply.code(400).header('cache-control', NO_STORE).send(INVALID_GRANT)
    }
  }))

  fastify.decorate('listSessions', async (userid: unknown): Promise<RefreshSessionInfo[]> => {
    const families = await sessions.list(toUserid(userid), fastify.log)
    return families.map((family) => Object.freeze({
      id: family.id,
      createdAt: new Date(family.createdAt),
      lastUsedAt: new Date(family.lastUsedAt),
      expiresAt: new Date(family.expiresAt),
      dpopBound: family.jkt !== null
    }))
  })

  fastify.decorate('endSession', async (userid: unknown, id: unknown): Promise<boolean> => {
    const sub = toUserid(userid)
    if (typeof id !== 'string') throw new InvalidOptionError('id', 'expected the id of a session, as listSessions gives it')
    // Only a session of this user: an account page must not end another's by its id.
    const owned = (await sessions.list(sub, fastify.log)).some((family) => family.id === id)
    return owned && await sessions.end(id, fastify.log)
  })

  return {
    async forget (reply, claims) {
      if (cookie !== null) reply.clearCookie(cookie.name, { path: cookie.path, secure: true, sameSite: 'strict', httpOnly: true })
      // A cookie session's sid names no refresh session: the store answers none. A token whose sid
      // names another user's session ends nothing.
      const sid = claims?.sid
      if (typeof sid === 'string') await sessions.end(sid, reply.request.log, claims?.sub as string)
    },
    async endAll (userid, log) {
      for (const family of await sessions.list(userid, log)) await sessions.end(family.id, log)
    }
  }
}

// From the cookie (with its header, the CSRF defence), else from the body's refresh_token (a
// form or JSON, with grant_type refresh_token when it says one).
function readRefreshToken (request: FastifyRequest, refresh: ResolvedRefresh): string | object {
  const { cookie } = refresh
  if (cookie !== null) {
    if (request.headers[cookie.header] === undefined) return HEADER_MISSING
    // Two cookies of the name (one planted for a parent domain, say): neither is trusted.
    if (hasTwoPairs(request.headers.cookie ?? '', cookie.name)) return COOKIE_DUPLICATED
    return request.cookies[cookie.name] ?? MISSING_TOKEN
  }
  const body = request.body as Record<string, unknown> | null | undefined
  if (typeof body !== 'object' || body === null) return MISSING_TOKEN
  if (body.grant_type !== undefined && body.grant_type !== 'refresh_token') return UNSUPPORTED_GRANT
  return typeof body.refresh_token === 'string' && body.refresh_token !== '' ? body.refresh_token : MISSING_TOKEN
}

// The error carries its Retry-After (RefreshUnavailableError always has headers).
async function unavailable (reply: FastifyReply, error: Error & { code?: string, headers?: Record<string, string> }): Promise<FastifyReply> {
  return await reply.code(503).headers(error.headers as Record<string, string>).send({ statusCode: 503, code: error.code, error: 'Service Unavailable', message: error.message })
}
