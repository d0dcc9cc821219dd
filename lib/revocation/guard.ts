import type { FastifyRequest } from 'fastify'
import type { JwtClaims } from '../tokens/claims.js'
import { InvalidClaimsError, InvalidOptionError, RevocationFailedError, RevocationUnavailableError } from '../errors.js'
import { OutageLog } from '../outage-log.js'
import { isPromiseLike } from '../policies/policy.js'
import { toUserid } from '../tokens/claims.js'
import { MAX_TOKEN_LIFETIME } from '../tokens/tokens.js'
import type { RevocationQuery, RevocationStore } from './store.js'

/** What the guard needs of the plugin's settings. */
export interface RevocationSettings {
  /** The clock, in seconds since the epoch. */
  readonly nowSeconds: () => number
  readonly leeway: number
  readonly issuer: string | undefined
  /** How long after its `iat` a token can still be accepted, in seconds; null when tokens may never expire. */
  readonly maxLifetime: number | null
  /** The leeway of each trusted issuer: its tokens are accepted that long past their exp. */
  readonly issuerLeeways: ReadonlyMap<string, number>
}

// A store that failed is usually back within seconds (a restart, a failover).
const RETRY_AFTER: Readonly<Record<string, string>> = Object.freeze({ 'retry-after': '5' })

/**
 * Options of `app.revokeAllFor()`.
 * @example
 * ```ts
 * import type { RevokeAllOptions } from 'fastify-jwt-security'
 *
 * // "Sign out everywhere" for a user of a trusted identity provider: its tokens carry its iss.
 * const keycloakUser: RevokeAllOptions = { issuer: 'https://sso.example.com/realms/acme' }
 * await app.revokeAllFor('f81d4fae-7dec-11d0-a765-00a0c91e6bf6', keycloakUser)
 * ```
 */
export interface RevokeAllOptions {
  /** The trusted issuer whose tokens of `userid` are revoked. Default: the plugin's own tokens (its `issuer` option). */
  issuer?: string
}

/** Checks every verified token against the store, and writes revocations; fails closed unless the store says otherwise. */
export class RevocationGuard {
  readonly #store: RevocationStore
  readonly #settings: RevocationSettings
  #sessionMaxAge: number | null = null
  readonly #outage = new OutageLog()

  constructor (store: RevocationStore, settings: RevocationSettings) {
    this.#store = store
    this.#settings = settings
  }

