import fastifyError, { type FastifyErrorConstructor } from '@fastify/error'
import processWarning, { type WarningItem } from 'process-warning'

// Every error the plugin can raise, built once. Client-facing messages are fixed texts:
// nothing from the request, the token or a library ever reaches a response body.
// docs/errors.md has one entry per code; test/errors.test.ts keeps the two in step.
// The errors a client causes (401, 400, 403) capture no stack: a refusal is not a fault, its log
// line needs no stack, and a flood of bad tokens should cost as little as possible.

// The declarations must name FastifyErrorConstructor and WarningItem themselves: written through
// the default import (`createError.FastifyErrorConstructor`), they are not found with
// moduleResolution Bundler, where that import is the packages' `default` property, not their namespace.
type ErrorClass<C extends string, S extends number> = FastifyErrorConstructor<{ code: C, statusCode: S }>
// Every code, in the order it is created: errorCodes is this list, not a second one kept by hand.
const codes: string[] = []

function createError<C extends string, S extends number> (
  code: C, message: string, statusCode: S, Base: ErrorConstructor = Error, captureStackTrace = true): ErrorClass<C, S> {
  codes.push(code)
  return fastifyError(code, message, statusCode, Base, captureStackTrace)
}

function createWarning (code: string, message: string): WarningItem {
  codes.push(code)
  return processWarning.createWarning({ name: 'FastifyJwtSecurityWarning', code, message })
}

/**
 * A credential was expected on a protected route and none was sent.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * app.setErrorHandler((error, request, reply) => {
 *   // the plugin set WWW-Authenticate before throwing: a custom body keeps the challenge
 *   if (error instanceof errors.NoCredentialsError) return reply.code(401).send({ login: '/login' })
 *   return reply.send(error)
 * })
 * ```
 */
export const NoCredentialsError = createError(
  'FST_JWT_SECURITY_NO_CREDENTIALS', 'Authentication is required', 401, Error, false)

/**
 * A credential was sent and rejected: bad signature, malformed, wrong audience, identity refused…
 * @example
 * ```ts
 * import type { FastifyError } from 'fastify'
 *
 * app.setErrorHandler<FastifyError>((error, request, reply) => {
 *   // the response never says why the token was refused; the log may
 *   if (error.code === 'FST_JWT_SECURITY_INVALID_TOKEN') request.log.warn({ reason: request.authFailure?.reason }, 'token refused')
 *   return reply.send(error)
 * })
 * ```
 */
export const InvalidTokenError = createError(
  'FST_JWT_SECURITY_INVALID_TOKEN', 'The access token is invalid', 401, Error, false)

/**
 * A credential was sent and has expired.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * app.setErrorHandler((error, request, reply) => {
 *   // an expired token is routine, not an attack: keep it out of the warnings
 *   if (error instanceof errors.TokenExpiredError) request.log.debug('expired token')
 *   return reply.send(error)
 * })
 * ```
 */
export const TokenExpiredError = createError(
  'FST_JWT_SECURITY_TOKEN_EXPIRED', 'The access token expired', 401, Error, false)

/**
 * The Authorization header is malformed: a scheme with no token, extra parts, several tokens.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * // in a custom policy: the plugin's own errors pass through, so the client gets a 400, not a 500
 * identity (request: FastifyRequest) {
 *   const key = request.headers['x-api-key']
 *   // a repeated header arrives joined by commas: refuse it rather than guess which key was meant
 *   if (key?.includes(',')) throw new errors.InvalidRequestError()
 *   return keys.get(String(key)) ?? null
 * }
 * ```
 */
export const InvalidRequestError = createError(
  'FST_JWT_SECURITY_INVALID_REQUEST', 'The authorization request is malformed', 400, Error, false)

