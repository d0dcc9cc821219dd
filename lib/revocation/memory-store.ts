import { RevocationStoreFullError } from '../errors.js'
import { resolveMemoryStoreOptions } from '../config/option-checks.js'
import { sessionKey, subjectKey, tokenKey, type RevocationQuery, type RevocationStore, type RevokedSession, type RevokedSubject, type RevokedToken } from './store.js'

const OPTION_NAMES: ReadonlySet<string> = new Set(['maxEntries', 'now'])

/**
 * Options of {@link MemoryRevocationStore}.
 * @example
 * ```ts
 * import jwtSecurity, { MemoryRevocationStore, type MemoryRevocationStoreOptions } from 'fastify-jwt-security'
 *
 * // In tests: one fake clock for the plugin and the store, so that moving it on expires the tokens
 * // and their revocations together.
 * let clock = Date.parse('2030-01-01T00:00:00Z')
 * const options: MemoryRevocationStoreOptions = { now: () => clock, maxEntries: 1000 }
 * await app.register(jwtSecurity, { secret, expiresIn: '1h', now: () => clock, revocation: new MemoryRevocationStore(options) })
 * clock += 2 * 3600 * 1000 // tokens of the first hour, and their revocations, have expired
 * ```
 */
export interface MemoryRevocationStoreOptions {
  /** The most entries kept; a revocation that would pass it throws. Default 100,000. */
  maxEntries?: number
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number
}

interface Entry {
  /** For subjects: tokens issued before this (seconds) are revoked. For tokens: unused (0). */
  readonly notBefore: number
  /** When the entry may be forgotten, in milliseconds; Infinity for never. */
  readonly expiresAt: number
}

/**
 * Revocations in this process's memory, for a single instance (without the `revocation` option the
 * plugin keeps none). Entries expire with the tokens they revoke, and the store never holds more
 * than `maxEntries`; when it is full of live entries, a revocation throws rather than forgetting an
 * older one. Several instances need a shared store such as {@link RedisRevocationStore}.
 * @example
 * await app.register(jwtSecurity, { secret, revocation: new MemoryRevocationStore() })
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly failOpen = false
  readonly #entries = new Map<string, Entry>()
  readonly #maxEntries: number
  readonly #now: () => number

  constructor (options: MemoryRevocationStoreOptions = {}) {
    const { capacity, now } = resolveMemoryStoreOptions(options, OPTION_NAMES, 'maxEntries')
    this.#maxEntries = capacity
    this.#now = now
  }

  /** The number of entries held, expired ones included until they are swept. */
  get size (): number {
    return this.#entries.size
  }

  isRevoked (query: RevocationQuery): boolean {
    if (query.jti !== undefined && this.#live(tokenKey({ jti: query.jti, iss: query.iss })) !== undefined) return true
    if (query.sid !== undefined && this.#live(sessionKey({ sid: query.sid, iss: query.iss })) !== undefined) return true
    const subject = this.#live(subjectKey(query))
    return subject !== undefined && query.iat < subject.notBefore
  }

  revokeToken (token: RevokedToken, ttlSeconds: number | null): void {
    this.#set(tokenKey(token), 0, ttlSeconds)
  }

  revokeSession (session: RevokedSession, ttlSeconds: number | null): void {
    this.#set(sessionKey(session), 0, ttlSeconds)
  }

  /** Keeps the later notBefore and the later expiry: a call with an earlier one (a clock behind) moves neither back. */
  revokeAllFor (subject: RevokedSubject, notBefore: number, ttlSeconds: number | null): void {
    const key = subjectKey(subject)
    const previous = this.#live(key)
    this.#set(key, Math.max(notBefore, previous?.notBefore ?? 0), ttlSeconds, previous?.expiresAt)
  }

  #live (key: string): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined || entry.expiresAt > this.#now()) return entry
    this.#entries.delete(key)
    return undefined
  }

  #set (key: string, notBefore: number, ttlSeconds: number | null, keepUntil = 0): void {
    if (!this.#entries.has(key) && this.#entries.size >= this.#maxEntries) this.#sweep()
    if (!this.#entries.has(key) && this.#entries.size >= this.#maxEntries) throw new RevocationStoreFullError(this.#maxEntries)
    const expiresAt = ttlSeconds === null ? Infinity : this.#now() + ttlSeconds * 1000
    this.#entries.set(key, Object.freeze({ notBefore, expiresAt: Math.max(expiresAt, keepUntil) }))
  }

  #sweep (): void {
    const now = this.#now()
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key)
  }
}
