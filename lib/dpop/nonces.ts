import { createHmac, createSecretKey, type KeyObject } from 'node:crypto'
import { types } from 'node:util'
import { checkKnownOptions, toSeconds, type Duration } from '../config/option-checks.js'
import { InvalidOptionError, WeakSecretError } from '../errors.js'

/**
 * Options of DPoP nonces (RFC 9449 §8–§9): the server hands out a nonce in `DPoP-Nonce` and wants
 * it back in every proof, so a proof cannot be made ahead of time. Nonces are derived from the
 * secret and the clock, never stored: every instance with the same secret hands out and accepts the
 * same nonces, with no shared store.
 * @example
 * ```ts
 * import type { DpopNonceOptions } from 'fastify-jwt-security'
 *
 * // The same secret on every instance behind the load balancer; create one with
 * // node -e "console.log(require('node:crypto').randomBytes(32).toString('base64url'))"
 * const nonce: DpopNonceOptions = { secret: Buffer.from(process.env.DPOP_NONCE_SECRET ?? '', 'base64url'), rotation: '5m' }
 * ```
 */
export interface DpopNonceOptions {
  /** HMAC key, shared by every instance: a string of at least 32 bytes (UTF-8) or a Uint8Array of at least 32 bytes. */
  secret: string | Uint8Array
  /** How long a nonce is current, seconds or a duration string; the previous one stays accepted for as long again. Default '5m'; at least 10 s, at most 1 h. */
  rotation?: Duration
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['secret', 'rotation'])
const DEFAULT_ROTATION = '5m'
// Shorter, and clients that fetch a nonce then sign spend a good part of its life retrying; longer,
// and a proof made in advance stays usable for hours.
const MIN_ROTATION_SECONDS = 10
const MAX_ROTATION_SECONDS = 3600
// As for the plugin's HS256 secret: no fewer bytes than the SHA-256 output.
const MIN_SECRET_BYTES = 32
// As for the plugin's secret: 'aaaa…' or '1111…' is long enough and still guessable.
const MIN_DISTINCT_SECRET_BYTES = 10
// Only the first half of the MAC: a nonce has to be unpredictable, not a full-strength signature,
// and shorter headers cost every request.
const NONCE_BYTES = 16
// Keeps the MAC inputs apart from anything else the same key might sign (a secret reused from the
// JWT secret signs `header.payload` texts, which never start with this).
const NONCE_LABEL = 'fastify-jwt-security/dpop-nonce/v1:'

/**
 * The server-provided DPoP nonces of RFC 9449 §8–§9, stateless: a nonce is the base64url of the
 * first 16 bytes of HMAC-SHA256(secret, label + window), where window = floor(now / rotation).
 * Instances sharing the secret and a clock agree with no shared state. The current window's nonce
 * is handed out; it and the previous window's are accepted, so a nonce is good for one to two
 * rotations. Each window's nonce is computed once, when the window changes, not per request.
 *
 * A clock stepped back by at most one window (an NTP correction) keeps the newer window until it
 * catches up, so the nonce it handed out stays accepted. A clock stepped back further follows the
 * clock: nonces handed out before the step are refused, and the client retries once with the
 * nonce the refusal carries.
 * @example
 * ```ts
 * const nonces = new DpopNonces({ secret: process.env.DPOP_NONCE_SECRET }, Date.now, 'dpop.nonce')
 * reply.header('dpop-nonce', nonces.current())
 * if (!nonces.accepts(proof.nonce)) throw new UseDpopNonceError()
 * ```
 */
export class DpopNonces {
  // A KeyObject, not the bytes: it copies them away from the caller, and inspecting it shows the size only.
  readonly #key: KeyObject
  readonly #rotationMs: number
  readonly #now: () => number
  // NaN until first used, so that the first call computes both nonces.
  #window = Number.NaN
  #current = ''
  #previous = ''

  /** Validates at construction; `option` is the option path used in error messages, e.g. 'dpop.nonce'. `now` is the plugin's clock in ms. */
  constructor (options: unknown, now: () => number, option = 'dpop.nonce') {
    checkKnownOptions(options, OPTION_NAMES, `${option}.`)
    const { secret, rotation = DEFAULT_ROTATION } = options as Partial<DpopNonceOptions>
    this.#key = createSecretKey(secretBytes(secret, `${option}.secret`))
    this.#rotationMs = rotationSeconds(rotation, `${option}.rotation`) * 1000
    this.#now = now
  }

  /** The current nonce (what DPoP-Nonce headers carry). */
  current (): string {
    this.#refresh()
    return this.#current
  }

  /** True when `nonce` is the current or the previous window's nonce. */
  accepts (nonce: string): boolean {
    if (typeof nonce !== 'string') return false
    this.#refresh()
    // A plain comparison: the nonce is no secret, every client is sent it on asking.
    return nonce === this.#current || nonce === this.#previous
  }

  #refresh (): void {
    const window = Math.floor(this.#now() / this.#rotationMs)
    if (window === this.#window || window === this.#window - 1) return
    this.#previous = window === this.#window + 1 ? this.#current : this.#nonceOf(window - 1)
    this.#current = this.#nonceOf(window)
    this.#window = window
  }

  #nonceOf (window: number): string {
    return createHmac('sha256', this.#key).update(`${NONCE_LABEL}${window}`).digest().subarray(0, NONCE_BYTES).toString('base64url')
  }
}

function secretBytes (secret: unknown, option: string): Uint8Array {
  if (secret === undefined || secret === null) {
    throw new WeakSecretError(option, `is missing: DPoP nonces need a secret of at least ${MIN_SECRET_BYTES} random bytes, the same on every instance`)
  }
  let bytes: Uint8Array
  if (typeof secret === 'string') bytes = Buffer.from(secret, 'utf8')
  else if (types.isUint8Array(secret)) bytes = secret
  else throw new InvalidOptionError(option, 'expected a string or a Uint8Array')
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new WeakSecretError(option, `DPoP nonces need at least ${MIN_SECRET_BYTES} bytes, got ${bytes.length}`)
  }
  if (new Set(bytes).size < MIN_DISTINCT_SECRET_BYTES) {
    throw new WeakSecretError(option, 'too few distinct characters: use random bytes')
  }
  return bytes
}

function rotationSeconds (rotation: unknown, option: string): number {
  const seconds = toSeconds(option, rotation)
  if (seconds < MIN_ROTATION_SECONDS || seconds > MAX_ROTATION_SECONDS) {
    throw new InvalidOptionError(option, `expected at least ${MIN_ROTATION_SECONDS} seconds and at most 1 hour`)
  }
  return seconds
}
