import type { FastifyBaseLogger } from 'fastify'
import { InvalidClaimsError, InvalidGrantError, RefreshUnavailableError } from '../errors.js'
import { OutageLog } from '../outage-log.js'
import { isAuthentic, newFamilyId, newFamilySecret, parseRefreshToken, refreshTokenOf } from './refresh-token.js'
import type { RefreshFamily, RefreshStore } from './store.js'

/**
 * A token response (RFC 6749 §5.1): a short-lived access token and the refresh token of its
 * session, with the member names OAuth clients read.
 * @example
 * ```ts
 * import type { TokenPair } from 'fastify-jwt-security'
 *
 * // A mobile client keeps the refresh token in the platform's secure storage, the access token in memory.
 * const pair: TokenPair = await (await fetch('https://api.example.com/auth/refresh', { method: 'POST', body })).json()
 * secureStorage.set('refresh_token', pair.refresh_token)
 * ```
 */
export interface TokenPair {
  readonly access_token: string
  /** `'DPoP'` when the session's tokens are bound to a DPoP key, else `'Bearer'`. */
  readonly token_type: 'Bearer' | 'DPoP'
  /** The access token's lifetime, in seconds. */
  readonly expires_in: number
  readonly refresh_token: string
}

/** What the sessions service needs, resolved at registration. */
export interface RefreshSettings {
  readonly store: RefreshStore
  /** Seconds, each: the access tokens' lifetime, the idle timeout, the absolute lifetime, the grace of a rotated token. */
  readonly accessTokenLifetime: number
  readonly idleTimeout: number
  readonly maxSessionAge: number
  readonly reuseGrace: number
  /** The plugin's clock, ms. */
  readonly now: () => number
  readonly issuer: string | undefined
  /** The extra claims as a token will carry them (the plugin's encodeClaim applied), or a thrown InvalidClaimsError. */
  readonly encodeClaims: (claims: Record<string, unknown>) => Record<string, unknown>
  /** Signs an access token (the token service's sign). */
  readonly sign: (userid: string, claims: Record<string, unknown>, options: { expiresIn: number, jkt?: string }) => Promise<string>
  /** Revokes the access tokens of a session, for as long as one of them can still be accepted. */
  readonly revokeSession: (sid: string, iss: string | undefined) => Promise<void>
}

/** The session a request's refresh presented, and the key of its DPoP proof (null without one). */
export interface RefreshRequest {
  readonly token: unknown
  readonly jkt: string | null
  readonly log: FastifyBaseLogger
}

const SESSION_CLAIMS = ['sid', 'auth_time'] as const
const refused = (reason: string): Error => Object.assign(new InvalidGrantError(), { reason })
const RETRY_AFTER: Readonly<Record<string, string>> = Object.freeze({ 'retry-after': '5' })

/**
 * Refresh-token sessions (RFC 9700 §4.14): a login opens a family; each refresh rotates its
 * refresh token; a rotated one used again ends the family, its access tokens with it.
 */
export class RefreshSessions {
  readonly #settings: RefreshSettings
  readonly #outage = new OutageLog()

  constructor (settings: RefreshSettings) {
    this.#settings = settings
  }

  /** Opens a session for `userid`, with the extra claims of its access tokens, bound to `jkt` when given. */
  async open (userid: string, claims: Record<string, unknown>, jkt: string | null, log: FastifyBaseLogger): Promise<TokenPair> {
    for (const name of SESSION_CLAIMS) {
      if (Object.hasOwn(claims, name)) throw new InvalidClaimsError(`"${name}" is set by the refresh session: leave it out`)
    }
    // Stored as every later access token carries them: the encoder runs once, at login.
    const encoded = this.#settings.encodeClaims(claims)
    // A lone surrogate survives JSON.stringify but not Redis's JSON decoder: the session could not be refreshed or ended.
    if (!wellFormed(userid) || !wellFormed(encoded)) throw new InvalidClaimsError('the userid and claims of a refresh session must be well-formed Unicode')
    const { now, maxSessionAge, issuer } = this.#settings
    const at = now()
    const family: RefreshFamily = Object.freeze({
      id: newFamilyId(),
      sub: userid,
      iss: issuer ?? '',
      secret: newFamilySecret(),
      generation: 0,
      createdAt: at,
      rotatedAt: at,
      lastUsedAt: at,
      expiresAt: at + maxSessionAge * 1000,
      claims: Object.freeze(encoded),
      jkt
    })
    // The access token first: claims it cannot carry fail before anything is stored.
    const pair = await this.#pair(family, family.generation, at)
    await this.#use(log, () => this.#settings.store.create(family, this.#ttl(family, at)))
    return pair
  }

