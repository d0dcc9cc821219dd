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
function createError<C extends string, S extends number> (
  code: C, message: string, statusCode: S, Base: ErrorConstructor = Error, captureStackTrace = true): ErrorClass<C, S> {
  return fastifyError(code, message, statusCode, Base, captureStackTrace)
}

/** A credential was expected on a protected route and none was sent. */
export const NoCredentialsError = createError(
  'FST_JWT_SECURITY_NO_CREDENTIALS', 'Authentication is required', 401, Error, false)

/** A credential was sent and rejected: bad signature, malformed, wrong audience, identity refused… */
export const InvalidTokenError = createError(
  'FST_JWT_SECURITY_INVALID_TOKEN', 'The access token is invalid', 401, Error, false)

/** A credential was sent and has expired. */
export const TokenExpiredError = createError(
  'FST_JWT_SECURITY_TOKEN_EXPIRED', 'The access token expired', 401, Error, false)

/** The Authorization header is malformed: a scheme with no token, extra parts, several tokens. */
export const InvalidRequestError = createError(
  'FST_JWT_SECURITY_INVALID_REQUEST', 'The authorization request is malformed', 400, Error, false)

/** The identity is known and the security policy denied the permission. */
export const ForbiddenError = createError(
  'FST_JWT_SECURITY_FORBIDDEN', 'You do not have permission to perform this action', 403, Error, false)

/** A cookie-authenticated request with an unsafe method failed the CSRF check. */
export const CsrfError = createError(
  'FST_JWT_SECURITY_CSRF_FAILED', 'The request failed the cross-site request forgery check', 403, Error, false)

/** remember() or a reissue would set a session cookie larger than browsers keep (4096 bytes). */
export const CookieTooLargeError = createError(
  'FST_JWT_SECURITY_COOKIE_TOO_LARGE', 'The session cookie would be %d bytes; browsers drop cookies over 4096 bytes', 500, RangeError)

/** The revocation store cannot be read, so a presented token cannot be checked (fail closed). */
export const RevocationUnavailableError = createError(
  'FST_JWT_SECURITY_REVOCATION_UNAVAILABLE', 'Credentials cannot be checked right now, try again later', 503)

/** A revocation could not be written: the caller must know the token is still valid. */
export const RevocationFailedError = createError(
  'FST_JWT_SECURITY_REVOCATION_FAILED', 'The token could not be revoked, try again later', 503)

/** app.revokeToken or app.revokeAllFor was called, but no revocation store is configured. */
export const NoRevocationStoreError = createError(
  'FST_JWT_SECURITY_NO_REVOCATION_STORE', 'Cannot revoke: the revocation option is not set', 500)

/** The in-memory revocation store is full of live entries. */
export const RevocationStoreFullError = createError(
  'FST_JWT_SECURITY_REVOCATION_STORE_FULL', 'The revocation store holds %d live entries, its maximum', 503, RangeError)

/** The security policy or the identity callback threw or returned something it must not. */
export const PolicyFailedError = createError(
  'FST_JWT_SECURITY_POLICY_FAILED', 'The security policy failed', 500)

/** A plugin or policy option is missing, of the wrong type or out of range. */
export const InvalidOptionError = createError(
  'FST_JWT_SECURITY_INVALID_OPTION', 'Invalid option "%s": %s', 500, TypeError)

/** An HMAC secret is shorter than the hash output or otherwise unfit. */
export const WeakSecretError = createError(
  'FST_JWT_SECURITY_WEAK_SECRET', 'Invalid option "%s": %s', 500, RangeError)

/** A key cannot be imported, or does not fit the configured algorithm. */
export const InvalidKeyError = createError(
  'FST_JWT_SECURITY_INVALID_KEY', 'Invalid option "%s": %s', 500, TypeError)

/** A token was requested but no signing key is configured (only a public key was given). */
export const NoSigningKeyError = createError(
  'FST_JWT_SECURITY_NO_SIGNING_KEY', 'Cannot create a token: no private key or secret is configured', 500)

/** createJwtToken was called with a userid, claims or options it cannot turn into a token. */
export const InvalidClaimsError = createError(
  'FST_JWT_SECURITY_INVALID_CLAIMS', 'Cannot create a token: %s', 500, TypeError)

/** Emitted once per process: remember/forget have no meaning for a header policy (as in pyramid_jwt). */
export const headerPolicyRememberWarning: WarningItem = processWarning.createWarning({
  name: 'FastifyJwtSecurityWarning',
  code: 'FST_JWT_SECURITY_W001',
  message: 'reply.remember() and reply.forget() do nothing with a header policy: send the token from request.createJwtToken() to the client instead'
})

/** Every code above, for the test that keeps docs/errors.md complete. */
export const errorCodes: readonly string[] = Object.freeze([
  NoCredentialsError, InvalidTokenError, TokenExpiredError, InvalidRequestError, ForbiddenError,
  CsrfError, CookieTooLargeError, RevocationUnavailableError, RevocationFailedError, RevocationStoreFullError, NoRevocationStoreError, PolicyFailedError, InvalidOptionError, WeakSecretError, InvalidKeyError, NoSigningKeyError,
  InvalidClaimsError
].map((ErrorClass): string => new ErrorClass().code).concat(headerPolicyRememberWarning.code))
