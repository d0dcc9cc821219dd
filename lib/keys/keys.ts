import { createPrivateKey, createPublicKey, KeyObject, webcrypto, type JsonWebKey } from 'node:crypto'
import { types } from 'node:util'
import { CompactSign, compactVerify, importJWK, type FlattenedJWSInput, type JWK, type JWSHeaderParameters } from 'jose'
import { InvalidKeyError, InvalidOptionError, WeakSecretError } from '../errors.js'

type CryptoKey = webcrypto.CryptoKey

/**
 * The JWS algorithms the plugin signs and verifies with.
 * @example
 * ```ts
 * import jwtSecurity, { type Algorithm } from 'fastify-jwt-security'
 *
 * const algorithm: Algorithm = 'EdDSA'
 * await app.register(jwtSecurity, { algorithm, privateKey: process.env.JWT_PRIVATE_KEY })
 * ```
 */
export type Algorithm =
  | 'HS256' | 'HS384' | 'HS512'
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA' | 'Ed25519'

/**
 * The algorithms of key pairs: every {@link Algorithm} but HMAC.
 * @example
 * ```ts
 * import jwtSecurity, { type AsymmetricAlgorithm } from 'fastify-jwt-security'
 *
 * const algorithms: AsymmetricAlgorithm[] = ['RS256', 'ES256'] // 'HS256' would not compile
 * await app.register(jwtSecurity, {
 *   jwks: { url: 'https://auth.example.org/.well-known/jwks.json', issuer: 'https://auth.example.org', algorithms }
 * })
 * ```
 */
export type AsymmetricAlgorithm = Exclude<Algorithm, 'HS256' | 'HS384' | 'HS512'>

/**
 * An HMAC secret: at least as many bytes as the hash output (32, 48 or 64).
 * @example
 * ```ts
 * import jwtSecurity, { type Secret } from 'fastify-jwt-security'
 *
 * // 64 random bytes, stored base64url-encoded: crypto.randomBytes(64).toString('base64url')
 * const secret: Secret = Buffer.from(process.env.JWT_SECRET ?? '', 'base64url')
 * await app.register(jwtSecurity, { algorithm: 'HS512', secret })
 * ```
 */
export type Secret = string | Uint8Array | KeyObject

/**
 * A private or public key: PEM text, a JWK, a KeyObject or a CryptoKey.
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs'
 * import jwtSecurity, { type AsymmetricKey } from 'fastify-jwt-security'
 *
 * const privateKey: AsymmetricKey = readFileSync('keys/ed25519.pem', 'utf8')
 * await app.register(jwtSecurity, { algorithm: 'EdDSA', privateKey })
 * ```
 */
export type AsymmetricKey = string | Uint8Array | JWK | KeyObject | CryptoKey

/** The material of one key, imported once at register time. */
export interface KeyInput {
  algorithm: Algorithm
  secret?: Secret | undefined
  privateKey?: AsymmetricKey | undefined
  publicKey?: AsymmetricKey | undefined
  passphrase?: string | undefined
}

/** One key, imported: CryptoKeys for jose, and the public JWK of an asymmetric key. */
export interface ImportedKeys {
  readonly algorithm: Algorithm
  readonly signingKey: CryptoKey | null
  readonly verificationKey: CryptoKey
  /** The public key as a JWK (no private members), or null for an HMAC secret. */
  readonly publicJwk: Readonly<JWK> | null
}

const HMAC_HASH: Readonly<Record<string, { hash: string, bytes: number }>> = {
  HS256: { hash: 'SHA-256', bytes: 32 },
  HS384: { hash: 'SHA-384', bytes: 48 },
  HS512: { hash: 'SHA-512', bytes: 64 }
}

// The OpenSSL names of the curves, as KeyObject.asymmetricKeyDetails reports them.
const KEY_TYPES: Readonly<Record<string, { type: string, curve?: string }>> = {
  RS256: { type: 'rsa' },
  RS384: { type: 'rsa' },
  RS512: { type: 'rsa' },
  PS256: { type: 'rsa' },
  PS384: { type: 'rsa' },
  PS512: { type: 'rsa' },
  ES256: { type: 'ec', curve: 'prime256v1' },
  ES384: { type: 'ec', curve: 'secp384r1' },
  ES512: { type: 'ec', curve: 'secp521r1' },
  EdDSA: { type: 'ed25519' },
  Ed25519: { type: 'ed25519' }
}

