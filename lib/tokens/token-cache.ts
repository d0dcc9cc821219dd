import { toSeconds, type Duration } from '../config/option-checks.js'
import type { JwtClaims } from './claims.js'
import { InvalidOptionError } from '../errors.js'
import { checkKnownOptions } from '../config/option-checks.js'

/**
 * Options of the verified-token cache (the plugin's `cache` option). A cached token still goes
 * through revocation and the identity callback on every request; only the signature check and
 * the parsing are skipped.
 * @example
 * ```ts
 * import jwtSecurity, { type TokenCacheOptions } from 'fastify-jwt-security'
 *
 * // Many users, short tokens: more entries, and none kept past two minutes.
 * const cache: TokenCacheOptions = { maxEntries: 50_000, maxBytes: 32 * 1024 * 1024, ttl: '2m' }
 * await app.register(jwtSecurity, { secret: process.env.JWT_SECRET, cache })
 * ```
 */
export interface TokenCacheOptions {
  /** The most tokens kept. Default 10,000. */
  maxEntries?: number
  /** The most memory the entries may take, estimated, in bytes. Default 8 MiB. */
  maxBytes?: number
  /** The longest an entry is kept, whatever the token's exp. Default `'10m'`. */
  ttl?: Duration
}

/** What the cache needs to know of the time rules of verification. */
export interface CacheTimeRules {
  readonly leeway: number
  readonly maxTokenAge: number | undefined
  /** How long the keys themselves are trusted before they are fetched again (ms), or null. */
  readonly keysMaxAge?: number | null
}

/** The rules of a token verified by other rules than the cache's own (a trusted issuer's), and until when its keys may be used (ms). */
export interface EntryRules {
  readonly leeway: number
  readonly maxTokenAge: number | undefined
  readonly validUntil: number
}

/**
 * A token found in the cache: its claims, and what a policy derived from them alone (the identity
 * of the JWT policies), kept with the entry so that a hit builds nothing and looks up nothing else.
 */
export interface CachedToken {
  readonly claims: JwtClaims
  derived: unknown
}

interface Entry extends CachedToken {
  /** The whole token: the map key is only a fingerprint of its end. */
  readonly token: string
  /** Milliseconds since the epoch: from then on, verification would refuse the token. */
  readonly expiresAt: number
  /** The key set's generation when the token verified: a changed key set voids the entry. */
  readonly generation: number
  readonly bytes: number
  readonly seq: number
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['maxEntries', 'maxBytes', 'ttl'])
// Entries are found by a fingerprint of the token's last characters, which end its signature: a
// small integer key costs no string allocation or hashing, and the map compares keys without
// reading a string. The whole token is then compared, so two tokens whose fingerprints collide are
// two tokens, never one (catalogue F4): the newer takes the older's place.
const KEY_LENGTH = 12
// A Map entry, the entry object and the frozen claims' objects, beyond the token and the claims'
// strings and numbers, which take about twice the token's length (its payload is most of it).
const ENTRY_OVERHEAD = 320
const COMPACT_AT = 1024
// The admission filter's slots: a power of two of at least 8 times maxEntries, within these bounds
// (512 KiB for the default 10,000). A token offered again after n other offers is still remembered
// with a chance of about exp(-n / slots).
const MIN_SEEN_SLOTS = 1024
const MAX_SEEN_SLOTS = 1 << 20

/**
 * Tokens that passed full verification, by their exact string, with their frozen claims: a hit
 * skips the signature and claim checks, nothing else (revocation, the identity callback and the
 * policy's own rules still run). An entry ends when verification would start refusing the token
 * (its exp, or iat + maxTokenAge, with the leeway), after `ttl`, or when the key set changes;
 * the cache holds at most `maxEntries` tokens and about `maxBytes`, dropping the oldest first.
 * Refused tokens are never cached. A token is admitted the second time it is {@link offer}ed: one
 * that is presented once (a flood of fresh tokens, every request of a one-shot client) costs no
 * entry, no eviction and no garbage, and cannot push out the tokens that are in use.
 */
export class TokenCache {
  readonly #entries = new Map<number, Entry>()
  // Insertion order, for evicting the oldest: reaching a Map's first entry gets slow once many
  // entries were deleted before it.
  // Each slot is a key and the sequence number of the entry it was written for: a slot whose
  // entry is gone (expired, replaced) no longer matches and is skipped.
  #orderKeys: number[] = []
  #orderSeqs: number[] = []
  #head = 0
  #seq = 0
  readonly #maxEntries: number
  readonly #maxBytes: number
  readonly #ttl: number
  readonly #rules: CacheTimeRules
  #bytes = 0
  // Fingerprints of tokens offered once, one per slot: no allocation per token. Two tokens that
  // share a slot overwrite each other (each then needs one more verification to be admitted) or,
  // with equal fingerprints, one is admitted a verification early: either way only cost changes,
  // never what a token is accepted as, since the entry itself holds and compares the whole token.
  readonly #seen: Uint32Array