/**
 * The identity is known and the security policy denied the permission.
 * @example
 * ```ts
 * import type { FastifyError } from 'fastify'
 *
 * app.setErrorHandler<FastifyError>((error, request, reply) => {
 *   // 403 means another account is needed, so a page that offers one beats a login prompt
 *   if (error.code === 'FST_JWT_SECURITY_FORBIDDEN') return reply.code(403).type('text/html').send(switchAccountPage)
 *   return reply.send(error)
 * })
 * ```
 */
export const ForbiddenError = createError(
  'FST_JWT_SECURITY_FORBIDDEN', 'You do not have permission to perform this action', 403, Error, false)

/**
 * The token is valid but its authentication does not meet the route's step-up requirement
 * (RFC 9470): its `acr` is not one of `acr`, or its `auth_time` is missing or older than `maxAge`.
 * The error's `reason` (`acr_not_accepted`, `auth_time_missing`, `auth_time_too_old`) says which;
 * it is logged, never sent.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * app.setErrorHandler((error, request, reply) => {
 *   // the WWW-Authenticate challenge (acr_values, max_age) is already set: the client re-authenticates
 *   if (error instanceof errors.InsufficientUserAuthenticationError) request.log.info({ reason: (error as { reason?: string }).reason }, 'step-up needed')
 *   return reply.send(error)
 * })
 * ```
 */
export const InsufficientUserAuthenticationError = createError(
  'FST_JWT_SECURITY_INSUFFICIENT_USER_AUTHENTICATION', 'A different or more recent authentication is required', 401, Error, false)

/**
 * The token is valid but lacks a scope the route requires (RFC 6750 §3.1 `insufficient_scope`).
 * @example
 * ```ts
 * import type { FastifyError } from 'fastify'
 *
 * app.setErrorHandler<FastifyError>((error, request, reply) => {
 *   // the challenge's scope attribute names what to ask the authorization server for
 *   if (error.code === 'FST_JWT_SECURITY_INSUFFICIENT_SCOPE') request.log.info({ challenge: reply.getHeader('www-authenticate') }, 'scope missing')
 *   return reply.send(error)
 * })
 * ```
 */
export const InsufficientScopeError = createError(
  'FST_JWT_SECURITY_INSUFFICIENT_SCOPE', 'The request requires higher privileges than provided by the access token', 403, Error, false)

/**
 * A request with `Authorization: DPoP` came with a proof that fails RFC 9449's checks (missing,
 * sent twice, badly signed, for another method or URL, too old, replayed, or made with another key
 * than the token is bound to). The challenge says `DPoP error="invalid_dpop_proof"`; the reason is
 * on `request.authFailure`.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * app.setErrorHandler((error, request, reply) => {
 *   // a client bug or a replay, not an expired login: log the reason, never the proof
 *   if (error instanceof errors.InvalidDpopProofError) request.log.warn({ reason: request.authFailure?.reason }, 'DPoP proof refused')
 *   return reply.send(error)
 * })
 * ```
 */
export const InvalidDpopProofError = createError(
  'FST_JWT_SECURITY_INVALID_DPOP_PROOF', 'The DPoP proof is invalid', 401, Error, false)

/**
 * DPoP nonces are on and the proof carried none, or one that is no longer current. The response
 * carries the nonce to use in a `DPoP-Nonce` header (RFC 9449 §9): a client retries once with it.
 * @example
 * ```ts
 * // A client without a library: retry once with the server's nonce.
 * let response = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await proof(url) } })
 * const nonce = response.headers.get('dpop-nonce')
 * if (response.status === 401 && nonce !== null) response = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await proof(url, nonce) } })
 * ```
 */
export const UseDpopNonceError = createError(
  'FST_JWT_SECURITY_USE_DPOP_NONCE', 'The DPoP proof must carry the server\'s current nonce', 401, Error, false)

