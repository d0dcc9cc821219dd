import { resolveMemoryStoreOptions } from '../config/option-checks.js'
import type { RefreshFamily, RefreshRotation, RefreshStore } from './store.js'

/**
 * Options of {@link MemoryRefreshStore}.
 * @example
 * ```ts
 * import { MemoryRefreshStore, type MemoryRefreshStoreOptions } from 'fastify-jwt-security'
 *
 * // In tests: one fake clock for the plugin and the store, so that moving it on ends idle sessions.
 * let clock = Date.parse('2030-01-01T00:00:00Z')
 * const options: MemoryRefreshStoreOptions = { now: () => clock, maxFamilies: 1000 }
 * const families = new MemoryRefreshStore(options)
 * clock += 31 * 86_400_000 // every family kept for 30 days or less, and not rotated since, is gone
 * ```
 */
export interface MemoryRefreshStoreOptions {
  /** The most families kept; a login that would pass it throws (a 503). Default 100,000. */
  maxFamilies?: number
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['maxFamilies', 'now'])

/**
 * The milliseconds a family is kept, as Redis's `PX` counts them: whole, and at least one. A time
 * that is not a positive number would keep a session forever, or not at all: it throws instead.
 */
export function refreshTtlMilliseconds (ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`a refresh family needs a positive, finite time to live, not ${ttlSeconds} seconds`)
  return Math.max(1, Math.ceil(ttlSeconds * 1000))
}

/** A `from` that is not a generation could never match, and an `at` that JSON cannot hold would be written as null. */
export function checkRotation (from: number, at: number): void {
  if (!Number.isSafeInteger(from) || from < 0) throw new RangeError(`a refresh family rotates from a generation, a safe integer 0 or more, not ${from}`)
  if (!Number.isFinite(at)) throw new RangeError(`a refresh family rotates at a finite time, not ${at}`)
}

/**
 * The key of a subject's families. The length prefix keeps `iss` and `sub` from running into each
 * other; it counts UTF-8 bytes, as Lua's `string.len` does, because the Redis store's scripts
 * derive the same key from a family they read.
 */
export function subjectIndexKey (subject: { readonly sub: string, readonly iss: string }): string {
  const { sub, iss } = subject
  if (typeof sub !== 'string' || typeof iss !== 'string') throw new TypeError('a subject of refresh families is a sub and an iss, both strings')
  return `sub:${Buffer.byteLength(iss)}:${iss}${sub}`
}

function isFamily (value: unknown): value is RefreshFamily {
  if (typeof value !== 'object' || value === null) return false
  const family = value as Record<string, unknown>
  const { claims } = family
  return typeof family.id === 'string' && family.id !== '' &&
    typeof family.sub === 'string' && typeof family.iss === 'string' && typeof family.secret === 'string' &&
    Number.isSafeInteger(family.generation) && (family.generation as number) >= 0 &&
    [family.createdAt, family.rotatedAt, family.lastUsedAt, family.expiresAt].every(Number.isFinite) &&
    typeof claims === 'object' && claims !== null && !Array.isArray(claims) &&
    (family.jkt === null || typeof family.jkt === 'string')
}

/**
 * The family as JSON, with the fields a rotation changes first and in this order: the Redis
 * store's rotation script rewrites them in place, and never re-encodes the rest (cjson would turn
 * an empty array of the claims into an object, and keeps 14 significant digits of a number).
 */
export function familyJson (family: RefreshFamily): string {
  if (!isFamily(family)) throw new TypeError('a refresh store keeps refresh families: this is not one')
  const { generation, rotatedAt, lastUsedAt, id, sub, iss, secret, createdAt, expiresAt, claims, jkt } = family
  return JSON.stringify({ generation, rotatedAt, lastUsedAt, id, sub, iss, secret, createdAt, expiresAt, claims, jkt })
}

/** The family `text` holds, frozen throughout; null when it holds none. */
export function parseFamily (text: string): RefreshFamily | null {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // JSON.parse's message quotes the text, which holds the family's secret.
    return null
  }
  return isFamily(value) ? deepFreeze(value) : null
}

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item)
    Object.freeze(value)
  }
  return value
}

interface Held {
  readonly family: RefreshFamily
  /** When the store forgets the family, in milliseconds: its time to live, not its `expiresAt`. */
  readonly expiresAt: number
  readonly subject: string
}

const GONE: RefreshRotation = Object.freeze({ rotated: false, family: null })

