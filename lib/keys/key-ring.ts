import { webcrypto } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { calculateJwkThumbprint, type JSONWebKeySet, type JWK, type JWSHeaderParameters } from 'jose'
import { InvalidOptionError } from '../errors.js'
import { ALGORITHMS, importKeys, type Algorithm, type AsymmetricKey, type KeyResolver, type Secret } from './keys.js'
import { checkKnownOptions } from '../config/option-checks.js'
import { remoteKeyResolver, type JwksOptions } from './remote-jwks.js'
import { TokenRejection } from '../tokens/claims.js'

type CryptoKey = webcrypto.CryptoKey

/**
 * One key of a key set: its id, its one algorithm, and a secret or a key pair (or half of one).
 * @example
 * ```ts
 * import jwtSecurity, { type KeySpec } from 'fastify-jwt-security'
 *
 * const keys: KeySpec[] = [
 *   { kid: '2026-11', algorithm: 'EdDSA', privateKey: pem2611 }, // the first key that can sign signs
 *   { kid: '2026-08', algorithm: 'EdDSA', publicKey: pem2608 } // verifies tokens signed before the rotation
 * ]
 * await app.register(jwtSecurity, { keys })
 * ```
 */
export interface KeySpec {
  /** The key id put in the `kid` header of tokens it signs, and looked up when verifying. */
  kid: string
  /** The one algorithm this key signs and verifies with. Default: the plugin's `algorithm`. */
  algorithm?: Algorithm
  /** HMAC secret, for HS256, HS384 and HS512. */
  secret?: Secret
  /** Private key: this key can sign, and its public half verifies. */
  privateKey?: AsymmetricKey
  /** Public key: this key verifies tokens signed elsewhere or earlier. */
  publicKey?: AsymmetricKey
  /** Passphrase of an encrypted PEM `privateKey`. */
  passphrase?: string
}

/** A key the plugin signs or verifies with. */
export interface KeyEntry {
  readonly kid: string | null
  readonly algorithm: Algorithm
  readonly key: CryptoKey
}

/** Every key of one registration, imported at register time. */
export interface KeyRing {
  /** The algorithms a token may use: those of the keys, nothing else. */
  readonly algorithms: readonly Algorithm[]
  /** The key new tokens are signed with, or null when the app only verifies. */
  readonly signer: KeyEntry | null
  /** Picks the one key a token may be verified with, or rejects it. */
  readonly resolve: KeyResolver
  /** Changes whenever the keys may have changed (a remote set was fetched again): cached verifications end. */
  readonly generation: number
  /**
   * How long verifications may be trusted before the keys are looked at again (ms); null for local
   * keys, which never change: `resolve` then answers from the header's `kid` and `alg` alone, and
   * always the same way for the same header (the token service relies on it).
   */
  readonly maxAge: number | null
  /** Until when (ms) the keys may verify without being looked at again: Infinity for local keys. */
  validUntil (): number
  /** The public keys as a JWK Set: no secret, no private member. */
  jwks (): JSONWebKeySet
}

/** What a key ring is built from: the plugin's key options. */
export interface KeyRingInput {
  readonly algorithm: Algorithm
  readonly secret: Secret | undefined
  readonly privateKey: AsymmetricKey | undefined
  readonly publicKey: AsymmetricKey | undefined
  readonly passphrase: string | undefined
  readonly keys: readonly KeySpec[] | undefined
  readonly jwks: JwksOptions | undefined
}

const KEY_SPEC_NAMES: ReadonlySet<string> = new Set(['kid', 'algorithm', 'secret', 'privateKey', 'publicKey', 'passphrase'])
// Every forged token costs one signature check against the key its kid names; a long list of
// keys is a configuration mistake rather than a rotation.
const MAX_KEYS = 32
const MAX_KID_LENGTH = 256

const KEY_UNKNOWN = 'key_unknown'

// Local keys never change: what they verified stays verified.
const forever = (): number => Infinity

/** A ring without keys, for an app that only accepts the tokens of trusted issuers. */
export const EMPTY_KEY_RING: KeyRing = Object.freeze({
  algorithms: Object.freeze([]),
  signer: null,
  resolve: () => { throw new TokenRejection(KEY_UNKNOWN, 'kid') },
  generation: 0,
  maxAge: null,
  validUntil: forever,
  jwks: () => ({ keys: [] })
})

/**
 * Imports the keys the options describe: a single key, a key set, or a remote JWK Set. With
 * `optional` (the app has trusted issuers), no key option gives {@link EMPTY_KEY_RING}.
 */