/**
 * `request.dpopProof()` (a login or token request binding a new token to the client's key) found
 * no valid proof: RFC 9449 §5's `invalid_dpop_proof`, a 400. The reason is on the error.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * app.post('/login', async (request) => {
 *   // a client that sent no proof may still get a bearer token, when the app allows that
 *   const proof = await request.dpopProof().catch((error: unknown) => {
 *     if (error instanceof errors.DpopProofRefusedError && (error as { reason?: string }).reason === 'dpop_proof_missing') return null
 *     throw error
 *   })
 *   return { access_token: await request.createJwtToken('alice', {}, { jkt: proof?.jkt }), token_type: proof === null ? 'Bearer' : 'DPoP' }
 * })
 * ```
 */
export const DpopProofRefusedError = createError(
  'FST_JWT_SECURITY_DPOP_PROOF_REFUSED', 'The DPoP proof is invalid', 400, Error, false)

/**
 * `request.dpopProof()` with DPoP nonces on, and the proof carried no current nonce: a 400 with the
 * nonce to use in its `DPoP-Nonce` header (RFC 9449 §8), as a token endpoint answers `use_dpop_nonce`.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * // An app whose login route is an OAuth token endpoint answers RFC 9449 §8's body, which
 * // oauth4webapi's isDPoPNonceError() recognises; the DPoP-Nonce header is the error's.
 * app.setErrorHandler((error, request, reply) => {
 *   if (!(error instanceof errors.DpopNonceRequiredError)) return reply.send(error)
 *   return reply.code(400).headers((error as { headers?: Record<string, string> }).headers ?? {})
 *     .send({ error: 'use_dpop_nonce', error_description: 'Resend the request with the DPoP-Nonce header\'s value in the proof' })
 * })
 * ```
 */
export const DpopNonceRequiredError = createError(
  'FST_JWT_SECURITY_DPOP_NONCE_REQUIRED', 'The DPoP proof must carry the server\'s current nonce', 400, Error, false)

/**
 * The DPoP replay store cannot tell whether a proof was used before (Redis is down, or the memory
 * store is full of live entries): the request is refused with a 503 and `Retry-After`, never let
 * through, since a replayed proof is what the store exists to catch.
 * @example
 * ```ts
 * import type { FastifyError } from 'fastify'
 *
 * app.setErrorHandler<FastifyError>((error, request, reply) => {
 *   // the client did nothing wrong: the plugin already logged the cause, once per 10 seconds
 *   if (error.code === 'FST_JWT_SECURITY_DPOP_REPLAY_UNAVAILABLE') metrics.increment('dpop.replay_store_down')
 *   return reply.send(error)
 * })
 * ```
 */
export const DpopReplayUnavailableError = createError(
  'FST_JWT_SECURITY_DPOP_REPLAY_UNAVAILABLE', 'DPoP proofs cannot be checked right now, try again later', 503, Error, false)

/**
 * A refresh token was refused (RFC 6749 §5.2 `invalid_grant`): malformed, unknown or ended,
 * forged, expired (idle or past the session's age), bound to another DPoP key, or used again
 * after its rotation, which ends its whole session. The error's `reason` says which, for logs; the
 * client is only told `invalid_grant`, and logs in again. `app.refreshHandler()` answers it
 * itself, with RFC 6749's body, and logs the reason at info level.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * // A test of the app's refresh route: the class names the code its logs and tests look for.
 * const response = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'rt.unknown' } })
 * assert.deepEqual(response.json(), { error: 'invalid_grant', error_description: new errors.InvalidGrantError().message })
 * ```
 */
export const InvalidGrantError = createError(
  'FST_JWT_SECURITY_INVALID_GRANT', 'The refresh token is invalid, expired or revoked', 400, Error, false)

/**
 * The refresh store cannot be read or written (Redis is down, the memory store is full): the
 * refresh is refused with a 503 and `Retry-After`, never answered from a guess.
 * @example
 * ```ts
 * import type { FastifyError } from 'fastify'
 *
 * app.setErrorHandler<FastifyError>((error, request, reply) => {
 *   // the client keeps its refresh token and tries again later: it did nothing wrong
 *   if (error.code === 'FST_JWT_SECURITY_REFRESH_UNAVAILABLE') metrics.increment('refresh.store_down')
 *   return reply.send(error)
 * })
 * ```
 */
