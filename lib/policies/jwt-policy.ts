import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ACLHelper, DEFAULT_DENY, NO_ACL_FOUND } from '../authz/acl.js'
import { recordAuthFailure, type AuthFailure } from './auth-failure.js'
import type { JwtClaims, TokenRejection } from '../tokens/claims.js'
import type { JwtIdentity } from '../types.js'
import { aclShadowsPrincipalWarning, InvalidOptionError, PolicyFailedError } from '../errors.js'
import { OutageLog } from '../outage-log.js'
import { Allowed, Denied, isPromiseLike, type IdentityCallback, type PermitsResult, type PolicyContext, type SecurityPolicy } from './policy.js'
import { ANONYMOUS_PRINCIPALS, Authenticated, Everyone, isReservedUserid } from '../authz/principals.js'

/**
 * A malformed request (RFC 6750 `invalid_request`), as opposed to a malformed token.
 * @example
 * ```ts
 * import type { MalformedCredential } from 'fastify-jwt-security'
 *
 * // Returned by a readCredential: a protected route answers 400, not 401, since no token was
 * // refused. Frozen, because the same object is recorded on every request that makes this mistake.
 * const TOKEN_DUPLICATED: MalformedCredential = Object.freeze({ error: 'invalid_request', reason: 'token_duplicated' })
 * ```
 */
export type MalformedCredential = AuthFailure & { readonly error: 'invalid_request' }

/**
 * What a transport read from a request: a token, nothing, or a failure recorded as it is: a
 * malformed request (`invalid_request`, a 400 on a protected route) or a credential refused before
 * any token is verified (`invalid_token`, a 401, as the cookie policy does for a cookie sent twice).
 * @example
 * ```ts
 * import type { FastifyRequest } from 'fastify'
 * import type { Credential } from 'fastify-jwt-security'
 *
 * // null means "no credential", and a PolicyChain then asks its next policy: a request that is
 * // malformed gets a MalformedCredential (a 400) instead, which stops the chain.
 * function readApiToken (request: FastifyRequest): Credential {
 *   const token = request.headers['x-api-token']
 *   if (Array.isArray(token)) return { error: 'invalid_request', reason: 'token_duplicated' }
 *   return typeof token === 'string' && token !== '' ? token : null
 * }
 * ```
 */
export type Credential = string | null | MalformedCredential | (AuthFailure & { readonly error: 'invalid_token' })

const ACL_HELPER = new ACLHelper()
const IDENTITY_REJECTED: AuthFailure = Object.freeze({ error: 'invalid_token', reason: 'identity_rejected' })
const TOKEN_REVOKED: AuthFailure = Object.freeze({ error: 'invalid_token', reason: 'token_revoked' })
const SUBJECT_RESERVED: AuthFailure = Object.freeze({ error: 'invalid_token', reason: 'subject_reserved', claim: 'sub' })

/**
 * What the header and cookie policies share: verify the token with the plugin's settings, run the
 * identity callback, and grant a permission when a principal equals it. Subclasses only say where
 * the token travels.
 * @example
 * ```ts
 * import type { FastifyRequest } from 'fastify'
 * import { JwtPolicy, type Credential } from 'fastify-jwt-security'
 *
 * // Browsers cannot set headers on a WebSocket handshake, but they can offer subprotocols:
 * // new WebSocket(url, ['bearer', token]). Not a query string: URLs end up in logs.
 * class WebSocketProtocolPolicy extends JwtPolicy {
 *   protected readCredential (request: FastifyRequest): Credential {
 *     const offered = request.headers['sec-websocket-protocol']?.split(',').map((item) => item.trim())
 *     if (offered?.[0] !== 'bearer') return null
 *     const token = offered[1]
 *     return offered.length === 2 && token !== undefined && token !== '' ? token : { error: 'invalid_request', reason: 'token_malformed' }
 *   }
 *   remember (): void {} // the client keeps the token that request.createJwtToken() returned
 *   forget (): void {}
 * }
 * ```
 */
export abstract class JwtPolicy implements SecurityPolicy<JwtIdentity> {
  #context: PolicyContext | null = null

  /** Reads the token from the request. Must not throw for anything a client can send. */
  protected abstract readCredential (request: FastifyRequest): Credential

