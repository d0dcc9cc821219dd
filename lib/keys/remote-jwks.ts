import { webcrypto } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { createLocalJWKSet, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from 'jose'
import { toSeconds, type Duration } from '../config/option-checks.js'
import { InvalidOptionError, JwksPrefetchError, KeysUnavailableError } from '../errors.js'
import { ALGORITHMS, isHmac, type Algorithm, type AsymmetricAlgorithm, type KeyResolver } from './keys.js'
import { checkKnownOptions } from '../config/option-checks.js'
import { OutageLog } from '../outage-log.js'
import { TokenRejection } from '../tokens/claims.js'
import { fetchText, isSafeUrl } from './fetch-text.js'

/**
 * A remote JSON Web Key Set that verifies tokens signed by another service (an identity provider).
 * @example
 * ```ts
 * import jwtSecurity, { type JwksOptions } from 'fastify-jwt-security'
 *
 * const jwks: JwksOptions = { url: 'https://auth.example.org/.well-known/jwks.json', issuer: 'https://auth.example.org' }
 * // Without audience, tokens the provider issues for other services would be accepted too.
 * await app.register(jwtSecurity, { jwks, audience: 'api' })
 * ```
 */
export interface JwksOptions {
  /** The JWKS URL, `https:` (or `http:` on loopback, for tests). The only URL ever fetched. */
  url: string | URL
  /** The issuer whose keys these are: verified tokens must carry exactly this `iss`. */
  issuer?: string
  /** The algorithms accepted. Default: every asymmetric algorithm (RS*, PS*, ES*, EdDSA, Ed25519). */
  algorithms?: AsymmetricAlgorithm[]
  /** How long a fetch may take before it counts as failed (more than 0). Default `'5s'`. */
  timeout?: Duration
  /**
   * The least time between two refetches caused by an unknown kid. Default `'30s'`. While fetches
   * fail, the backoff (`retryDelay`) spaces them instead.
   */
  cooldown?: Duration
  /** How long fetched keys are used before they are fetched again. Default `'10m'`. */
  cacheMaxAge?: Duration
  /**
   * How long past `cacheMaxAge` the last set fetched is still used while the key server cannot be
   * reached. Default `'1h'`; `0` turns it off (tokens are then refused with a 503 as soon as the
   * set is due and cannot be fetched).
   */
  staleIfError?: Duration
  /** The wait after a failed fetch before the next one (more than 0); it doubles after each failure, with jitter. Default `'1s'`. */
  retryDelay?: Duration
  /** The longest wait between two fetches while the key server fails, at least `retryDelay`. Default `'60s'`. */
  maxRetryDelay?: Duration
  /**
   * Fetch the set at registration: `true` waits for it, and `app.ready()` fails when it cannot be
   * had; `'background'` starts the fetch without waiting. Default `false`: the first token fetches it.
   */
  prefetch?: boolean | 'background'
}

/** The name of every option of `jwks`, for validation and for the docs test. */
export const JWKS_OPTION_NAMES: ReadonlySet<string> = new Set([
  'url', 'issuer', 'algorithms', 'timeout', 'cooldown', 'cacheMaxAge', 'staleIfError', 'retryDelay', 'maxRetryDelay', 'prefetch'
])

/** What the key ring needs of a remote JWK Set. */
export interface RemoteKeys {
  readonly resolve: KeyResolver
  readonly algorithms: readonly Algorithm[]
  readonly generation: () => number
  readonly maxAge: number
  /** Until when (ms) the keys fetched last may be used: their cacheMaxAge, and during an outage their staleIfError too. */
  readonly validUntil: () => number
  /** Settles when the set asked for at registration (`prefetch`) allows the app to start. */
  readonly prefetched: Promise<void>
}

/** Every algorithm of a public key. */
export const ASYMMETRIC_ALGORITHMS = Object.freeze([...ALGORITHMS].filter((algorithm) => !isHmac(algorithm as Algorithm)) as Algorithm[])
// jose's errors that mean "this token names no key of the set".
const NO_KEY_CODES: ReadonlySet<unknown> = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS'])
// A forged token costs one verification with the key its kid names: keys past these sizes make
// that a lever (catalogue F3), so they are not used, and a crowded set is reported.
const MAX_RSA_BITS = 4096
const MANY_KEYS = 32
// A JWK Set of 32 RSA keys is about 50 KiB: an answer past this is not a key set.
const MAX_SET_BYTES = 1024 * 1024
const SET_LIMITS = { accept: 'application/jwk-set+json, application/json', maxBytes: MAX_SET_BYTES }

type LocalSet = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<webcrypto.CryptoKey>

/** The key resolver of a remote JWK Set, with the outage rules: one fetch at a time, backoff, stale-if-error. */
export function remoteKeyResolver (options: unknown, log: FastifyBaseLogger): RemoteKeys {
  checkKnownOptions(options, JWKS_OPTION_NAMES, 'jwks.')
  const { url, algorithms = ASYMMETRIC_ALGORITHMS } = options as JwksOptions
  const { timing, prefetch } = resolveFetchRules('jwks.', options as FetchRules)
  const location = jwksUrl(url)
  const checked = checkAlgorithms('jwks.algorithms', algorithms)
  return new RemoteKeySet(async () => location, location.href, log, timing).start(prefetch, checked)
}

/** The options of a remote key source that say when it is fetched: those of `jwks` but its URL, issuer and algorithms. */
export type FetchRules = Pick<JwksOptions, 'timeout' | 'cooldown' | 'cacheMaxAge' | 'staleIfError' | 'retryDelay' | 'maxRetryDelay' | 'prefetch'>

/** The names of {@link FetchRules}. */
export const FETCH_RULE_NAMES: ReadonlyArray<keyof FetchRules> = Object.freeze(['timeout', 'cooldown', 'cacheMaxAge', 'staleIfError', 'retryDelay', 'maxRetryDelay', 'prefetch'])

/** Checks the fetch rules of a remote key source; `prefix` names the option in errors (`'jwks.'`). */
export function resolveFetchRules (prefix: string, rules: FetchRules): { timing: Timing, prefetch: boolean | 'background' } {
  const {
    timeout = '5s', cooldown = '30s', cacheMaxAge = '10m', staleIfError = '1h', retryDelay = '1s', maxRetryDelay = '60s', prefetch = false
  } = rules
  if (prefetch !== true && prefetch !== false && prefetch !== 'background') {
    throw new InvalidOptionError(`${prefix}prefetch`, "expected true, false or 'background'")
  }
  const timing: Timing = {
    timeout: positive(`${prefix}timeout`, timeout),
    cooldown: milliseconds(`${prefix}cooldown`, cooldown),
    maxAge: milliseconds(`${prefix}cacheMaxAge`, cacheMaxAge),
    staleIfError: milliseconds(`${prefix}staleIfError`, staleIfError),
    // 0 would bring back a fetch per request while the key server fails.
    retryDelay: positive(`${prefix}retryDelay`, retryDelay),
    maxRetryDelay: milliseconds(`${prefix}maxRetryDelay`, maxRetryDelay)
  }
  if (timing.maxRetryDelay < timing.retryDelay) throw new InvalidOptionError(`${prefix}maxRetryDelay`, `must be at least ${prefix}retryDelay`)
  return { timing, prefetch }
}

/** The fetch rules in milliseconds. */
export interface Timing {
  readonly timeout: number
  readonly cooldown: number
  readonly maxAge: number
  readonly staleIfError: number
  readonly retryDelay: number
  readonly maxRetryDelay: number
}

/**
 * A JWK Set fetched from a key server, with the outage rules. `locate` gives the set's URL: a
 * configured one, or one found by discovery, which then shares the rules (and the backoff) of the
 * set's own fetches.
 */
export class RemoteKeySet {
  readonly #locate: () => Promise<URL>
  readonly #name: string
  readonly #log: FastifyBaseLogger
  readonly #timing: Timing
  readonly #onFailure: (error: unknown) => void
  readonly #outage = new OutageLog()
  #local: LocalSet | null = null
  #body = ''
  #fetchedAt = 0
  #pending: Promise<boolean> | null = null
  #failures = 0
  #retryAt = 0
  #lastError: unknown = null
  // Every set fetched that differs from the last may have dropped a key: tokens cached under the
  // previous set are verified again.
  generation = 0

  constructor (locate: () => Promise<URL>, name: string, log: FastifyBaseLogger, timing: Timing, onFailure: (error: unknown) => void = () => {}) {
    this.#locate = locate
    this.#onFailure = onFailure
    this.#name = name
    this.#log = log
    this.#timing = timing
  }

  /** Starts the fetch `prefetch` asks for, and gives what the key ring needs. */
  start (prefetch: boolean | 'background', algorithms: readonly Algorithm[]): RemoteKeys {
    let prefetched = Promise.resolve()
    if (prefetch === true) {
      prefetched = this.prefetch()
      // Awaited after every option is checked: a later option's error must not leave it unhandled.
      prefetched.catch(() => {})
    } else if (prefetch === 'background') {
      // refresh() never rejects: a failure is logged by the set, and the first token fetches again.
      this.refresh()
    }
    return {
      resolve: (header, token) => this.resolve(header, token),
      algorithms,
      generation: () => this.generation,
      maxAge: this.maxAge,
      validUntil: () => this.#fetchedAt + this.#timing.maxAge + (this.#failures === 0 ? 0 : this.#timing.staleIfError),
      prefetched
    }
  }

  get maxAge (): number {
    return this.#timing.maxAge
  }

  async resolve (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<webcrypto.CryptoKey> {
    if (this.#local === null || Date.now() >= this.#fetchedAt + this.#timing.maxAge) {
      const refreshing = this.refresh()
      // During an outage the stale set answers at once, while a fetch (if the backoff allows one)
      // runs: a key server that hangs must not hold every request for its timeout.
      if (this.#failures === 0 || !this.#withinStale()) await refreshing
    }
    const generation = this.generation
    const local = this.#usable()
    let key: webcrypto.CryptoKey
    try {
      key = await local(header, token)
    } catch (error) {
      if (!NO_KEY_CODES.has((error as { code?: unknown }).code)) throw this.#unusableKey(error)
      key = await this.#afterUnknownKid(header, token, error)
    }
    const bits = (key.algorithm as { modulusLength?: number }).modulusLength
    if (bits !== undefined && bits > MAX_RSA_BITS) {
      throw this.#unusableKey(new RangeError(`the RSA key has ${bits} bits, more than ${MAX_RSA_BITS}`))
    }
    // A set fetched while the key was looked up may have dropped it: the verification is cached
    // under the new generation, so the key must come from the new set.
    return this.generation === generation ? key : await this.resolve(header, token)
  }

  // A kid the set does not have may be a key the provider added since: one refetch per cooldown
  // finds it. While the key server fails, the kid cannot be known to be bad: 503, not 401.
  async #afterUnknownKid (header: JWSHeaderParameters, token: FlattenedJWSInput, error: unknown): Promise<webcrypto.CryptoKey> {
    if (this.#failures === 0 && Date.now() - this.#fetchedAt < this.#timing.cooldown) throw new TokenRejection('key_unknown', undefined, error)
    if (!await this.refresh()) throw this.#unavailable()
    try {
      return await (this.#local as LocalSet)(header, token)
    } catch (again) {
      if (NO_KEY_CODES.has((again as { code?: unknown }).code)) throw new TokenRejection('key_unknown', undefined, again)
      throw this.#unusableKey(again)
    }
  }

  #withinStale (): boolean {
    return this.#local !== null && Date.now() < this.#fetchedAt + this.#timing.maxAge + this.#timing.staleIfError
  }

  // The last set fetched, while it is fresh or within staleIfError of its due time.
  #usable (): LocalSet {
    if (!this.#withinStale()) throw this.#unavailable()
    return this.#local as LocalSet
  }

  #unavailable (): TokenRejection {
    const error = new KeysUnavailableError()
    ;(error as { headers?: Record<string, string> }).headers = { 'retry-after': String(Math.max(1, Math.ceil((this.#retryAt - Date.now()) / 1000))) }
    return new TokenRejection('keys_unavailable', undefined, error)
  }

  #unusableKey (cause: unknown): TokenRejection {
    return new TokenRejection('key_unusable', undefined, cause)
  }

  /** Fetches the set unless a fetch is under way (then its outcome is shared) or a failure asks to wait. True when a set was fetched. */
  refresh (): Promise<boolean> {
    if (this.#pending !== null) return this.#pending
    if (Date.now() < this.#retryAt) return Promise.resolve(false)
    const pending = this.#fetch().then(() => {
      this.#pending = null
      this.#failures = 0
      this.#retryAt = 0
      this.#outage.recovered(this.#log, 'the JSON Web Key Set can be fetched again')
      return true
    }, (error: unknown) => {
      this.#pending = null
      this.#lastError = error
      this.#onFailure(error)
      this.#failures++
      const delay = Math.min(this.#timing.retryDelay * 2 ** (this.#failures - 1), this.#timing.maxRetryDelay)
      // Equal jitter: instances that failed together do not retry together.
      this.#retryAt = Date.now() + delay / 2 + Math.random() * delay / 2
      this.#outage.failed(this.#log, error, this.#local === null
        ? 'the JSON Web Key Set cannot be fetched, and none was fetched before: tokens are refused (503)'
        : 'the JSON Web Key Set cannot be fetched: the last one fetched is used until jwks.staleIfError runs out, then tokens are refused (503)')
      return false
    })
    this.#pending = pending
    return pending
  }

  async prefetch (): Promise<void> {
    if (!await this.refresh()) throw new JwksPrefetchError(this.#name, { cause: this.#lastError })
  }

  async #fetch (): Promise<void> {
    const body = await fetchText(await this.#locate(), { ...SET_LIMITS, timeout: this.#timing.timeout })
    const set = JSON.parse(body) as JSONWebKeySet
    // jose checks that this is a JWK Set, and imports each key the first time a token names it.
    const local = createLocalJWKSet(set) as LocalSet
    if (set.keys.length > MANY_KEYS) {
      this.#log.warn({ jwks: this.#name, keys: set.keys.length }, `the JSON Web Key Set holds more than ${MANY_KEYS} keys: is it the right URL?`)
    }
    if (body !== this.#body) {
      this.#body = body
      this.#local = local
      this.generation++
    }
    this.#fetchedAt = Date.now()
  }
}

function jwksUrl (value: unknown): URL {
  let url: URL
  try {
    url = new URL(value as string | URL)
  } catch {
    throw new InvalidOptionError('jwks.url', 'expected an absolute https: URL')
  }
  if (!isSafeUrl(url, true)) {
    throw new InvalidOptionError('jwks.url', 'expected an https: URL (http: only on loopback): keys fetched in the clear could be replaced')
  }
  return url
}

function positive (option: string, value: unknown): number {
  const duration = milliseconds(option, value)
  if (duration > 0) return duration
  throw new InvalidOptionError(option, 'must be more than 0 seconds')
}

function milliseconds (option: string, value: unknown): number {
  const seconds = toSeconds(option, value)
  return Math.round(seconds * 1000)
}

/** Checks a list of asymmetric algorithms, the only ones a JWK Set's public keys can verify. */
export function checkAlgorithms (option: string, value: unknown): readonly Algorithm[] {
  if (Array.isArray(value) && value.length > 0 && value.every((item) => ASYMMETRIC_ALGORITHMS.includes(item as Algorithm))) {
    return Object.freeze([...new Set(value as Algorithm[])])
  }
  throw new InvalidOptionError(option, `expected a non-empty array of ${ASYMMETRIC_ALGORITHMS.join(', ')} (a JWK Set holds public keys: no HMAC)`)
}