  /**
   * Whether the verified token was revoked; synchronous when the store is. When the store cannot
   * answer: a 503 error with Retry-After (fail closed), or false when the store is set to fail open;
   * the outage is logged at most every 10 seconds with a count, and once more when it ends.
   */
  isRevoked (request: FastifyRequest, claims: JwtClaims): boolean | Promise<boolean> {
    let answer: boolean | Promise<boolean>
    try {
      // The claims are the query: jti, iss, sub and iat are all there, and nothing is copied.
      answer = this.#store.isRevoked(claims as RevocationQuery)
    } catch (error) {
      return this.#unreadable(request, error)
    }
    if (!isPromiseLike(answer)) return this.#answered(request, answer)
    return Promise.resolve(answer).then((revoked) => this.#answered(request, revoked), (error: unknown) => this.#unreadable(request, error))
  }

  #answered (request: FastifyRequest, revoked: unknown): boolean {
    if (this.#outage.active) this.#outage.recovered(request.log, 'the revocation store answers again')
    return revoked === true
  }

  #unreadable (request: FastifyRequest, error: unknown): false {
    const failOpen = this.#store.failOpen === true
    this.#outage.failed(request.log, error, failOpen
      ? 'the revocation store cannot be read: tokens are accepted without the revocation check (failOpen)'
      : 'the revocation store cannot be read: requests with tokens are refused (503)')
    if (failOpen) return false
    const unavailable = new RevocationUnavailableError({ cause: error })
    ;(unavailable as { headers?: Record<string, string> }).headers = RETRY_AFTER
    throw unavailable
  }

  /**
   * Revokes one token until it expires (a token already expired needs nothing written) and, for a
   * token of a cookie session, the whole session: the copies of it that earlier reissues left.
   */
  async revokeToken (claims: unknown): Promise<void> {
    const { jti, iss, exp, iat, sid, auth_time: authTime } = (claims ?? {}) as Partial<Record<string, unknown>>
    if (typeof jti !== 'string' || jti.length === 0) throw new InvalidClaimsError('the token to revoke has no jti')
    if (iss !== undefined && typeof iss !== 'string') throw new InvalidClaimsError('the iss of the token to revoke must be a string')
    const ttl = this.#remaining(exp, iat, iss)
    if (ttl !== null && ttl <= 0) return
    await this.#write(() => this.#store.revokeToken({ jti, iss }, ttl))
    if (typeof sid === 'string' && sid.length > 0) {
      await this.#write(() => this.#store.revokeSession({ sid, iss }, this.#sessionRemaining(authTime, ttl)))
    }
  }

  /** Tells the guard that cookie sessions last at most `seconds` from their auth_time (the cookie policy's maxSessionAge). */
  addSessionMaxAge (seconds: number): void {
    this.#sessionMaxAge = Math.max(this.#sessionMaxAge ?? 0, seconds)
  }

  // A session's tokens all expire by auth_time + maxSessionAge; without those, as long as any token.
  #sessionRemaining (authTime: unknown, tokenTtl: number | null): number | null {
    const maxAge = this.#sessionMaxAge
    if (maxAge === null || typeof authTime !== 'number') return this.#longestLife(undefined)
    return Math.max(Math.ceil(authTime + maxAge + this.#settings.leeway) - this.#settings.nowSeconds(), tokenTtl ?? 0)
  }

  /** Revokes every token of the session `sid` (its `sid` claim) for `ttlSeconds`: a refresh-token family that ended. */
  async revokeSession (sid: string, iss: string | undefined, ttlSeconds: number): Promise<void> {
    await this.#write(() => this.#store.revokeSession({ sid, iss }, ttlSeconds))
  }

  /** Revokes every token of `userid` issued before now (and in the current second). */
  async revokeAllFor (userid: unknown, issuer: string | undefined = this.#settings.issuer): Promise<void> {
    const sub = toUserid(userid)
    // iat has a one-second grain: tokens issued earlier in this second are revoked too.
    const notBefore = this.#settings.nowSeconds() + 1
    await this.#write(() => this.#store.revokeAllFor({ sub, iss: issuer }, notBefore, this.#longestLife(issuer)))
  }

  // jose compares claims with whole seconds (floor(now)): a token is accepted while floor(now) <
  // exp + leeway, and while floor(now) <= iat + maxTokenAge + leeway. With a fractional leeway or
  // claim, that lasts until the next whole second, so times to live are rounded up to it.
  #remaining (exp: unknown, iat: unknown, iss: string | undefined): number | null {
    const { nowSeconds, maxLifetime } = this.#settings
    const leeway = this.#settings.issuerLeeways.get(iss as string) ?? this.#settings.leeway
    if (typeof exp === 'number') return Math.ceil(exp + leeway) - nowSeconds()
    if (maxLifetime !== null && typeof iat === 'number') return Math.floor(iat + maxLifetime + leeway) + 1 - nowSeconds()
    return null
  }

  // The longest any token issued until now (iat below now + 1) can still be accepted. A trusted
  // issuer's tokens are not bound by the app's maxTokenAge: the longest lifetime the plugin allows.
  #longestLife (issuer: string | undefined): number | null {
    const issuerLeeway = this.#settings.issuerLeeways.get(issuer as string)
    if (issuerLeeway !== undefined) return Math.ceil(MAX_TOKEN_LIFETIME + issuerLeeway) + 1
    const { maxLifetime, leeway } = this.#settings
    return maxLifetime === null ? null : Math.ceil(maxLifetime + leeway) + 1
  }

  async #write (write: () => void | Promise<void>): Promise<void> {
    try {
      await write()
    } catch (error) {
      throw new RevocationFailedError({ cause: error })
    }
  }
}

/** Checks the `revocation` option: a store with the four methods. */
export function resolveRevocationStore (value: unknown): RevocationStore | null {
  if (value === undefined) return null
  const store = value as Partial<RevocationStore> | null
  if (typeof store?.isRevoked !== 'function' || typeof store.revokeToken !== 'function' || typeof store.revokeSession !== 'function' || typeof store.revokeAllFor !== 'function') {
    throw new InvalidOptionError('revocation', 'expected a RevocationStore (isRevoked, revokeToken, revokeSession, revokeAllFor)')
  }
  return value as RevocationStore
}