/** Every supported algorithm, for option validation. */
export const ALGORITHMS: ReadonlySet<string> = new Set([...Object.keys(HMAC_HASH), ...Object.keys(KEY_TYPES)])

const MIN_RSA_BITS = 2048
// Every forged signature costs the server one verification: very large keys make that a lever.
const MAX_RSA_BITS = 4096
const MIN_DISTINCT_SECRET_BYTES = 10

/** True for the HMAC algorithms. */
export function isHmac (algorithm: Algorithm): boolean {
  return algorithm in HMAC_HASH
}

/**
 * Imports one key as CryptoKeys, refusing anything weak or mismatched. `prefix` goes before the
 * option names in errors (`keys[1].secret`).
 */
export async function importKeys (input: KeyInput, prefix = ''): Promise<ImportedKeys> {
  const { algorithm } = input
  if (isHmac(algorithm)) {
    if (input.privateKey !== undefined || input.publicKey !== undefined) {
      throw new InvalidOptionError(`${prefix}privateKey`, `${algorithm} takes a secret, not a private or public key`)
    }
    const key = await importSecret(algorithm, input.secret, `${prefix}secret`)
    return Object.freeze({ algorithm, signingKey: key, verificationKey: key, publicJwk: null })
  }
  if (input.secret !== undefined) {
    throw new InvalidOptionError(`${prefix}secret`, `${algorithm} takes privateKey and/or publicKey, not a secret`)
  }
  if (input.privateKey === undefined && input.publicKey === undefined) {
    throw new InvalidOptionError(`${prefix}privateKey`, `${algorithm} needs privateKey (to sign and verify) or publicKey (to verify)`)
  }
  const privateKey = input.privateKey === undefined
    ? null
    : readAsymmetricKey(`${prefix}privateKey`, input.privateKey, 'private', algorithm, input.passphrase)
  const publicKey = input.publicKey === undefined
    ? createPublicKey(privateKey as KeyObject)
    : readAsymmetricKey(`${prefix}publicKey`, input.publicKey, 'public', algorithm, undefined)
  const publicJwk = Object.freeze(publicKey.export({ format: 'jwk' }) as JWK)
  const keys = Object.freeze({
    algorithm,
    signingKey: privateKey === null ? null : await toCryptoKey(privateKey.export({ format: 'jwk' }) as JWK, algorithm),
    verificationKey: await toCryptoKey(publicJwk, algorithm),
    publicJwk
  })
  if (input.privateKey !== undefined && input.publicKey !== undefined) await checkPair(keys, prefix)
  return keys
}

// A pair that does not match would make every token the app creates fail verification.
async function checkPair (keys: ImportedKeys, prefix: string): Promise<void> {
  const probe = await new CompactSign(new Uint8Array(1)).setProtectedHeader({ alg: keys.algorithm }).sign(keys.signingKey as CryptoKey)
  try {
    await compactVerify(probe, keys.verificationKey, { algorithms: [keys.algorithm] })
  } catch {
    throw new InvalidKeyError(`${prefix}publicKey`, `is not the public half of ${prefix}privateKey`)
  }
}

async function importSecret (algorithm: Algorithm, secret: Secret | undefined, option: string): Promise<CryptoKey> {
  const { hash, bytes: minimum } = HMAC_HASH[algorithm] as { hash: string, bytes: number }
  if (secret === undefined || secret === null) {
    throw new InvalidOptionError(option, `is missing: ${algorithm} needs a secret of at least ${minimum} random bytes. Set it, for example to process.env.JWT_SECRET, and create one with: node -e "console.log(require('node:crypto').randomBytes(${minimum}).toString('base64url'))"`)
  }
  const bytes = secretBytes(secret, option)
  if (looksLikeKey(bytes)) {
    throw new InvalidKeyError(option, 'this looks like a key, not an HMAC secret; use privateKey/publicKey with an asymmetric algorithm')
  }
  if (bytes.length < minimum) {
    throw new WeakSecretError(option, `${algorithm} needs at least ${minimum} bytes, got ${bytes.length}`)
  }
  if (new Set(bytes).size < MIN_DISTINCT_SECRET_BYTES) {
    throw new WeakSecretError(option, 'too few distinct characters: use random bytes')
  }
  return await webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash }, false, ['sign', 'verify'])
}

