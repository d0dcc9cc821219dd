import { InvalidClaimsError } from '../errors.js'

/**
 * The verified claims of a token, as the app sees them: a frozen, prototype-free copy.
 * @example
 * ```ts
 * import type { JwtClaims } from 'fastify-jwt-security'
 *
 * app.get('/session', async (request) => {
 *   const claims: JwtClaims | null = request.jwtClaims
 *   return { userid: claims?.sub ?? null, expiresAt: claims?.exp ?? null }
 * })
 * ```
 */
export interface JwtClaims {
  readonly sub: string
  readonly iat?: number
  readonly exp?: number
  readonly nbf?: number
  readonly jti?: string
  readonly iss?: string
  readonly aud?: string | readonly string[]
  readonly [claim: string]: unknown
}

/**
 * Turns a value that JSON cannot carry (a Date, a class instance, a BigInt…) into one it can:
 * pyramid_jwt's `json_encoder`. Return the value unchanged to refuse it.
 * @example
 * ```ts
 * import jwtSecurity, { type ClaimEncoder } from 'fastify-jwt-security'
 *
 * const encodeClaim: ClaimEncoder = (value) => value instanceof Date ? Math.floor(value.getTime() / 1000) : value
 * await app.register(jwtSecurity, { secret: process.env.JWT_SECRET, encodeClaim })
 * ```
 */
export type ClaimEncoder = (value: unknown) => unknown

/** Claims the plugin sets itself; extra claims may not override them. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set(['sub', 'iat', 'exp', 'nbf', 'aud', 'iss', 'jti', 'cnf'])

const MAX_DEPTH = 32

/**
 * A JSON-safe copy of the extra claims given to createJwtToken. Nothing is dropped silently:
 * a value JSON.stringify would lose or mangle is encoded by `encode` or refused with a TypeError.
 */
export function toTokenClaims (extraClaims: unknown, encode: ClaimEncoder | null): Record<string, unknown> {
  if (extraClaims === undefined) return {}
  if (!isPlainObject(extraClaims)) {
    throw new InvalidClaimsError('extra claims must be a plain object')
  }
  for (const name of Object.keys(extraClaims)) {
    if (RESERVED_CLAIMS.has(name)) {
      throw new InvalidClaimsError(`"${name}" is a reserved claim: it is set from createJwtToken's arguments and options`)
    }
  }
  return toJsonValue(extraClaims, '', encode, new Set(), 0) as Record<string, unknown>
}

function toJsonValue (value: unknown, path: string, encode: ClaimEncoder | null, ancestors: Set<object>, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new InvalidClaimsError(`claim "${path}" is nested more than ${MAX_DEPTH} levels deep`)
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (Number.isFinite(value)) return value
      break
    case 'object':
      if (value === null) return null
      if (Array.isArray(value) || isPlainObject(value)) return copyContainer(value, path, encode, ancestors, depth)
      break
  }
  if (encode !== null) {
    const encoded = encode(value)
    if (encoded !== value) return toJsonValue(encoded, path, encode, ancestors, depth + 1)
  }
  throw new InvalidClaimsError(`claim "${path}" holds ${describe(value)}, which JSON cannot carry: convert it, or pass an encodeClaim option`)
}

function copyContainer (value: object, path: string, encode: ClaimEncoder | null, ancestors: Set<object>, depth: number): unknown {
  if (ancestors.has(value)) throw new InvalidClaimsError(`claim "${path}" contains a cycle`)
  ancestors.add(value)
  let copy: unknown
  if (Array.isArray(value)) {
    copy = value.map((item, index) => toJsonValue(item, `${path}[${index}]`, encode, ancestors, depth + 1))
  } else {
    const object: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      if (key === '__proto__') throw new InvalidClaimsError(`claim "${path}" has a "__proto__" key`)
      object[key] = toJsonValue(item, path === '' ? key : `${path}.${key}`, encode, ancestors, depth + 1)
    }
    copy = object
  }
  ancestors.delete(value)
  return copy
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

function describe (value: unknown): string {
  if (typeof value === 'number') return String(value)
  if (typeof value === 'object') return `an instance of ${(value as object).constructor?.name ?? 'an unknown class'}`
  return `a value of type ${typeof value}`
}

/**
 * A deep, frozen copy of verified claims in null-prototype objects, or null when some object in
 * them has a `__proto__` key: such a key would set a prototype the moment app code copied the
 * claims with Object.assign, so no token carrying one is accepted.
 */
export function freezeClaims (payload: Record<string, unknown>): JwtClaims | null {
  try {
    return freezeValue(payload) as JwtClaims
  } catch {
    return null
  }
}

function freezeValue (value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return Object.freeze(value.map(freezeValue))
  // Not Object.create(null), for speed: a plain object whose prototype is dropped while still empty
  // keeps a shape that copies with the same claim names share.
  const copy = Object.setPrototypeOf({}, null) as Record<string, unknown>
  for (const key of Object.keys(value)) {
    if (key === '__proto__') throw new TypeError('__proto__ key')
    copy[key] = freezeValue((value as Record<string, unknown>)[key])
  }
  return Object.freeze(copy)
}

/** The longest `sub` the plugin creates or accepts. */
export const MAX_USERID_LENGTH = 1024

/**
 * The `sub` a userid becomes: a non-empty string as it is, a safe integer as its decimal digits.
 * Creating a token, logging in and revoking a user's tokens all take userids through here, so
 * `42` and `'42'` name the same user everywhere.
 */
export function toUserid (userid: unknown): string {
  if (typeof userid === 'number' && Number.isSafeInteger(userid)) return String(userid)
  if (typeof userid === 'string' && userid.length > 0 && userid.length <= MAX_USERID_LENGTH) return userid
  throw new InvalidClaimsError(`userid must be a non-empty string of at most ${MAX_USERID_LENGTH} characters, or a safe integer`)
}

/** Why a presented token was refused. Logged at debug and exposed as `request.authFailure.reason`. */
export type TokenRejectionReason =
  | 'token_too_long'
  | 'token_malformed'
  | 'algorithm_not_allowed'
  | 'signature_invalid'
  | 'token_expired'
  | 'claim_invalid'
  | 'token_unsupported'
  | 'key_unknown'
  | 'issuer_unknown'
  | 'keys_unavailable'
  | 'key_unusable'

/** A refused token. Carries a reason code and the name of the failing claim, never the token or its values. */
export class TokenRejection extends Error {
  readonly reason: TokenRejectionReason
  readonly claim: string | undefined

  constructor (reason: TokenRejectionReason, claim?: string, cause?: unknown) {
    super(reason, cause === undefined ? undefined : { cause })
    this.name = 'TokenRejection'
    this.reason = reason
    this.claim = claim
  }
}