export const RefreshUnavailableError = createError(
  'FST_JWT_SECURITY_REFRESH_UNAVAILABLE', 'Sessions cannot be refreshed right now, try again later', 503, Error, false)

/**
 * A cookie-authenticated request with an unsafe method failed the CSRF check.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * app.setErrorHandler((error, request, reply) => {
 *   // not a permission problem: the page should re-read the CSRF cookie and resend
 *   if (error instanceof errors.CsrfError) return reply.code(403).send({ reloadCsrfToken: true })
 *   return reply.send(error)
 * })
 * ```
 */
export const CsrfError = createError(
  'FST_JWT_SECURITY_CSRF_FAILED', 'The request failed the cross-site request forgery check', 403, Error, false)

/**
 * remember() or a reissue would set a session cookie larger than browsers keep (4096 bytes).
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * try {
 *   await reply.remember(user.id, { roles: user.roles, teams: user.teams })
 * } catch (error) {
 *   // browsers would drop the cookie silently: retry with the claims the routes cannot do without
 *   if (!(error instanceof errors.CookieTooLargeError)) throw error
 *   await reply.remember(user.id, { roles: user.roles })
 * }
 * ```
 */
export const CookieTooLargeError = createError(
  'FST_JWT_SECURITY_COOKIE_TOO_LARGE', 'The session cookie would be %d bytes; browsers drop cookies over 4096 bytes', 500, RangeError)

/**
 * The revocation store cannot be read, so a presented token cannot be checked (fail closed).
 * @example
 * ```ts
 * import type { FastifyError } from 'fastify'
 *
 * app.setErrorHandler<FastifyError>((error, request, reply) => {
 *   // the token is not known to be bad: the client should retry, not log in again
 *   if (error.code === 'FST_JWT_SECURITY_REVOCATION_UNAVAILABLE') reply.header('retry-after', '5')
 *   return reply.send(error)
 * })
 * ```
 */
export const RevocationUnavailableError = createError(
  'FST_JWT_SECURITY_REVOCATION_UNAVAILABLE', 'Credentials cannot be checked right now, try again later', 503)

/**
 * The keys that verify a token cannot be had: the remote JWK Set cannot be fetched and no earlier
 * copy may still be used (`jwks.staleIfError`). The client did nothing wrong: a 503 with
 * `Retry-After`, answered by the plugin without the per-request error log (the outage is logged
 * once per 10 seconds with a count).
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * // A client of the API: a 503 with this code means "retry later", never "log in again".
 * const response = await fetch('https://api.example/articles', { headers: { authorization: `Bearer ${token}` } })
 * const body = response.status === 503 ? await response.json() as { code?: string } : {}
 * if (body.code === errors.KeysUnavailableError.prototype.code) await retryAfter(Number(response.headers.get('retry-after')))
 * ```
 */
export const KeysUnavailableError = createError(
  'FST_JWT_SECURITY_KEYS_UNAVAILABLE', 'Credentials cannot be verified right now, try again later', 503, Error, false)

/**
 * `prefetch: true` (of `jwks` or of a trusted issuer) and the keys could not be fetched at start-up: `app.ready()`
 * rejects with this error (its `cause` says why).
 * @example
 * ```ts
 * import jwtSecurity, { errors } from 'fastify-jwt-security'
 *
 * await app.register(jwtSecurity, { jwks: { url: 'https://auth.example.org/.well-known/jwks.json', prefetch: true }, audience: 'api' })
 * await app.ready().catch((error: unknown) => {
 *   // the deployment cannot reach the identity provider: stop with its reason (error.cause)
 *   if (error instanceof errors.JwksPrefetchError) app.log.fatal({ err: error }, 'identity provider unreachable')
 *   throw error
 * })
 * ```
 */
