import type { FastifyReply, FastifyRequest } from 'fastify'
import { ACLHelper, NO_ACL_FOUND } from './acl.js'
import { recordAuthFailure, type AuthFailure } from './auth-failure.js'
import type { JwtClaims } from './claims.js'
import { coreOf, type SecurityCore } from './core.js'
import { PolicyFailedError } from './errors.js'
import { Allowed, Denied, type PermitsResult, type SecurityPolicy } from './policy.js'
import { ANONYMOUS_PRINCIPALS, Authenticated, Everyone, isReservedUserid } from './principals.js'
import type { TokenRejection } from './token-rejection.js'

/** The identity the built-in JWT policies put on `request.identity`. */
export interface JwtIdentity {
  /** The token's `sub`. */
  readonly userid: string
  /** `system.Everyone`, `system.Authenticated`, the userid, then the callback's (or the claims') principals. */
  readonly principals: readonly string[]
  /** The verified claims, as on `request.jwtClaims`. */
  readonly claims: JwtClaims
}

/** A malformed request (RFC 6750 `invalid_request`), as opposed to a malformed token. */
export type MalformedCredential = AuthFailure & { readonly error: 'invalid_request' }

/** What a transport read from a request: a token, nothing, or a malformed request. */
export type Credential = string | null | MalformedCredential

const ACL_HELPER = new ACLHelper()
const KEY_WARNINGS: Readonly<Partial<Record<string, string>>> = {
  keys_unavailable: 'the JSON Web Key Set could not be fetched, or is not a valid JWK Set: tokens cannot be verified',
  key_unusable: 'a verification key cannot be used: tokens signed with it are refused'
}
const IDENTITY_REJECTED: AuthFailure = Object.freeze({ error: 'invalid_token', reason: 'identity_rejected' })
const TOKEN_REVOKED: AuthFailure = Object.freeze({ error: 'invalid_token', reason: 'token_revoked' })
const SUBJECT_RESERVED: AuthFailure = Object.freeze({ error: 'invalid_token', reason: 'subject_reserved', claim: 'sub' })

/**
 * What the header and cookie policies share: verify the token with the plugin's settings, run the
 * identity callback, and grant a permission when a principal equals it. Subclasses only say where
 * the token travels.
 */
export abstract class JwtPolicy implements SecurityPolicy<JwtIdentity> {
  /** Reads the token from the request. Must not throw for anything a client can send. */
  protected abstract readCredential (request: FastifyRequest): Credential

  /** Verifies the request's token; null when there is none or it is refused (see `request.authFailure`). */
  identity (request: FastifyRequest): JwtIdentity | null | Promise<JwtIdentity | null> {
    const credential = this.readCredential(request)
    if (credential === null) return null
    if (typeof credential !== 'string') {
      recordAuthFailure(request, credential)
      return null
    }
    return this.#identify(request, credential)
  }

  async #identify (request: FastifyRequest, token: string): Promise<JwtIdentity | null> {
    const core = coreOf(request)
    let claims: JwtClaims
    try {
      claims = await core.tokens.verify(token)
    } catch (error) {
      const { reason, claim, cause } = error as TokenRejection
      // The request is refused like any bad token, but an operator must hear that the keys are gone.
      const warning = KEY_WARNINGS[reason]
      if (warning !== undefined) request.log.warn({ err: cause }, warning)
      recordAuthFailure(request, { error: 'invalid_token', reason, claim }, token)
      return null
    }
    const failure = isReservedUserid(claims.sub) ? SUBJECT_RESERVED : this.checkClaims(request, claims, core)
    if (failure !== null) {
      recordAuthFailure(request, failure)
      return null
    }
    if (core.revocation !== null && await core.revocation.isRevoked(request, claims)) {
      recordAuthFailure(request, TOKEN_REVOKED)
      return null
    }
    request.jwtClaims = claims
    const principals = await principalsOf(core, claims, request)
    if (principals === null) {
      request.jwtClaims = null
      recordAuthFailure(request, IDENTITY_REJECTED)
      return null
    }
    const identity: JwtIdentity = Object.freeze({ userid: claims.sub, principals, claims })
    this.identified(request, identity, core)
    return identity
  }

  /**
   * Rules a transport adds to verified claims (the cookie policy's session cap and CSRF check).
   * Returns a failure to refuse the credential, or throws a coded error to answer at once.
   */
  protected checkClaims (_request: FastifyRequest, _claims: JwtClaims, _core: SecurityCore): AuthFailure | null {
    return null
  }

  /** Called once an identity is accepted (the cookie policy schedules its reissue here). */
  protected identified (_request: FastifyRequest, _identity: JwtIdentity, _core: SecurityCore): void {}

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
      if (decision.acl !== NO_ACL_FOUND) return decision
    }
    return principals.includes(permission)
      ? new Allowed('principal %o grants %o', permission, permission)
      : new Denied('none of the principals %o is %o', principals, permission)
  }

  abstract remember (request: FastifyRequest, reply: FastifyReply, userid: string, claims?: Record<string, unknown>): void | Promise<void>
  abstract forget (request: FastifyRequest, reply: FastifyReply): void | Promise<void>
}

async function principalsOf (core: SecurityCore, claims: JwtClaims, request: FastifyRequest): Promise<string[] | null> {
  const base = [Everyone, Authenticated, claims.sub]
  if (core.callback === null) {
    for (const name of core.principalClaims) {
      const value = claims[name]
      if (Array.isArray(value)) {
        for (const item of value) if (typeof item === 'string') base.push(item)
      }
    }
    return base
  }
  let extra: unknown
  try {
    extra = await core.callback(claims.sub, request)
  } catch (error) {
    request.log.error({ err: error }, 'the identity callback threw')
    throw new PolicyFailedError()
  }
  if (extra === null || extra === undefined) return null
  if (!Array.isArray(extra) || !extra.every((item) => typeof item === 'string')) {
    request.log.error('the identity callback must return an array of strings, or null to refuse the identity')
    throw new PolicyFailedError()
  }
  return base.concat(extra)
}
