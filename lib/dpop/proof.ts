import { createHash } from 'node:crypto'
import { importJWK, jwtVerify, type CryptoKey, type JWTHeaderParameters } from 'jose'
import { isCompactJws } from '../tokens/tokens.js'

/** Why a DPoP proof was refused (RFC 9449 §4.3): the `reason` of `request.authFailure`. */
export type DpopProofFailure =
  | 'dpop_proof_malformed'
  | 'dpop_proof_invalid'
  | 'dpop_proof_expired'
  | 'dpop_method_mismatch'
  | 'dpop_url_mismatch'
  | 'dpop_ath_mismatch'
  | 'dpop_key_mismatch'

/** A refused proof, with its reason and never a value of it. */
export class DpopProofRejection extends Error {
  readonly reason: DpopProofFailure

  constructor (reason: DpopProofFailure, cause?: unknown) {
    super(reason, cause === undefined ? undefined : { cause })
    this.name = 'DpopProofRejection'
    this.reason = reason
  }
}

/** The rules every proof is checked by, resolved at registration. */
export interface ProofRules {
  /** The asymmetric algorithms a proof may be signed with. */
  readonly algorithms: readonly string[]
  /** How old (seconds) a proof's `iat` may be. */
  readonly maxAge: number
  /** Clock skew allowed on `iat`, seconds. */
  readonly leeway: number
}

/** What the request says the proof must match. */
export interface ProofExpectation {
  readonly method: string
  /** The request's URL without query and fragment, normalised ({@link normalizeHtu}). */
  readonly url: string
  /** The access token the proof comes with, or null (a token request). */
  readonly accessToken: string | null
  /** The thumbprint the token's `cnf.jkt` names, or null (a token request): compared before the signature is checked. */
  readonly jkt: string | null
  /** The plugin's clock, ms. */
  readonly now: number
}

/** A proof that passed every check but the replay check, which needs a store. */
export interface VerifiedProof {
  /** The RFC 7638 thumbprint of the proof's key: the `cnf.jkt` a bound token must carry. */
  readonly jkt: string
  readonly jti: string
  readonly iat: number
  readonly nonce: string | undefined
}

const MAX_PROOF_LENGTH = 4096
const MAX_JTI_LENGTH = 256
// RFC 7638 §3.2: the members a thumbprint hashes, in lexicographic order, for each key type.
const THUMBPRINT_MEMBERS: Readonly<Record<string, readonly string[]>> = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'] }
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth']
// The base64url lengths of a 2048-bit and a 4096-bit modulus.
const RSA_MIN_N = 342
const RSA_MAX_N = 683
// Importing a proof's key costs more than checking its signature: a client's key, seen again on its
// next request, is imported once. Bounded, oldest out first: a flood of new keys evicts, never grows.
const MAX_KEYS = 1024
const importedKeys = new Map<string, Promise<CryptoKey>>()

interface ProofKey {
  readonly key: Promise<CryptoKey>
  readonly jkt: string
}

/**
 * Checks a DPoP proof (RFC 9449 §4.3): its syntax, `typ` `dpop+jwt`, an allowed asymmetric `alg`,
 * a public `jwk` (one with a private member is refused) that verifies its signature, `htm`, `htu`, a recent
 * `iat`, a `jti`, and with an access token its `ath`. Rejects with a {@link DpopProofRejection}.
 */