  /**
   * Keeps the plugin's context. A policy serves one registration: registering the same instance
   * twice fails (create one per registration). Subclasses that override it call `super.register`.
   */
  register (_fastify: FastifyInstance, context: PolicyContext): void | Promise<void> {
    if (this.#context !== null) throw new InvalidOptionError('policy', 'this policy instance is registered already: create one per registration')
    this.#context = context
  }

  /** The context of the registration; throws before the plugin registered the policy. */
  protected get context (): PolicyContext {
    if (this.#context === null) throw new InvalidOptionError('policy', 'the policy is not registered: give it to the plugin as its policy option, or have the register of the policy that holds it call its register')
    return this.#context
  }

  /**
   * Verifies the request's token; null when there is none or it is refused (see
   * `request.authFailure`). A token found in the verified-token cache is answered synchronously
   * when nothing else needs to wait (no identity callback, no asynchronous revocation store).
   * Throws what the plugin's `now` clock throws, which the identity hook answers with a 500.
   */
  identity (request: FastifyRequest): JwtIdentity | null | Promise<JwtIdentity | null> {
    const credential = this.readCredential(request)
    if (credential === null) return null
    if (typeof credential !== 'string') {
      recordAuthFailure(request, credential)
      return null
    }
    const core = this.context
    const hit = core.tokens.cached(credential)
    return hit === undefined ? this.#verify(request, credential, core) : this.#accept(request, hit.claims, core, hit)
  }

  // A key jose refuses (a short RSA key in a remote set) is the operator's problem: said, not per request.
  readonly #unusableKeys = new OutageLog('warn')

  #verify (request: FastifyRequest, token: string, core: PolicyContext): Promise<JwtIdentity | null> {
    return core.tokens.verifyAnew(token).then(
      (claims) => this.#accept(request, claims, core, null),
      (error: unknown) => refuse(request, token, error as TokenRejection, this.#unusableKeys))
  }

  // The rules verified claims must still pass, on every request: cached or not.
  #accept (request: FastifyRequest, claims: JwtClaims, core: PolicyContext, hit: { derived: unknown } | null): JwtIdentity | null | Promise<JwtIdentity | null> {
    let failure = isReservedUserid(claims.sub) ? SUBJECT_RESERVED : this.checkBinding(request, claims, core)
    if (failure === null) failure = this.checkClaims(request, claims, core)
    else if (isPromiseLike(failure)) failure = failure.then((bound) => bound ?? this.checkClaims(request, claims, core))
    if (failure === null) return this.#admit(request, claims, core, hit)
    if (isPromiseLike(failure)) return failure.then((later) => later === null ? this.#admit(request, claims, core, hit) : refuseWith(request, later))
    return refuseWith(request, failure)
  }

  #admit (request: FastifyRequest, claims: JwtClaims, core: PolicyContext, hit: { derived: unknown } | null): JwtIdentity | null | Promise<JwtIdentity | null> {
    const revoked = core.revocation === null ? false : core.revocation.isRevoked(request, claims)
    if (revoked !== false || core.callback !== null) return this.#acceptLater(request, claims, core, revoked)
    // Without a callback the identity depends on the claims and the plugin's options alone, the same
    // for every JWT policy of the registration: one frozen identity, kept in the cache entry, serves
    // every request that presents the token. Claims just verified are not cached (yet).
    let identity = hit?.derived as JwtIdentity | undefined
    if (identity === undefined) {
      identity = Object.freeze({ userid: claims.sub, principals: Object.freeze(claimPrincipals(core, claims)), claims })
      if (hit !== null) hit.derived = identity
    }
    request.jwtClaims = claims
    this.identified(request, identity, core)
    return identity
  }

  async #acceptLater (request: FastifyRequest, claims: JwtClaims, core: PolicyContext, revoked: boolean | Promise<boolean>): Promise<JwtIdentity | null> {
    if (await revoked) {
      recordAuthFailure(request, TOKEN_REVOKED)
      return null
    }
    // The callback may read request.jwtClaims (as pyramid_jwt's add_role_principals does).
    request.jwtClaims = claims
    const extra = core.callback === null ? [] : await callbackPrincipals(core.callback, claims, request)
    if (extra === null) {
      request.jwtClaims = null
      recordAuthFailure(request, IDENTITY_REJECTED)
      return null
    }
    return this.#identified(request, claims, core.callback === null ? claimPrincipals(core, claims) : baseOf(claims).concat(extra, core.principalsOf(claims)), core)
  }

  #identified (request: FastifyRequest, claims: JwtClaims, principals: readonly string[], core: PolicyContext): JwtIdentity {
    request.jwtClaims = claims
    const identity: JwtIdentity = Object.freeze({ userid: claims.sub, principals: Object.freeze(principals), claims })
    this.identified(request, identity, core)
    return identity
  }