export const JwksPrefetchError = createError(
  'FST_JWT_SECURITY_JWKS_PREFETCH_FAILED', 'The keys of %s could not be fetched at start-up (prefetch: true); use prefetch: "background" to start without it', 500)

/**
 * A revocation could not be written, or its write timed out: the caller must know the token may still be valid.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * try {
 *   await app.revokeAllFor(userid)
 * } catch (error) {
 *   // the other devices are still signed in: confirming the sign-out would be a lie
 *   if (error instanceof errors.RevocationFailedError) return reply.code(503).send({ signedOutEverywhere: false })
 *   throw error
 * }
 * ```
 */
export const RevocationFailedError = createError(
  'FST_JWT_SECURITY_REVOCATION_FAILED', 'The token could not be revoked, try again later', 503)

/**
 * app.revokeToken or app.revokeAllFor was called, but no revocation store is configured.
 * @example
 * ```ts
 * import jwtSecurity, { errors } from 'fastify-jwt-security'
 *
 * await app.register(jwtSecurity, { secret: process.env.JWT_SECRET }) // no revocation option
 * await app.revokeAllFor('alice').catch((error: unknown) => {
 *   // without a store there is nothing to record a revocation in: tokens live until they expire
 *   if (error instanceof errors.NoRevocationStoreError) app.log.warn('sign-out everywhere needs a revocation store')
 * })
 * ```
 */
export const NoRevocationStoreError = createError(
  'FST_JWT_SECURITY_NO_REVOCATION_STORE', 'Cannot revoke: the revocation option is not set', 500)

/**
 * The in-memory revocation store is full of live entries.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * try {
 *   await app.revokeToken(claims)
 * } catch (error) {
 *   // the plugin reports every store failure as RevocationFailedError: the full store is its cause
 *   if (error instanceof errors.RevocationFailedError && error.cause instanceof errors.RevocationStoreFullError) {
 *     app.log.error('revocation store full: raise maxEntries or shorten token lifetimes')
 *   }
 *   throw error
 * }
 * ```
 */
export const RevocationStoreFullError = createError(
  'FST_JWT_SECURITY_REVOCATION_STORE_FULL', 'The revocation store holds %d live entries, its maximum', 503, RangeError)

/**
 * The security policy or the identity callback threw or returned something it must not.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * app.setErrorHandler((error, request, reply) => {
 *   // a bug in the app's policy or callback, already logged with its cause: alert rather than log twice
 *   if (error instanceof errors.PolicyFailedError) alerts.notify('security policy failed', request.id)
 *   return reply.send(error)
 * })
 * ```
 */
export const PolicyFailedError = createError(
  'FST_JWT_SECURITY_POLICY_FAILED', 'The security policy failed', 500)

/**
 * A plugin or policy option is missing, of the wrong type or out of range.
 * @example
 * ```ts
 * import jwtSecurity, { errors } from 'fastify-jwt-security'
 *
 * try {
 *   await app.register(jwtSecurity, { secret: process.env.JWT_SECRET, expiresIn: '1 hour' })
 * } catch (error) {
 *   // thrown at start-up, so a misconfigured app never serves a request
 *   if (error instanceof errors.InvalidOptionError) console.error(error.message) // Invalid option "expiresIn": …
 *   throw error
 * }
 * ```
 */
export const InvalidOptionError = createError(
  'FST_JWT_SECURITY_INVALID_OPTION', 'Invalid option "%s": %s', 500, TypeError)

/**
 * An HMAC secret is shorter than the hash output or otherwise unfit.
 * @example
 * ```ts
 * import jwtSecurity, { errors } from 'fastify-jwt-security'
 * import assert from 'node:assert'
 *
 * // a short secret can be brute-forced from any token it signed, so the plugin refuses to start
 * await assert.rejects(async () => { await app.register(jwtSecurity, { secret: 'changeme' }) }, errors.WeakSecretError)
 * ```
 */
export const WeakSecretError = createError(
  'FST_JWT_SECURITY_WEAK_SECRET', 'Invalid option "%s": %s', 500, RangeError)

