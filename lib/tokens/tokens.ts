import { randomUUID, type webcrypto } from 'node:crypto'
import { jwtVerify, SignJWT, type FlattenedJWSInput, type JWSHeaderParameters, type JWTVerifyOptions, type ResolvedKey } from 'jose'
import { freezeClaims, toTokenClaims, type ClaimEncoder, type JwtClaims } from './claims.js'
import { toSeconds, type Duration } from '../config/option-checks.js'
import { InvalidClaimsError, NoSigningKeyError } from '../errors.js'
import type { KeyRing } from '../keys/key-ring.js'
import type { IssuerVerifier } from '../keys/issuers.js'
import { fingerprintOf, TokenCache, type CachedToken, type EntryRules, type TokenCacheOptions } from './token-cache.js'
import { TokenRejection, type TokenRejectionReason } from './claims.js'
import { MAX_USERID_LENGTH, toUserid } from './claims.js'

type CryptoKey = webcrypto.CryptoKey

/**
 * Per-call options of createJwtToken.
 * @example
 * ```ts
 * import type { CreateTokenOptions } from 'fastify-jwt-security'
 *
 * // A short-lived token for another service: this app still verifies with its own audience.
 * const forBilling: CreateTokenOptions = { audience: 'billing', expiresIn: '5m' }
 * const token = await app.createJwtToken('alice', { scope: 'invoices' }, forBilling)
 * ```
 */
export interface CreateTokenOptions {
  /** Overrides the plugin's expiresIn for this token (seconds or a duration string). */
  expiresIn?: Duration
  /** Overrides the plugin's audience for this token. */
  audience?: string | string[]
  /**
   * Binds the token to a client's key (DPoP, RFC 9449): the RFC 7638 thumbprint that
   * `request.dpopProof()` returns, put in the token's `cnf.jkt`. The token is then accepted only
   * with `Authorization: DPoP` and a proof made with that key. Needs the `dpop` option.
   */
  jkt?: string
}

/** What a TokenService needs, resolved and validated by the plugin options. */
export interface TokenSettings {
  readonly keys: KeyRing
  /** The trusted issuers: a token whose `iss` is one of theirs is verified by that issuer's rules and keys. */
  readonly issuers: readonly IssuerVerifier[]
  /** False when the plugin has no keys of its own: only the trusted issuers' tokens are accepted. */
  readonly ownKeys: boolean
  readonly expiresIn: number | null
  readonly audience: string | readonly string[] | undefined
  readonly issuer: string | undefined
  readonly leeway: number
  readonly maxTokenAge: number | undefined
  readonly typ: string | undefined
  readonly maxTokenLength: number
  readonly encodeClaim: ClaimEncoder | null
  readonly now: (() => number) | null
  /** The verified-token cache's options, or null for no cache. */
  readonly cache: TokenCacheOptions | null
  /** The `dpop` option: tokens bound to a key need a mode that accepts the DPoP scheme. */
  readonly dpop: { readonly mode: string } | null
}

const JKT = /^[A-Za-z0-9_-]{43}$/
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
// Characters whose unused low bits are zero, for a last base64url character carrying 2 or 4 spare bits.
const codes = (characters: string): ReadonlySet<number> => new Set([...characters].map((character) => character.charCodeAt(0)))
const CANONICAL_LAST_OF_3 = codes('AEIMQUYcgkosw048')
const CANONICAL_LAST_OF_2 = codes('AQgw')
// 9999-12-31: a NumericDate beyond this is not a date but an attempt at "never".
const MAX_NUMERIC_DATE = 253402300799
// The claims whose type the plugin checks; step-up checks read acr, amr and auth_time (RFC 9470).
const NUMERIC_DATES = ['exp', 'nbf', 'iat', 'auth_time']
const STRING_CLAIMS = ['jti', 'iss', 'client_id', 'acr']
const STRING_OR_LIST_CLAIMS = ['aud', 'amr']
// Distinct protected headers remembered with their key: the plugin's own tokens have one per key.
const MAX_KNOWN_HEADERS = 64

// A verification under way, which calls for the same token share.
interface InFlight {
  readonly token: string
  readonly verification: Promise<JwtClaims>
}