  /**
   * Whether the token may be used by this transport, which by default sends no DPoP proof: a
   * token bound to a key (its `cnf` claim, RFC 9449 §7.2), or of a kind whose DPoP mode is
   * `'required'`, is refused. The header policy overrides it for the DPoP scheme.
   */
  protected checkBinding (_request: FastifyRequest, claims: JwtClaims, core: PolicyContext): AuthFailure | null | Promise<AuthFailure | null> {
    return core.dpop.bearerFailure(claims)
  }

  /**
   * Rules a transport adds to verified claims (the cookie policy's session cap and CSRF check).
   * Returns (or resolves to) a failure to refuse the credential, or throws a coded error to answer at once.
   */
  protected checkClaims (_request: FastifyRequest, _claims: JwtClaims, _core: PolicyContext): AuthFailure | null | Promise<AuthFailure | null> {
    return null
  }

  /** Called once an identity is accepted (the cookie policy schedules its reissue here). */
  protected identified (_request: FastifyRequest, _identity: JwtIdentity, _core: PolicyContext): void {}

  /** The identity's userid, or null. */
  authenticatedUserid (request: FastifyRequest): string | null {
    return (request.identity as JwtIdentity | null)?.userid ?? null
  }

  /**
   * With a context that has an ACL in its lineage: Pyramid's ACL decision ({@link ACLHelper}) for
   * the request's principals. Without one: allowed when one of the principals equals `permission`.
   */
  permits (request: FastifyRequest, context: unknown, permission: string): PermitsResult {
    const principals = (request.identity as JwtIdentity | null)?.principals ?? ANONYMOUS_PRINCIPALS
    if (context !== null && context !== undefined) {
      const decision = ACL_HELPER.permits(context, principals, permission)
      if (decision.acl === NO_ACL_FOUND) return this.#byPrincipal(principals, permission)
      // The mistake docs/authorization.md warns of: a root factory's ACL silently replaces the rule below.
      if (decision.ace === DEFAULT_DENY && principals.includes(permission)) aclShadowsPrincipalWarning(permission, permission)
      return decision
    }
    return this.#byPrincipal(principals, permission)
  }

  #byPrincipal (principals: readonly string[], permission: string): PermitsResult {
    return principals.includes(permission)
      ? this.#grant(permission)
      : new Denied('none of the principals %o is %o', principals, permission)
  }

  // A grant by the default rule says the same for every request: one result per permission.
  readonly #grants = new Map<string, Allowed>()
  #grant (permission: string): Allowed {
    const known = this.#grants.get(permission)
    if (known !== undefined) return known
    const grant = new Allowed('principal %o grants %o', permission, permission)
    Object.freeze(grant)
    this.#grants.set(permission, grant)
    return grant
  }

  abstract remember (request: FastifyRequest, reply: FastifyReply, userid: string, claims?: Record<string, unknown>): void | Promise<void>
  abstract forget (request: FastifyRequest, reply: FastifyReply): void | Promise<void>
}

function refuseWith (request: FastifyRequest, failure: AuthFailure): null {
  recordAuthFailure(request, failure)
  return null
}

function refuse (request: FastifyRequest, token: string, rejection: TokenRejection, unusableKeys: OutageLog): null {
  const { reason, claim, cause } = rejection
  // Not the token's fault: the client is told to come back (503), and the key set logs the outage.
  // The cause is the KeysUnavailableError, with its Retry-After.
  if (reason === 'keys_unavailable') throw cause
  if (reason === 'key_unusable') unusableKeys.failed(request.log, cause, 'a verification key cannot be used: tokens signed with it are refused')
  recordAuthFailure(request, { error: 'invalid_token', reason, claim }, token)
  return null
}

function baseOf (claims: JwtClaims): string[] {
  return [Everyone, Authenticated, claims.sub]
}

// Without a callback: the roles and scopes of the claims, as the plugin's options map them.
function claimPrincipals (core: PolicyContext, claims: JwtClaims): string[] {
  return baseOf(claims).concat(core.principalsOf(claims))
}

async function callbackPrincipals (callback: IdentityCallback, claims: JwtClaims, request: FastifyRequest): Promise<string[] | null> {
  let extra: unknown
  try {
    extra = await callback(claims.sub, request)
  } catch (error) {
    request.log.error({ err: error }, 'the identity callback threw')
    throw new PolicyFailedError()
  }
  if (extra === null || extra === undefined) return null
  if (!Array.isArray(extra) || !extra.every((item) => typeof item === 'string')) {
    request.log.error('the identity callback must return an array of strings, or null to refuse the identity')
    throw new PolicyFailedError()
  }
  return extra as string[]
}
