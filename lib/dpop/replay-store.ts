import type { FastifyBaseLogger } from 'fastify'
import { resolveMemoryStoreOptions } from '../config/option-checks.js'

/**
 * Where the `jti` of accepted DPoP proofs are remembered, so that a proof sent twice is refused
 * (RFC 9449 §11.1): in memory ({@link MemoryDpopReplayStore}), in Redis ({@link RedisDpopReplayStore}),
 * or anywhere a store implements `firstUse`. A proof is only accepted for a short while, so its key
 * need only be kept that long. A store that cannot tell whether a key was seen must throw (or
 * reject): the request is then refused with a 503, never let through.
 * @example
 * ```ts
 * import jwtSecurity, { type DpopReplayStore } from 'fastify-jwt-security'
 *
 * // The app's own database, shared by every instance: an insert that hits the unique key is a replay.
 * const replay: DpopReplayStore = {
 *   firstUse: async (key, ttlSeconds) => await proofKeys.insertIfAbsent(key, { expiresInSeconds: ttlSeconds }) // your table
 * }
 * await app.register(jwtSecurity, { secret, dpop: { publicOrigin: 'https://api.example.com', replay } })
 * ```
 */
export interface DpopReplayStore {
  /**
   * Records `key` for `ttlSeconds`; resolves true the first time, false when the key is already
   * there (a replay). Throws or rejects when it cannot tell: never answers true without having
   * recorded the key.
   */
  firstUse (key: string, ttlSeconds: number): boolean | Promise<boolean>
  /** Called once when the plugin is registered, with the app's logger (to connect, for example). */
  init? (log: FastifyBaseLogger): void | Promise<void>
  /** Called when the Fastify instance closes. */
  close? (): void | Promise<void>
}

/**
 * Options of {@link MemoryDpopReplayStore}.
 * @example
 * ```ts
 * import jwtSecurity, { MemoryDpopReplayStore, type MemoryDpopReplayStoreOptions } from 'fastify-jwt-security'
 *
 * // In tests: the plugin's clock drives the store too, so that moving it on forgets old proofs.
 * let clock = Date.parse('2030-01-01T00:00:00Z')
 * const options: MemoryDpopReplayStoreOptions = { now: () => clock, maxEntries: 1000 }
 * await app.register(jwtSecurity, { secret, now: () => clock, dpop: { publicOrigin: 'https://api.example.com', replay: new MemoryDpopReplayStore(options) } })
 * ```
 */
export interface MemoryDpopReplayStoreOptions {
  /** The most keys kept; a new proof that would pass it is refused (503). Default 100,000. */
  maxEntries?: number
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['maxEntries', 'now'])

/**
 * The seconds a key is kept, as Redis's `EX` counts them: whole, and at least one. A time that is
 * not a number would keep nothing, and let every replay through: it throws instead.
 */
export function replayTtlSeconds (ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds)) throw new RangeError(`a DPoP replay key needs a finite time to live, not ${ttlSeconds}`)
  return Math.max(1, Math.ceil(ttlSeconds))
}

interface Arrival {
  readonly key: string
  /** Tells this arrival from a later one of the same key, used again after it expired. */
  readonly expiresAt: number
}

/**
 * The `jti` of accepted proofs in this process's memory: the default, for a single instance
 * (several instances need a shared store such as {@link RedisDpopReplayStore}). Keys expire after
 * their time to live, and the store never holds more than `maxEntries`: when it is full of live
 * keys, `firstUse` throws (a 503) rather than forget a key a replay could then reuse.
 * @example
 * ```ts
 * import jwtSecurity, { MemoryDpopReplayStore } from 'fastify-jwt-security'
 *
 * // One instance under heavy DPoP traffic: room for more proofs than the default 100,000 live at once.
 * const replay = new MemoryDpopReplayStore({ maxEntries: 500_000 })
 * await app.register(jwtSecurity, { secret, dpop: { publicOrigin: 'https://api.example.com', replay } })
 * ```
 */
export class MemoryDpopReplayStore implements DpopReplayStore {
  readonly #expiries = new Map<string, number>()
  // The keys in the order they came, which is nearly the order they expire in. The Map cannot be
  // this queue: V8 leaves a hole for each deleted entry, and every iteration walks them from the
  // start, so dropping from its front would cost O(n) per call.
  #arrivals: Arrival[] = []
  #head = 0
  readonly #maxEntries: number
  readonly #now: () => number

  constructor (options: MemoryDpopReplayStoreOptions = {}) {
    const { capacity, now } = resolveMemoryStoreOptions(options, OPTION_NAMES, 'maxEntries')
    this.#maxEntries = capacity
    this.#now = now
  }

  /** The number of keys held, expired ones included until they are dropped. */
  get size (): number {
    return this.#expiries.size
  }

  firstUse (key: string, ttlSeconds: number): boolean {
    const ttl = replayTtlSeconds(ttlSeconds)
    const now = this.#now()
    this.#dropExpiredFront(now)
    const known = this.#expiries.get(key)
    if (known !== undefined && known > now) return false
    if (known === undefined && this.#expiries.size >= this.#maxEntries) this.#dropAllExpired(now)
    if (known === undefined && this.#expiries.size >= this.#maxEntries) {
      throw new Error(`the DPoP replay store holds ${this.#maxEntries} live proofs, its maxEntries: a new one cannot be checked`)
    }
    const expiresAt = now + ttl * 1000
    this.#expiries.set(key, expiresAt)
    this.#arrivals.push({ key, expiresAt })
    // A key used again once expired leaves its first arrival behind, out of date; with a long-lived
    // key at the front, those could pile up without bound.
    if (this.#arrivals.length - this.#head > 2 * this.#maxEntries) this.#keepCurrentArrivals()
    return true
  }

  // Stops at the first live arrival: each is dropped once, so a call costs O(1) amortised.
  #dropExpiredFront (now: number): void {
    const arrivals = this.#arrivals
    while (this.#head < arrivals.length && (arrivals[this.#head] as Arrival).expiresAt <= now) {
      const { key, expiresAt } = arrivals[this.#head++] as Arrival
      if (this.#expiries.get(key) === expiresAt) this.#expiries.delete(key)
    }
    // Copies fewer arrivals than were dropped since the last cut: O(1) amortised as well.
    if (this.#head > arrivals.length / 2) {
      this.#arrivals = arrivals.slice(this.#head)
      this.#head = 0
    }
  }

  // Keys that live shorter than an older one wait behind it in the queue: only a full sweep finds them.
  #dropAllExpired (now: number): void {
    for (const [key, expiresAt] of this.#expiries) if (expiresAt <= now) this.#expiries.delete(key)
    this.#keepCurrentArrivals()
  }

  #keepCurrentArrivals (): void {
    this.#arrivals = this.#arrivals.slice(this.#head).filter(({ key, expiresAt }) => this.#expiries.get(key) === expiresAt)
    this.#head = 0
  }
}