export async function verifyProof (proof: string, expected: ProofExpectation, rules: ProofRules): Promise<VerifiedProof> {
  if (proof.length > MAX_PROOF_LENGTH || !isCompactJws(proof)) throw new DpopProofRejection('dpop_proof_malformed')
  let jkt = ''
  let verified
  try {
    verified = await jwtVerify(proof, (header) => {
      const found = proofKey(header)
      // Another key than the token's costs no signature check: a forged proof is refused for nothing.
      if (expected.jkt !== null && found.jkt !== expected.jkt) throw new DpopProofRejection('dpop_key_mismatch')
      jkt = found.jkt
      return found.key
    }, {
      typ: 'dpop+jwt',
      algorithms: [...rules.algorithms],
      maxTokenAge: rules.maxAge,
      clockTolerance: rules.leeway,
      requiredClaims: ['iat', 'jti', 'htm', 'htu'],
      currentDate: new Date(expected.now)
    })
  } catch (error) {
    if (error instanceof DpopProofRejection) throw error
    const code = (error as { code?: unknown }).code
    throw new DpopProofRejection(code === 'ERR_JWT_EXPIRED' ? 'dpop_proof_expired' : 'dpop_proof_invalid', error)
  }
  const { jti, htm, htu, ath, nonce } = verified.payload as Record<string, unknown>
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) throw new DpopProofRejection('dpop_proof_invalid')
  if (nonce !== undefined && typeof nonce !== 'string') throw new DpopProofRejection('dpop_proof_invalid')
  if (htm !== expected.method) throw new DpopProofRejection('dpop_method_mismatch')
  const url = typeof htu === 'string' ? normalizeHtu(htu) : null
  if (url === null || url !== expected.url) throw new DpopProofRejection('dpop_url_mismatch')
  if (expected.accessToken !== null && ath !== accessTokenHash(expected.accessToken)) throw new DpopProofRejection('dpop_ath_mismatch')
  return { jkt, jti, iat: verified.payload.iat as number, nonce: nonce as string | undefined }
}

// The header's public key and its RFC 7638 thumbprint. Thrown errors become dpop_proof_invalid:
// jose has checked alg against the allow-list before asking for the key.
function proofKey (header: JWTHeaderParameters): ProofKey {
  const jwk = header.jwk as Record<string, unknown> | undefined
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new TypeError('the proof has no jwk header')
  const members = THUMBPRINT_MEMBERS[jwk.kty as string]
  if (members === undefined) throw new TypeError('the proof\'s jwk is not a public key of a known type')
  if (PRIVATE_MEMBERS.some((name) => name in jwk)) throw new TypeError('the proof\'s jwk holds a private key')
  const canonical: Record<string, string> = {}
  for (const name of members) {
    const value = jwk[name]
    if (typeof value !== 'string') throw new TypeError('the proof\'s jwk lacks a member of its key type')
    canonical[name] = value
  }
  // An RSA key of any size or exponent would let a proof cost what its sender likes to verify.
  if (jwk.kty === 'RSA' && (canonical.e !== 'AQAB' || (canonical.n as string).length < RSA_MIN_N || (canonical.n as string).length > RSA_MAX_N)) {
    throw new TypeError('the proof\'s RSA key must have the exponent 65537 and 2048 to 4096 bits')
  }
  const jkt = createHash('sha256').update(JSON.stringify(canonical)).digest('base64url')
  const cacheKey = `${header.alg}.${jkt}`
  let key = importedKeys.get(cacheKey)
  if (key === undefined) {
    // Only the members the thumbprint covers are imported: the key is the one the thumbprint names.
    key = importJWK(canonical, header.alg) as Promise<CryptoKey>
    if (importedKeys.size >= MAX_KEYS) importedKeys.delete(importedKeys.keys().next().value as string)
    importedKeys.set(cacheKey, key)
    key.catch(() => { importedKeys.delete(cacheKey) })
  }
  return { key, jkt }
}

/** The `ath` of an access token: the base64url SHA-256 of its ASCII (RFC 9449 §4.2). */
export function accessTokenHash (token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url')
}

// RFC 3986 §2.3: unreserved characters, which percent-encoding must not change the meaning of.
const UNRESERVED = /^[A-Za-z0-9\-._~]$/

/**
 * A URL as `htu` compares it (RFC 9449 §4.3, RFC 3986 §6.2.2 and §6.2.3): scheme and host in lower
 * case, no default port, dot-segments removed, percent-encodings in upper case and decoded where
 * they encode an unreserved character, no query, no fragment. Null for what is not an absolute
 * http(s) URL.
 */
export function normalizeHtu (value: string): string | null {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return null
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null
  const path = url.pathname.replace(/%[0-9A-Fa-f]{2}/g, (encoded) => {
    const character = String.fromCharCode(Number.parseInt(encoded.slice(1), 16))
    return UNRESERVED.test(character) ? character : encoded.toUpperCase()
  })
  return `${url.protocol}//${url.host}${path}`
}