/** The longest lifetime a created token may have: 366 days. Longer-lived tokens belong to `expiresIn: false` and revocation. */
export const MAX_TOKEN_LIFETIME = 366 * 86400

const JOSE_REASONS: Readonly<Record<string, TokenRejectionReason>> = {
  ERR_JWT_EXPIRED: 'token_expired',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'claim_invalid',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'signature_invalid',
  ERR_JOSE_ALG_NOT_ALLOWED: 'algorithm_not_allowed',
  ERR_JOSE_NOT_SUPPORTED: 'token_unsupported'
}

/** Signs and verifies tokens with jose, with algorithms pinned per key and the plugin's claim rules. */
export class TokenService {
  readonly #settings: TokenSettings
  readonly #verifyOptions: JWTVerifyOptions
  readonly #requiresExpiry: boolean
  readonly #cache: TokenCache | null
  readonly #issuers: ReadonlyMap<string, IssuerVerifier> | null

  constructor (settings: TokenSettings) {
    this.#settings = settings
    const { issuers } = settings
    this.#issuers = issuers.length === 0 ? null : new Map(issuers.map((verifier) => [verifier.issuer, verifier]))
    // The cache's own rules are the app's; an entry of a trusted issuer's token carries that
    // issuer's (verifyFully), and any entry of fetched keys ends when those keys may no longer be used.
    this.#cache = settings.cache === null
      ? null
      : new TokenCache(settings.cache, { leeway: settings.leeway, maxTokenAge: settings.maxTokenAge, keysMaxAge: settings.keys.maxAge })
    this.#requiresExpiry = settings.expiresIn !== null
    this.#verifyOptions = Object.freeze({
      algorithms: [...settings.keys.algorithms],
      clockTolerance: settings.leeway,
      requiredClaims: this.#requiresExpiry ? ['exp', 'iat', 'sub'] : ['iat', 'sub'],
      ...(settings.audience === undefined ? {} : { audience: settings.audience as string | string[] }),
      ...(settings.issuer === undefined ? {} : { issuer: settings.issuer }),
      ...(settings.typ === undefined ? {} : { typ: settings.typ }),
      ...(settings.maxTokenAge === undefined ? {} : { maxTokenAge: settings.maxTokenAge })
    })
    this.#keyByHeader = settings.keys.maxAge === null ? new Map() : null
  }

  /** True when `claims` were verified with a trusted issuer's keys: the token service routes by `iss`. */
  fromTrustedIssuer (claims: JwtClaims): boolean {
    return this.#issuers?.has(claims.iss as string) ?? false
  }

  /** The lifetime of created tokens in seconds, or null when they carry no `exp`. */
  get expiresIn (): number | null {
    return this.#settings.expiresIn
  }

  /** Seconds since the epoch, from the injected clock when there is one. */
  nowSeconds (): number {
    return Math.floor((this.#settings.now?.() ?? Date.now()) / 1000)
  }

  /** Creates a signed token for `userid` with `extraClaims` (reserved claims are refused). */
  async sign (userid: unknown, extraClaims?: unknown, options: CreateTokenOptions = {}): Promise<string> {
    const settings = this.#settings
    const signer = settings.keys.signer
    if (signer === null) throw new NoSigningKeyError()
    if (typeof options !== 'object' || options === null) throw new InvalidClaimsError('options must be an object')
    const iat = this.nowSeconds()
    const lifetime = this.#lifetime(options.expiresIn)
    const audience = options.audience ?? settings.audience
    // The copy of the extra claims is the payload, not a spread of it, for speed (one shape).
    const payload = toTokenClaims(extraClaims, settings.encodeClaim)
    payload.sub = toUserid(userid)
    payload.iat = iat
    payload.jti = randomUUID()
    if (lifetime !== null) payload.exp = iat + lifetime
    if (settings.issuer !== undefined) payload.iss = settings.issuer
    if (audience !== undefined) payload.aud = toAudience(audience)
    if (options.jkt !== undefined) payload.cnf = { jkt: this.#thumbprint(options.jkt) }
    const token = await new SignJWT(payload)
      .setProtectedHeader(signer.kid === null
        ? { alg: signer.algorithm, typ: settings.typ ?? 'JWT' }
        : { alg: signer.algorithm, typ: settings.typ ?? 'JWT', kid: signer.kid })
      .sign(signer.key)
    if (token.length > settings.maxTokenLength) {
      throw new InvalidClaimsError(`the token would be ${token.length} characters, more than maxTokenLength (${settings.maxTokenLength}) lets the plugin verify`)
    }
    return token
  }

  #thumbprint (jkt: unknown): string {
    if (this.#settings.dpop === null || this.#settings.dpop.mode === 'off') {
      throw new InvalidClaimsError('jkt needs the dpop option with a mode other than "off": the token could not be used')
    }
    if (typeof jkt !== 'string' || !JKT.test(jkt)) throw new InvalidClaimsError('jkt must be an RFC 7638 SHA-256 thumbprint (43 base64url characters), as request.dpopProof() gives')
    return jkt
  }

  /**
   * The cache entry of `token` (its claims, and a slot for what a policy derives from them) when it
   * passed full verification earlier and would pass it now; undefined otherwise (then call
   * {@link verifyAnew}). Synchronous: a hit costs no promise.
   */
  cached (token: string): CachedToken | undefined {
    return this.#cache?.lookup(token, this.#settings.now?.() ?? Date.now(), this.#generation())
  }

  // Any key set that changed voids every cached verification: key changes are rare, and one
  // number keeps the cache's check a comparison.
  #generation (): number {
    let generation = this.#settings.keys.generation
    if (this.#issuers !== null) for (const verifier of this.#issuers.values()) generation += verifier.generation()
    return generation
  }

  /**
   * The verified, frozen claims of `token`; rejects with a {@link TokenRejection} for anything
   * else, or with what the injected clock throws.
   */
  async verify (token: string): Promise<JwtClaims> {
    return this.cached(token)?.claims ?? await this.verifyAnew(token)
  }

  /**
   * As {@link verify}, for a token {@link cached} just missed: the full verification, then the
   * cache. Calls for a token whose verification is under way share it (its claims or its refusal).
   * Throws, rather than rejects, only what the injected clock throws, as {@link cached} does.
   */
  verifyAnew (token: string): Promise<JwtClaims> {
    // Cheap refusals first: they cost no entry in the map of verifications under way.
    if (token.length > this.#settings.maxTokenLength) return Promise.reject(new TokenRejection('token_too_long'))
    if (!isCompactJws(token)) return Promise.reject(new TokenRejection('token_malformed'))
    const key = fingerprintOf(token)
    const pending = this.#inFlight.get(key)
    if (pending?.token === token) return pending.verification
    // The injected clock is read once per verification, here, before any entry exists: jose's
    // checks, the plugin's and the cache's see the same instant, and a clock that throws leaves
    // this call (as it leaves cached()) with no entry waiting for a verification never started.
    const now = this.#settings.now === null ? null : this.#settings.now()
    // Another token with the same fingerprint is under way: verified on its own, not shared.
    if (pending !== undefined) return this.#verifyFully(token, key, now, false)
    // Registered as soon as it starts: the verification removes the entry in a later tick, once
    // jose answers, and no other entry can take its key meanwhile.
    const verification = this.#verifyFully(token, key, now, true)
    this.#inFlight.set(key, { token, verification })
    return verification
  }

  // An app's parallel calls right after login carry the same new token: one verification serves
  // them all. Only verifications under way are here (by the cache's fingerprint, then the whole
  // token), so the map is as large as the concurrency.
  readonly #inFlight = new Map<number, InFlight>()

  // The keys chosen for the encoded protected headers of tokens that verified, for a key ring that
  // never changes (null for a remote set): the ring's choice depends on the header alone, and jose
  // given a key rather than the resolver is faster. A header is learnt only from a token whose
  // signature jose accepted: an unknown kid or a refused algorithm still goes to the ring, and fails
  // there before any signature check (catalogue F1), and forged tokens cannot fill the map.
  readonly #keyByHeader: Map<string, CryptoKey> | null

  // Nothing here throws: jwtVerify, an async function, turns every failure into a rejection.
  #verifyFully (token: string, key: number, now: number | null, shared: boolean): Promise<JwtClaims> {
    const routed = this.#issuers === null ? null : this.#issuerOf(token)
    const issuer = routed ?? null
    let verification: Promise<{ payload: Record<string, unknown>, key?: unknown }>
    let generation = this.#generation()
    // How long (ms) the keys that verified the token may still be used: key sets keep real time,
    // the cache the plugin's clock, so a duration goes from one to the other.
    let keysRemaining = Infinity
    let learn = ''
    if (routed === undefined) {
      verification = Promise.reject(new TokenRejection('issuer_unknown', 'iss'))
    } else if (issuer !== null) {
      verification = jwtVerify(token, async (header: JWSHeaderParameters, input: FlattenedJWSInput) => {
        const found = await issuer.resolve(header, input)
        generation = this.#generation()
        keysRemaining = issuer.validUntil() - Date.now()
        return found
      }, now === null ? issuer.verifyOptions : { ...issuer.verifyOptions, currentDate: new Date(now) })
    } else {
      const keys = this.#settings.keys
      const encodedHeader = this.#keyByHeader === null ? '' : token.slice(0, token.indexOf('.'))
      const known = this.#keyByHeader?.get(encodedHeader)
      if (known === undefined) learn = encodedHeader
      verification = jwtVerify(token, known ?? (keys.maxAge === null
        ? keys.resolve
        // The generation of the set the key came from: a key removed by a later fetch voids the entry.
        : async (header: JWSHeaderParameters, input: FlattenedJWSInput) => {
          const found = await keys.resolve(header, input)
          generation = this.#generation()
          keysRemaining = keys.validUntil() - Date.now()
          return found
        }), now === null ? this.#verifyOptions : { ...this.#verifyOptions, currentDate: new Date(now) })
    }
    // Both outcomes leave the map first, synchronously: no call can join between this and the outcome.
    return verification.then((verified) => {
      if (shared) this.#inFlight.delete(key)
      if (issuer === null && this.#keyByHeader !== null && learn !== '') this.#learnHeader(learn, (verified as ResolvedKey<CryptoKey>).key)
      if (issuer !== null) checkIssuerClaims(issuer, verified.payload)
      const at = now ?? Date.now()
      const validUntil = at + keysRemaining
      const rules = issuer === null
        ? { leeway: this.#settings.leeway, maxTokenAge: this.#settings.maxTokenAge, validUntil }
        : { leeway: issuer.leeway, maxTokenAge: undefined, validUntil }
      return this.#accepted(token, verified.payload, generation, at, rules)
    }, (error: unknown) => {
      if (shared) this.#inFlight.delete(key)
      throw toRejection(error)
    })
  }

  // The trusted issuer whose iss the token claims, before anything is verified or fetched: null
  // for a token of the plugin's own keys, undefined for a token no key here may verify.
  #issuerOf (token: string): IssuerVerifier | null | undefined {
    const first = token.indexOf('.')
    let iss: unknown
    try {
      iss = (JSON.parse(Buffer.from(token.slice(first + 1, token.indexOf('.', first + 1)), 'base64url').toString('utf8')) as { iss?: unknown } | null)?.iss
    } catch {
      // A payload that is not JSON names no issuer; jose refuses it on the own keys' path.
    }
    const issuer = typeof iss === 'string' ? (this.#issuers as ReadonlyMap<string, IssuerVerifier>).get(iss) : undefined
    if (issuer !== undefined) return issuer
    return this.#settings.ownKeys ? null : undefined
  }

  #learnHeader (header: string, key: CryptoKey): void {
    const known = this.#keyByHeader
    // A copy: V8 keeps a slice as a view of the whole string, and the map, which lives as long as
    // the process, would keep a valid token (or a whole Cookie header) in memory with it.
    if (known !== null && known.size < MAX_KNOWN_HEADERS) known.set(Buffer.from(header, 'latin1').toString('latin1'), key)
  }

  #accepted (token: string, payload: Record<string, unknown>, generation: number, now: number, rules: EntryRules): JwtClaims {
    this.#checkClaimTypes(payload, Math.floor(now / 1000), rules.leeway)
    const claims = freezeClaims(payload)
    if (claims === null) throw new TokenRejection('claim_invalid', '__proto__')
    this.#cache?.offer(token, claims, now, generation, rules)
    return claims
  }

  // jose checks signatures and the configured claims; these are the rules it leaves to the application.
  #checkClaimTypes (payload: Record<string, unknown>, nowSeconds: number, leeway: number): void {
    const { sub } = payload
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_USERID_LENGTH) throw new TokenRejection('claim_invalid', 'sub')
    for (const claim of NUMERIC_DATES) {
      const value = payload[claim]
      if (value !== undefined && !(typeof value === 'number' && value >= 0 && value <= MAX_NUMERIC_DATE)) {
        throw new TokenRejection('claim_invalid', claim)
      }
    }
    if ((payload.iat as number) > nowSeconds + leeway) throw new TokenRejection('claim_invalid', 'iat')
    if (payload.auth_time !== undefined && (payload.auth_time as number) > nowSeconds + leeway) throw new TokenRejection('claim_invalid', 'auth_time')
    for (const claim of STRING_CLAIMS) {
      if (payload[claim] !== undefined && typeof payload[claim] !== 'string') throw new TokenRejection('claim_invalid', claim)
    }
    for (const claim of STRING_OR_LIST_CLAIMS) {
      const value = payload[claim]
      if (value !== undefined && typeof value !== 'string' && !(Array.isArray(value) && value.every((item) => typeof item === 'string'))) {
        throw new TokenRejection('claim_invalid', claim)
      }
    }
  }

  #lifetime (expiresIn: Duration | undefined): number | null {
    if (expiresIn === undefined) return this.#settings.expiresIn
    const seconds = toSeconds('expiresIn', expiresIn)
    if (seconds <= 0) throw new InvalidClaimsError('expiresIn must be more than 0 seconds')
    if (seconds > MAX_TOKEN_LIFETIME) throw new InvalidClaimsError(`expiresIn must not exceed ${MAX_TOKEN_LIFETIME} seconds (366 days)`)
    const { maxTokenAge } = this.#settings
    if (maxTokenAge !== undefined && seconds > maxTokenAge) {
      throw new InvalidClaimsError(`expiresIn must not exceed maxTokenAge (${maxTokenAge} s)`)
    }
    return seconds
  }
}

