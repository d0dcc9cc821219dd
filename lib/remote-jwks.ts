import { webcrypto } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { createRemoteJWKSet, customFetch, type FetchImplementation, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose'
import { toSeconds, type Duration } from './durations.js'
import { InvalidOptionError } from './errors.js'
import { ALGORITHMS, isHmac, type Algorithm, type AsymmetricAlgorithm } from './keys.js'
import { checkKnownOptions } from './known-options.js'
import type { KeyResolver } from './key-ring.js'
import { TokenRejection } from './token-rejection.js'

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
  /** How long a fetch may take before the request is refused. Default `'5s'`. */
  timeout?: Duration
  /** The least time between two refetches caused by an unknown kid. Default `'30s'`. */
  cooldown?: Duration
  /** How long fetched keys are used before they are fetched again. Default `'10m'`. */
  cacheMaxAge?: Duration
}

/** The name of every option of `jwks`, for validation and for the docs test. */
export const JWKS_OPTION_NAMES: ReadonlySet<string> = new Set(['url', 'issuer', 'algorithms', 'timeout', 'cooldown', 'cacheMaxAge'])

const ASYMMETRIC_ALGORITHMS = Object.freeze([...ALGORITHMS].filter((algorithm) => !isHmac(algorithm as Algorithm)) as Algorithm[])
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost'])
// jose's errors that mean "this token names no key of the set".
const NO_KEY_CODES: ReadonlySet<unknown> = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS'])
// jose's errors about the set as a whole: timeout, an answer other than 200, not JSON, not a JWK Set.
const SET_CODES: ReadonlySet<unknown> = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC', 'ERR_JWKS_INVALID'])
// A forged token costs one verification with the key its kid names: keys past these sizes make
// that a lever (catalogue F3), so they are not used, and a crowded set is reported.
const MAX_RSA_BITS = 4096
const MANY_KEYS = 32

class JwksUnreachable extends Error {}

/** The key resolver, allowed algorithms and fetch count of a remote JWKS (jose's createRemoteJWKSet). */
export function remoteKeyResolver (options: unknown, log: FastifyBaseLogger): { resolve: KeyResolver, algorithms: readonly Algorithm[], generation: () => number, maxAge: number } {
  checkKnownOptions(options, JWKS_OPTION_NAMES, 'jwks.')
  const { url, algorithms = ASYMMETRIC_ALGORITHMS, timeout = '5s', cooldown = '30s', cacheMaxAge = '10m' } = options as JwksOptions
  const href = jwksUrl(url)
  // Every set fetched may have dropped a key: tokens cached under the previous set are verified again.
  let generation = 0

  // jose does the fetching; this only tells a network failure apart from a bad key, and counts keys.
  const fetchSet: FetchImplementation = async (resource, init) => {
    let response: Response
    try {
      response = await fetch(resource, init)
    } catch (error) {
      throw new JwksUnreachable('the JWK Set could not be fetched', { cause: error })
    }
    if (response.status === 200) {
      generation++
      response.clone().json().then((set: unknown) => {
        const keys = (set as { keys?: unknown } | null)?.keys
        if (Array.isArray(keys) && keys.length > MANY_KEYS) {
          log.warn({ jwks: href.href, keys: keys.length }, `the JSON Web Key Set holds more than ${MANY_KEYS} keys: is it the right URL?`)
        }
      }, () => {})
    }
    return response
  }
  const maxAge = milliseconds('jwks.cacheMaxAge', cacheMaxAge)
  const remote = createRemoteJWKSet(href, {
    timeoutDuration: milliseconds('jwks.timeout', timeout),
    cooldownDuration: milliseconds('jwks.cooldown', cooldown),
    cacheMaxAge: maxAge,
    [customFetch]: fetchSet
  })

  async function resolve (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<webcrypto.CryptoKey> {
    let key: webcrypto.CryptoKey
    try {
      key = await remote(header, token) as webcrypto.CryptoKey
    } catch (error) {
      throw new TokenRejection(reasonOf(error), undefined, error)
    }
    const bits = (key.algorithm as { modulusLength?: number }).modulusLength
    if (bits !== undefined && bits > MAX_RSA_BITS) {
      throw new TokenRejection('key_unusable', undefined, new RangeError(`the RSA key has ${bits} bits, more than ${MAX_RSA_BITS}`))
    }
    return key
  }
  return { resolve, algorithms: checkAlgorithms(algorithms), generation: () => generation, maxAge }
}

function reasonOf (error: unknown): 'key_unknown' | 'keys_unavailable' | 'key_unusable' {
  const code = (error as { code?: unknown } | null)?.code
  if (NO_KEY_CODES.has(code)) return 'key_unknown'
  if (error instanceof JwksUnreachable || SET_CODES.has(code)) return 'keys_unavailable'
  // What is left comes from importing the one key the token names (a point off its curve…).
  return 'key_unusable'
}

function jwksUrl (value: unknown): URL {
  let url: URL
  try {
    url = new URL(value as string | URL)
  } catch {
    throw new InvalidOptionError('jwks.url', 'expected an absolute https: URL')
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new InvalidOptionError('jwks.url', 'expected an https: URL (http: only on loopback): keys fetched in the clear could be replaced')
  }
  return url
}

function milliseconds (option: string, value: unknown): number {
  const seconds = toSeconds(option, value)
  return Math.round(seconds * 1000)
}

function checkAlgorithms (value: unknown): readonly Algorithm[] {
  if (Array.isArray(value) && value.length > 0 && value.every((item) => ASYMMETRIC_ALGORITHMS.includes(item as Algorithm))) {
    return Object.freeze([...new Set(value as Algorithm[])])
  }
  throw new InvalidOptionError('jwks.algorithms', `expected a non-empty array of ${ASYMMETRIC_ALGORITHMS.join(', ')} (a JWK Set holds public keys: no HMAC)`)
}