  /** Exchanges a refresh token for a new pair, rotating it; rejects with an InvalidGrantError (400) or a RefreshUnavailableError (503). */
  async refresh ({ token, jkt, log }: RefreshRequest): Promise<TokenPair> {
    const parts = parseRefreshToken(token)
    if (parts === null) throw refused('refresh_token_malformed')
    const { store, now, idleTimeout, reuseGrace } = this.#settings
    const family = await this.#use(log, () => store.get(parts.familyId))
    if (family === null) throw refused('refresh_token_unknown')
    if (!isAuthentic(parts, family.secret) || parts.generation > family.generation) throw refused('refresh_token_unknown')
    const at = now()
    if (at >= family.expiresAt) return await this.#end(family, log, 'session_expired')
    if (at - family.lastUsedAt >= idleTimeout * 1000) return await this.#end(family, log, 'session_idle')
    // A DPoP-bound session is refreshed only with a proof of its key (RFC 9449 §5).
    if (family.jkt !== null && jkt !== family.jkt) throw refused('dpop_key_mismatch')
    let current = family
    if (parts.generation === family.generation) {
      const { rotated, family: latest } = await this.#use(log, () => store.rotate(family.id, family.generation, at, this.#ttl(family, at)))
      if (latest === null) throw refused('refresh_token_unknown')
      if (rotated) return await this.#pair(latest, latest.generation, at)
      // Another refresh with the same token won the race: the grace below may still apply.
      current = latest
    }
    // Two tabs refreshing at once: the loser gets the winner's refresh token, within the grace.
    if (parts.generation === current.generation - 1 && at - current.rotatedAt <= reuseGrace * 1000) return await this.#pair(current, current.generation, at)
    log.warn({ session: current.id, sub: current.sub }, 'a rotated refresh token was used again: its session is ended, access tokens included')
    return await this.#end(current, log, 'refresh_token_reused')
  }

  /** Ends the session `id` (of `sub`, when given) and revokes its access tokens; false when there was none. */
  async end (id: string, log: FastifyBaseLogger, sub?: string): Promise<boolean> {
    const family = await this.#use(log, () => this.#settings.store.get(id))
    if (family === null || (sub !== undefined && family.sub !== sub)) return false
    await this.#endFamily(family, log)
    return true
  }

  /** The sessions of `userid`, oldest first. */
  async list (userid: string, log: FastifyBaseLogger): Promise<readonly RefreshFamily[]> {
    const families = await this.#use(log, () => this.#settings.store.listFor({ sub: userid, iss: this.#settings.issuer ?? '' }))
    return [...families].sort((first, second) => first.createdAt - second.createdAt)
  }

  async #end (family: RefreshFamily, log: FastifyBaseLogger, reason: string): Promise<never> {
    await this.#endFamily(family, log)
    throw refused(reason)
  }

  async #endFamily (family: RefreshFamily, log: FastifyBaseLogger): Promise<void> {
    // The access tokens first: were the store to fail after, the family would be ended again later.
    await this.#settings.revokeSession(family.id, family.iss === '' ? undefined : family.iss)
    await this.#use(log, () => this.#settings.store.delete(family.id))
  }

  // No access token outlives its session: the last ones expire at its absolute end.
  async #pair (family: RefreshFamily, generation: number, at: number): Promise<TokenPair> {
    const { sign } = this.#settings
    const expiresIn = Math.max(1, Math.min(this.#settings.accessTokenLifetime, Math.floor((family.expiresAt - at) / 1000)))
    const claims = { ...family.claims, sid: family.id, auth_time: Math.floor(family.createdAt / 1000) }
    const access = await sign(family.sub, claims, family.jkt === null ? { expiresIn } : { expiresIn, jkt: family.jkt })
    return { access_token: access, token_type: family.jkt === null ? 'Bearer' : 'DPoP', expires_in: expiresIn, refresh_token: refreshTokenOf(family, generation) }
  }

  // A family lives until it has been idle for idleTimeout, and never past its absolute end.
  #ttl (family: RefreshFamily, at: number): number {
    return Math.max(1, Math.min(this.#settings.idleTimeout, Math.ceil((family.expiresAt - at) / 1000)))
  }

  async #use<T> (log: FastifyBaseLogger, operation: () => T | Promise<T>): Promise<T> {
    let result: T
    try {
      result = await operation()
    } catch (error) {
      this.#outage.failed(log, error, 'the refresh store cannot be used: refreshes are refused (503)')
      const unavailable = new RefreshUnavailableError({ cause: error })
      ;(unavailable as { headers?: Record<string, string> }).headers = RETRY_AFTER
      throw unavailable
    }
    if (this.#outage.active) this.#outage.recovered(log, 'the refresh store answers again')
    return result
  }
}

// A high surrogate not followed by a low one, or a low one not after a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/

function wellFormed (value: unknown): boolean {
  if (typeof value === 'string') return !LONE_SURROGATE.test(value)
  if (typeof value !== 'object' || value === null) return true
  return Object.entries(value).every(([name, item]) => !LONE_SURROGATE.test(name) && wellFormed(item))
}