/**
 * Refresh-token families in this process's memory, for a single instance (several instances need
 * a shared store such as {@link RedisRefreshStore}). Families expire after their time to live, and
 * the store never holds more than `maxFamilies`: when it is full of live ones, a login throws (a
 * 503) rather than end another user's session. Families are kept as frozen copies; a rotation
 * compares and sets at once, so two refreshes with the same token never both rotate.
 * @example
 * ```ts
 * import { MemoryRefreshStore } from 'fastify-jwt-security'
 *
 * // One instance with many long sessions: room for more than the default 100,000 at once.
 * const families = new MemoryRefreshStore({ maxFamilies: 500_000 })
 * ```
 */
export class MemoryRefreshStore implements RefreshStore {
  readonly #families = new Map<string, Held>()
  readonly #subjects = new Map<string, Set<string>>()
  // No family held expires before this, so a full store need not be swept until then: a burst of
  // logins against a store full of live sessions costs no scan each.
  #nextExpiry = Infinity
  readonly #maxFamilies: number
  readonly #now: () => number

  constructor (options: MemoryRefreshStoreOptions = {}) {
    const { capacity, now } = resolveMemoryStoreOptions(options, OPTION_NAMES, 'maxFamilies')
    this.#maxFamilies = capacity
    this.#now = now
  }

  /** The number of families held, expired ones included until they are swept. */
  get size (): number {
    return this.#families.size
  }

  /** Throws when a family of the same id is live, or when the store is full of live families. */
  create (family: RefreshFamily, ttlSeconds: number): void {
    const ttl = refreshTtlMilliseconds(ttlSeconds)
    const stored = parseFamily(familyJson(family))
    if (stored === null) throw new TypeError('a refresh store keeps refresh families: this one does not survive JSON')
    const now = this.#now()
    if (this.#live(stored.id, now) !== undefined) throw new Error('the refresh store already holds a family of this id')
    if (this.#families.size >= this.#maxFamilies && now >= this.#nextExpiry) this.#sweep(now)
    if (this.#families.size >= this.#maxFamilies) {
      throw new Error(`the refresh store holds ${this.#maxFamilies} live families, its maxFamilies: a new session cannot be kept`)
    }
    const subject = subjectIndexKey(stored)
    let ids = this.#subjects.get(subject)
    if (ids === undefined) this.#subjects.set(subject, ids = new Set())
    ids.add(stored.id)
    this.#hold({ family: stored, expiresAt: now + ttl, subject })
  }

  get (id: string): RefreshFamily | null {
    return this.#live(id, this.#now())?.family ?? null
  }

  rotate (id: string, from: number, at: number, ttlSeconds: number): RefreshRotation {
    const ttl = refreshTtlMilliseconds(ttlSeconds)
    checkRotation(from, at)
    const now = this.#now()
    const held = this.#live(id, now)
    if (held === undefined) return GONE
    if (held.family.generation !== from) return Object.freeze({ rotated: false, family: held.family })
    const family: RefreshFamily = Object.freeze({ ...held.family, generation: from + 1, rotatedAt: at, lastUsedAt: at })
    this.#hold({ family, expiresAt: now + ttl, subject: held.subject })
    return Object.freeze({ rotated: true, family })
  }

  delete (id: string): boolean {
    const held = this.#live(id, this.#now())
    if (held === undefined) return false
    this.#drop(held)
    return true
  }

  listFor (subject: { readonly sub: string, readonly iss: string }): RefreshFamily[] {
    const ids = this.#subjects.get(subjectIndexKey(subject))
    if (ids === undefined) return []
    const now = this.#now()
    const families: RefreshFamily[] = []
    for (const id of [...ids]) {
      const held = this.#live(id, now)
      if (held !== undefined) families.push(held.family)
    }
    return families
  }

  #hold (held: Held): void {
    this.#families.set(held.family.id, held)
    this.#nextExpiry = Math.min(this.#nextExpiry, held.expiresAt)
  }

  #live (id: string, now: number): Held | undefined {
    const held = this.#families.get(id)
    if (held === undefined || held.expiresAt > now) return held
    this.#drop(held)
    return undefined
  }

  #drop ({ family, subject }: Held): void {
    this.#families.delete(family.id)
    // Every family held is in its subject's set: the set is there.
    const ids = this.#subjects.get(subject) as Set<string>
    ids.delete(family.id)
    if (ids.size === 0) this.#subjects.delete(subject)
  }

  #sweep (now: number): void {
    let nextExpiry = Infinity
    for (const held of this.#families.values()) {
      if (held.expiresAt <= now) this.#drop(held)
      else nextExpiry = Math.min(nextExpiry, held.expiresAt)
    }
    this.#nextExpiry = nextExpiry
  }
}