// An ID token of the same provider may share the API's audience (one app registration for the
// front end and the API): without a typ to tell them apart, the claims only ID tokens carry do.
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash']

function checkIssuerClaims (issuer: IssuerVerifier, payload: Record<string, unknown>): void {
  if (issuer.clientIds?.has(payload.client_id as string) === false) throw new TokenRejection('claim_invalid', 'client_id')
  if (issuer.verifyOptions.typ !== undefined) return
  for (const claim of ID_TOKEN_CLAIMS) {
    if (payload[claim] !== undefined) throw new TokenRejection('claim_invalid', claim)
  }
}

function toRejection (error: unknown): TokenRejection {
  if (error instanceof TokenRejection) return error
  const { code, claim } = error as { code?: unknown, claim?: string }
  // jose's own errors carry a code; anything else (a TypeError) comes from a key jose refuses
  // to use, such as a short RSA key in a remote set: the operator's problem, not the token's.
  if (typeof code !== 'string') return new TokenRejection('key_unusable', undefined, error)
  return new TokenRejection(JOSE_REASONS[code] ?? 'token_malformed', claim)
}

/** Strict compact-JWS syntax: three non-empty base64url segments in canonical form, nothing else. */
export function isCompactJws (token: string): boolean {
  if (!COMPACT_JWS.test(token)) return false
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  return isCanonical(token, 0, first) && isCanonical(token, first + 1, second) && isCanonical(token, second + 1, token.length)
}

// A base64url segment whose length leaves 2 or 4 spare bits must have them zero (RFC 4648 §3.5):
// otherwise several strings would decode to the same bytes.
function isCanonical (token: string, start: number, end: number): boolean {
  switch ((end - start) % 4) {
    case 1: return false
    case 2: return CANONICAL_LAST_OF_2.has(token.charCodeAt(end - 1))
    case 3: return CANONICAL_LAST_OF_3.has(token.charCodeAt(end - 1))
    default: return true
  }
}

function toAudience (audience: unknown): string | string[] {
  if (typeof audience === 'string' && audience.length > 0) return audience
  if (Array.isArray(audience) && audience.length > 0 && audience.every((item) => typeof item === 'string' && item.length > 0)) {
    return [...audience]
  }
  throw new InvalidClaimsError('audience must be a non-empty string or a non-empty array of them')
}