// A public key used as an HMAC secret is the classic algorithm-confusion mistake: refuse PEM, SSH
// and JWK/JWKS text. Random bytes may start with "{", so a JSON object must really be a key.
function looksLikeKey (bytes: Uint8Array): boolean {
  const text = Buffer.from(bytes).toString('utf8').replace(/^[\s\uFEFF\u200B]+/, '')
  if (/^(-----BEGIN |ssh-|ecdsa-sha2-)/.test(text)) return true
  if (!text.startsWith('{')) return false
  try {
    const json: unknown = JSON.parse(text)
    return typeof json === 'object' && json !== null && ('kty' in json || 'keys' in json)
  } catch {
    return false
  }
}

function secretBytes (secret: Secret, option: string): Uint8Array {
  if (typeof secret === 'string') return Buffer.from(secret, 'utf8')
  if (secret instanceof Uint8Array) return Uint8Array.from(secret)
  if (secret instanceof KeyObject && secret.type === 'secret') return secret.export()
  throw new InvalidOptionError(option, 'expected a string, a Uint8Array or a secret KeyObject')
}

function readAsymmetricKey (
  option: string, value: AsymmetricKey, kind: 'private' | 'public', algorithm: Algorithm, passphrase: string | undefined
): KeyObject {
  const keyObject = parseKey(option, value, kind, passphrase)
  const expected = KEY_TYPES[algorithm] as { type: string, curve?: string }
  // Every asymmetric KeyObject has a type and details.
  const type = keyObject.asymmetricKeyType as string
  const details = keyObject.asymmetricKeyDetails as { namedCurve?: string, modulusLength?: number }
  if (type !== expected.type || (expected.curve !== undefined && details.namedCurve !== expected.curve)) {
    throw new InvalidKeyError(option, `this ${type} key does not fit ${algorithm}`)
  }
  if (type === 'rsa') {
    const bits = details.modulusLength as number
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
      throw new InvalidKeyError(option, `RSA keys must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits, got ${bits}`)
    }
  }
  return keyObject
}

function parseKey (option: string, value: AsymmetricKey, kind: 'private' | 'public', passphrase: string | undefined): KeyObject {
  let keyObject: KeyObject
  try {
    if (value instanceof KeyObject) {
      keyObject = value
    } else if (types.isCryptoKey(value)) {
      keyObject = KeyObject.from(value as CryptoKey)
    } else if (typeof value === 'string' || value instanceof Uint8Array) {
      keyObject = kind === 'private'
        ? createPrivateKey({ key: Buffer.from(value), format: 'pem', ...(passphrase === undefined ? {} : { passphrase }) })
        : createPublicKey({ key: Buffer.from(value), format: 'pem' })
    } else {
      keyObject = kind === 'private'
        ? createPrivateKey({ key: value as JsonWebKey, format: 'jwk' })
        : createPublicKey({ key: value as JsonWebKey, format: 'jwk' })
    }
  } catch {
    throw new InvalidKeyError(option, `cannot be read as a ${kind} key (PEM text, JWK, KeyObject or CryptoKey)`)
  }
  if (keyObject.type === 'secret' || (kind === 'private' && keyObject.type !== 'private')) {
    throw new InvalidKeyError(option, `expected a ${kind} key, got a ${keyObject.type} key`)
  }
  return kind === 'public' && keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject
}

async function toCryptoKey (jwk: JWK, algorithm: Algorithm): Promise<CryptoKey> {
  return await importJWK(jwk, algorithm) as CryptoKey
}

/** Finds the key for a token from its protected header (jose's key-resolver shape). */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => CryptoKey | Promise<CryptoKey>