  constructor (options: TokenCacheOptions, rules: CacheTimeRules) {
    checkKnownOptions(options, OPTION_NAMES, 'cache.')
    const { maxEntries = 10_000, maxBytes = 8 * 1024 * 1024, ttl = '10m' } = options
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new InvalidOptionError('cache.maxEntries', 'expected a positive integer')
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1024) throw new InvalidOptionError('cache.maxBytes', 'expected an integer of at least 1024')
    const seconds = toSeconds('cache.ttl', ttl)
    if (seconds <= 0) throw new InvalidOptionError('cache.ttl', 'must be more than 0 seconds')
    this.#maxEntries = maxEntries
    this.#maxBytes = maxBytes
    // An entry never outlives the keys that verified it: a remote set is fetched again after its cacheMaxAge.
    this.#ttl = Math.min(seconds * 1000, rules.keysMaxAge ?? Infinity)
    this.#rules = rules
    let slots = MIN_SEEN_SLOTS
    while (slots < 8 * maxEntries && slots < MAX_SEEN_SLOTS) slots *= 2
    this.#seen = new Uint32Array(slots)
  }

  /** The number of tokens held. */
  get size (): number {
    return this.#entries.size
  }

  /** The estimated bytes held. */
  get bytes (): number {
    return this.#bytes
  }

  /** The entry of a token verified earlier and still valid at `now` (ms) under key set `generation`. */
  lookup (token: string, now: number, generation: number): CachedToken | undefined {
    const key = fingerprintOf(token)
    const entry = this.#entries.get(key)
    if (entry === undefined || entry.token !== token) return undefined
    if (now < entry.expiresAt && entry.generation === generation) return entry
    this.#delete(key, entry)
    return undefined
  }

  /**
   * Offers a token that just passed full verification at `now` (ms): it is kept when it was offered
   * before (and its fingerprint has not been overwritten since), else only remembered as seen.
   */
  offer (token: string, claims: JwtClaims, now: number, generation: number, rules?: EntryRules): void {
    const fingerprint = fingerprintOf(token)
    const slot = fingerprint & (this.#seen.length - 1)
    if (this.#seen[slot] !== fingerprint) {
      this.#seen[slot] = fingerprint
      return
    }
    this.#seen[slot] = 0
    this.#insert(fingerprint, token, claims, now, generation, rules)
  }

  /** Keeps a token that just passed full verification at `now` (ms), without the admission filter. */
  set (token: string, claims: JwtClaims, now: number, generation: number): void {
    this.#insert(fingerprintOf(token), token, claims, now, generation)
  }

  #insert (key: number, token: string, claims: JwtClaims, now: number, generation: number, rules?: EntryRules): void {
    const expiresAt = rules === undefined ? this.#expiry(claims, now, this.#rules) : Math.min(this.#expiry(claims, now, rules), rules.validUntil)
    if (expiresAt <= now) return
    const bytes = ENTRY_OVERHEAD + token.length * 3
    if (bytes > this.#maxBytes) return
    const previous = this.#entries.get(key)
    if (previous !== undefined) this.#delete(key, previous)
    while (this.#entries.size >= this.#maxEntries || this.#bytes + bytes > this.#maxBytes) this.#evictOldest()
    const seq = ++this.#seq
    this.#entries.set(key, { token, claims, derived: undefined, expiresAt, generation, bytes, seq })
    this.#bytes += bytes
    this.#orderKeys.push(key)
    this.#orderSeqs.push(seq)
    this.#compactOrder()
  }

  #evictOldest (): void {
    for (;;) {
      const index = this.#head++
      const key = this.#orderKeys[index] as number
      const entry = this.#entries.get(key)
      if (entry !== undefined && entry.seq === this.#orderSeqs[index]) {
        this.#delete(key, entry)
        return
      }
    }
  }

  // Amortised O(1): once the list is more than twice the live entries (plus a margin), it is
  // rebuilt from the live slots alone. This drops the evicted slots before the head and those of
  // entries that expired or were replaced, so a cache that expires entries faster than it fills
  // (and so never evicts) does not grow its list either.
  #compactOrder (): void {
    const length = this.#orderKeys.length
    if (length <= 2 * this.#entries.size + COMPACT_AT) return
    const keys: number[] = []
    const seqs: number[] = []
    for (let index = this.#head; index < length; index++) {
      const key = this.#orderKeys[index] as number
      if (this.#entries.get(key)?.seq === this.#orderSeqs[index]) {
        keys.push(key)
        seqs.push(this.#orderSeqs[index] as number)
      }
    }
    this.#orderKeys = keys
    this.#orderSeqs = seqs
    this.#head = 0
  }

  /** Slots kept in the insertion-order list, evicted ones included: at most twice the entries plus 1,024. */
  get orderSlots (): number {
    return this.#orderKeys.length
  }

  // jose refuses once now >= exp + leeway, and once now > iat + maxTokenAge + leeway (whole seconds).
  #expiry (claims: JwtClaims, now: number, rules: { readonly leeway: number, readonly maxTokenAge: number | undefined }): number {
    const { leeway, maxTokenAge } = rules
    let expiresAt = now + this.#ttl
    if (claims.exp !== undefined) expiresAt = Math.min(expiresAt, (claims.exp + leeway) * 1000)
    if (maxTokenAge !== undefined) expiresAt = Math.min(expiresAt, (claims.iat as number + maxTokenAge + leeway + 1) * 1000)
    return expiresAt
  }

  #delete (key: number, entry: Entry): void {
    this.#entries.delete(key)
    this.#bytes -= entry.bytes
  }
}

// FNV-1a over the token's last characters, which end its signature, in 30 bits: a small integer,
// for speed. A token whose fingerprint is 0 (an empty
// slot's) is admitted on its first offer: an early admission, like a collision.
export function fingerprintOf (token: string): number {
  let hash = 0x811c9dc5
  for (let index = Math.max(0, token.length - KEY_LENGTH); index < token.length; index++) {
    hash = Math.imul(hash ^ token.charCodeAt(index), 0x01000193)
  }
  return hash >>> 2
}

/** Checks the `cache` option: false, or the cache's options. */
export function resolveCacheOptions (value: unknown): TokenCacheOptions | null {
  if (value === false) return null
  if (value === undefined || value === true) return {}
  if (typeof value === 'object' && value !== null) return value as TokenCacheOptions
  throw new InvalidOptionError('cache', 'expected false, true or { maxEntries, maxBytes, ttl }')
}