export async function buildKeyRing (input: KeyRingInput, log: FastifyBaseLogger, optional = false): Promise<KeyRing> {
  const hasSingleKey = input.secret !== undefined || input.privateKey !== undefined || input.publicKey !== undefined
  if (optional && !hasSingleKey && input.keys === undefined && input.jwks === undefined) return EMPTY_KEY_RING
  if (input.jwks !== undefined) {
    if (hasSingleKey || input.keys !== undefined) {
      throw new InvalidOptionError('jwks', 'verifies with the remote keys only: leave out secret, privateKey, publicKey and keys')
    }
    const remote = remoteKeyResolver(input.jwks, log)
    await remote.prefetched
    return Object.freeze({
      algorithms: remote.algorithms,
      signer: null,
      resolve: remote.resolve,
      get generation () { return remote.generation() },
      maxAge: remote.maxAge,
      validUntil: remote.validUntil,
      jwks: () => ({ keys: [] })
    })
  }
  if (input.keys !== undefined) {
    if (hasSingleKey) throw new InvalidOptionError('keys', 'replaces secret, privateKey and publicKey: leave those out')
    return await localKeySet(input.keys, input.algorithm, 'keys')
  }
  const imported = await importKeys(input)
  // An asymmetric key gets its RFC 7638 thumbprint as kid, so app.jwks() and tokens agree; a
  // lone HMAC secret has no kid (a hash of it would only help guessing it).
  const kid = imported.publicJwk === null ? null : await calculateJwkThumbprint(imported.publicJwk)
  return ring([{ kid, ...imported }])
}

/** A ring of the keys `specs` gives, each with its kid; `option` names them in errors (`'keys'`). */
export async function localKeySet (specs: unknown, defaultAlgorithm: Algorithm | undefined, option: string): Promise<KeyRing> {
  if (!Array.isArray(specs) || specs.length === 0 || specs.length > MAX_KEYS) {
    throw new InvalidOptionError(option, `expected an array of 1 to ${MAX_KEYS} keys`)
  }
  const seen = new Set<string>()
  const entries = []
  for (const [index, spec] of specs.entries()) {
    const prefix = `${option}[${index}].`
    checkKnownOptions(spec, KEY_SPEC_NAMES, prefix)
    const { kid, algorithm = defaultAlgorithm, secret, privateKey, publicKey, passphrase } = spec as KeySpec
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
      throw new InvalidOptionError(`${prefix}kid`, `expected a non-empty string of at most ${MAX_KID_LENGTH} characters`)
    }
    if (seen.has(kid)) throw new InvalidOptionError(`${prefix}kid`, `"${kid}" is the kid of an earlier key`)
    seen.add(kid)
    const imported = await importKeys({ algorithm: checkAlgorithm(`${prefix}algorithm`, algorithm), secret, privateKey, publicKey, passphrase }, prefix)
    entries.push({ kid, ...imported })
  }
  return ring(entries)
}

interface RingEntry {
  readonly kid: string | null
  readonly algorithm: Algorithm
  readonly signingKey: CryptoKey | null
  readonly verificationKey: CryptoKey
  readonly publicJwk: Readonly<JWK> | null
}

function ring (entries: RingEntry[]): KeyRing {
  const byKid = new Map<string, KeyEntry>()
  let signer: KeyEntry | null = null
  for (const entry of entries) {
    if (entry.kid !== null) byKid.set(entry.kid, Object.freeze({ kid: entry.kid, algorithm: entry.algorithm, key: entry.verificationKey }))
    // The first key that can sign is the signing key: rotating is reordering the list.
    if (signer === null && entry.signingKey !== null) signer = Object.freeze({ kid: entry.kid, algorithm: entry.algorithm, key: entry.signingKey })
  }
  const [only] = entries
  const lone = entries.length === 1 && only !== undefined
    ? Object.freeze({ kid: only.kid, algorithm: only.algorithm, key: only.verificationKey })
    : null
  const publicKeys = entries.filter((entry) => entry.publicJwk !== null)
    .map((entry) => Object.freeze({ ...entry.publicJwk, kid: entry.kid as string, alg: entry.algorithm, use: 'sig' }))

  // RFC 8725 §3.1: a key is used with exactly one algorithm; a kid picks one key, and nothing else
  // is tried. A token without kid is accepted only by a ring of one key (tokens of pyramid_jwt and
  // other signers that name no key).
  function resolve (header: JWSHeaderParameters): CryptoKey {
    const { kid } = header
    const entry = kid === undefined ? lone : typeof kid === 'string' ? byKid.get(kid) ?? null : null
    if (entry === null) throw new TokenRejection(KEY_UNKNOWN, 'kid')
    if (header.alg !== entry.algorithm) throw new TokenRejection('algorithm_not_allowed')
    return entry.key
  }

  return Object.freeze({
    algorithms: Object.freeze([...new Set(entries.map((entry) => entry.algorithm))]),
    signer,
    resolve,
    generation: 0,
    maxAge: null,
    validUntil: forever,
    jwks: () => ({ keys: publicKeys.map((jwk) => ({ ...jwk })) })
  })
}

function checkAlgorithm (option: string, algorithm: unknown): Algorithm {
  if (typeof algorithm === 'string' && ALGORITHMS.has(algorithm)) return algorithm as Algorithm
  throw new InvalidOptionError(option, `expected one of ${[...ALGORITHMS].join(', ')}`)
}