/**
 * A key cannot be imported, or does not fit the configured algorithm.
 * @example
 * ```ts
 * import jwtSecurity, { errors } from 'fastify-jwt-security'
 * import assert from 'node:assert'
 *
 * // a public key cannot sign: caught at register rather than at the first createJwtToken()
 * await assert.rejects(async () => {
 *   await app.register(jwtSecurity, { algorithm: 'ES256', privateKey: publicKeyPem })
 * }, errors.InvalidKeyError)
 * ```
 */
export const InvalidKeyError = createError(
  'FST_JWT_SECURITY_INVALID_KEY', 'Invalid option "%s": %s', 500, TypeError)

/**
 * A token was requested but no signing key is configured (only a public key was given).
 * @example
 * ```ts
 * import jwtSecurity, { errors } from 'fastify-jwt-security'
 *
 * // a service that only verifies holds the public key; the identity provider signs
 * await app.register(jwtSecurity, { algorithm: 'RS256', publicKey: publicKeyPem })
 * await app.createJwtToken('alice').catch((error: unknown) => {
 *   if (error instanceof errors.NoSigningKeyError) app.log.error('tokens are issued by the identity provider')
 * })
 * ```
 */
export const NoSigningKeyError = createError(
  'FST_JWT_SECURITY_NO_SIGNING_KEY', 'Cannot create a token: no private key or secret is configured', 500)

/**
 * createJwtToken was called with a userid, claims or options it cannot turn into a token; or
 * reply.remember, revokeAllFor or revokeToken with a userid or claims no token could carry.
 * @example
 * ```ts
 * app.post('/login', async (request) => {
 *   // sub comes from the first argument: a reserved claim in the extras is a bug, refused loudly
 *   await request.createJwtToken('alice', { sub: 'admin' }) // throws errors.InvalidClaimsError: a 500
 * })
 * ```
 */
export const InvalidClaimsError = createError(
  'FST_JWT_SECURITY_INVALID_CLAIMS', 'Invalid claims: %s', 500, TypeError)

/**
 * Emitted once per process: remember/forget have no meaning for a header policy (as in pyramid_jwt).
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * process.on('warning', (warning) => {
 *   // match the code, not the text, which may change
 *   if ('code' in warning && warning.code === errors.headerPolicyRememberWarning.code) {
 *     console.error('this app logs in with reply.remember() but uses a header policy: no cookie is set')
 *   }
 * })
 * ```
 */
export const headerPolicyRememberWarning: WarningItem = createWarning('FST_JWT_SECURITY_W001', 'reply.remember() and reply.forget() do nothing with a header policy: send the token from request.createJwtToken() to the client instead')

/**
 * Emitted once per process: an ACL (from `rootFactory` or a route's context) denied a permission by
 * default although the request holds a principal of the same name, which the rule without an ACL
 * would have granted. With an ACL in the context, only its ACEs grant.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 *
 * process.on('warning', (warning) => {
 *   // in the app's tests: a route whose ACL forgot an ACE fails loudly
 *   if ('code' in warning && warning.code === errors.aclShadowsPrincipalWarning.code) throw warning
 * })
 * ```
 */
export const aclShadowsPrincipalWarning: WarningItem = createWarning('FST_JWT_SECURITY_W002', 'an ACL denied "%s" by default although the request holds the principal "%s": with an ACL in the context (rootFactory), only its ACEs grant; add an ACE such as [Allow, principal, permission], or give the route its own context')

/**
 * Every code above, for the test that keeps docs/errors.md complete.
 * @example
 * ```ts
 * import { errors } from 'fastify-jwt-security'
 * import assert from 'node:assert'
 *
 * // the app translates the messages it shows: fail its test when the plugin adds a code
 * for (const code of errors.errorCodes) assert.ok(code in translations, `no translation for ${code}`)
 * ```
 */
export const errorCodes: readonly string[] = Object.freeze(codes.slice())
