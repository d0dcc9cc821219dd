import type { FastifyRequest } from 'fastify'
import type { ClaimEncoder } from '../tokens/claims.js'
import type { IdentityCallback } from '../policies/policy.js'
import { toSeconds, type Duration } from './option-checks.js'
import { InvalidOptionError } from '../errors.js'
import { JwtHeaderPolicy } from '../policies/header-policy.js'
import { checkAudience, checkKnownOptions, checkLeeway } from './option-checks.js'
import { ALGORITHMS, type Algorithm, type AsymmetricKey, type Secret } from '../keys/keys.js'
import { MAX_TOKEN_LIFETIME } from '../tokens/tokens.js'
import type { Permission } from '../types.js'
import type { KeySpec } from '../keys/key-ring.js'
import { resolveRevocationStore } from '../revocation/guard.js'
import type { RevocationStore } from '../revocation/store.js'
import { resolveCacheOptions, type TokenCacheOptions } from '../tokens/token-cache.js'
import type { JwksOptions } from '../keys/remote-jwks.js'
import type { TrustedIssuer } from '../keys/issuers.js'
import type { SecurityPolicy } from '../policies/policy.js'
import { resolveDpop, type DpopOptions, type ResolvedDpop } from '../dpop/options.js'
import { resolveRefresh, type RefreshOptions, type ResolvedRefresh } from '../refresh/options.js'
import { resolveProtectedResource, type ProtectedResourceOptions, type ResolvedProtectedResource } from '../protected-resource/options.js'

/**
 * Options of the plugin. docs/options.md has one heading per option.
 * @example
 * ```ts
 * import jwtSecurity, { type JwtSecurityOptions } from 'fastify-jwt-security'
 *
 * const options: JwtSecurityOptions = { secret: process.env.JWT_SECRET, expiresIn: '1h', audience: 'api' }
 * await app.register(jwtSecurity, options)
 * ```
 */
export interface JwtSecurityOptions {
  /** HMAC secret for the HS* algorithms: at least 32, 48 or 64 bytes for HS256, HS384, HS512. */
  secret?: Secret
  /** Private key for the RS*, PS*, ES* and EdDSA algorithms: signs tokens, and its public half verifies them. */
  privateKey?: AsymmetricKey
  /** Public key that verifies tokens; alone, the plugin verifies but cannot create tokens. */
  publicKey?: AsymmetricKey
  /** Passphrase of an encrypted PEM `privateKey`. */
  passphrase?: string
  /** A key set, for rotation: each key has a `kid`; the first one that can sign signs new tokens. */
  keys?: KeySpec[]
  /** A remote JSON Web Key Set (an identity provider's keys) to verify tokens with. */
  jwks?: JwksOptions
  /** Identity providers whose access tokens are accepted, each matched by its exact `iss`, with its own keys (or discovery), audience and claims mapping. */
  issuers?: TrustedIssuer[]
  /** The one algorithm tokens are signed and verified with. Default `'HS512'`, as pyramid_jwt. */
  algorithm?: Algorithm
  /** Lifetime of created tokens, seconds or a duration string. Default `'1h'`, or `maxTokenAge` when shorter. `false` creates and accepts tokens without `exp`. */
  expiresIn?: Duration | false
  /** Audience put in created tokens and required in verified ones (one match is enough). */
  audience?: string | string[]
  /** Issuer put in created tokens and required, exactly, in verified ones. */
  issuer?: string
  /** Clock skew allowed on exp, nbf and iat, seconds or a duration string (at most 300 s). Default 0. */
  leeway?: Duration
  /** Oldest `iat` accepted, seconds or a duration string. Default: no limit beyond `exp`. */
  maxTokenAge?: Duration
  /** `typ` header put in created tokens (default `'JWT'`); when set, verified tokens must carry it. */
  typ?: string
  /** Longest token accepted, in characters; longer ones are refused before any decoding. Default 8192. */
  maxTokenLength?: number
  /** Pyramid's groupfinder: extra principals for a verified userid, or null to refuse the identity. */
  callback?: IdentityCallback
  /** Claims whose string arrays become principals when there is no callback. Default `['roles', 'permissions']`. */
  principalClaims?: string[]
  /** Turns claim values JSON cannot carry into ones it can (pyramid_jwt's `json_encoder`). */
  encodeClaim?: ClaimEncoder
  /** The security policy. Default: a {@link JwtHeaderPolicy} with the default transport. */
  policy?: SecurityPolicy
  /** The realm of `WWW-Authenticate` challenges. Default `'api'`. */
  realm?: string
  /** The clock, in milliseconds since the epoch, for tests and replays. Default `Date.now`. */
  now?: () => number
  /** Where revoked tokens are kept: checked on every authenticated request. Default: none. */
  revocation?: RevocationStore
  /** The verified-token cache: `false` turns it off. Default on: 10,000 tokens, 8 MiB, 10 minutes. */
  cache?: TokenCacheOptions | boolean
  /** The context of permission checks whose route gives none, as Pyramid's root factory (may be async). */
  rootFactory?: (request: FastifyRequest) => unknown
  /** The permission every route needs when it declares none; `NO_PERMISSION_REQUIRED` opts a route out. */
  defaultPermission?: Permission
  /** Logs every permission decision (route, permission, principals, the result's msg), as `pyramid.debug_authorization`. */
  debugAuthorization?: boolean
  /** Serves OAuth 2.0 Protected Resource Metadata (RFC 9728) for `resource`, and names it in every 401 challenge. Default: none. */
  protectedResource?: ProtectedResourceOptions
  /** Accepts DPoP-bound tokens (RFC 9449) with `Authorization: DPoP` and a proof of the client's key: see docs/dpop.md. Default: none. */
  dpop?: DpopOptions
  /** Refresh tokens: short access tokens and rotating refresh tokens in sessions (needs `revocation`): see docs/refresh-tokens.md. Default: none. */
  refresh?: RefreshOptions
}

type Resolver = (value: unknown, options: JwtSecurityOptions) => unknown

/**
 * Every plugin option, in the order they are checked, with what checks it and gives its default.
 * The known names and {@link ResolvedOptions} come from this table, and the `satisfies` clause
 * keeps it in step with {@link JwtSecurityOptions}; docs/options.md has a heading `### \`name\``
 * (anchor `#name` in lower case) for each, which a test checks.
 */
const OPTIONS = {
  maxTokenAge: (value): number | undefined => value === undefined ? undefined : positiveSeconds('maxTokenAge', value),
  algorithm: (value): Algorithm => {
    if (value === undefined) return 'HS512'
    if (ALGORITHMS.has(value as string)) return value as Algorithm
    throw new InvalidOptionError('algorithm', `expected one of ${[...ALGORITHMS].join(', ')}`)
  },
  // Keys are checked when the key ring imports them, where the algorithm is known.
  secret: (value): Secret | undefined => value as Secret | undefined,
  privateKey: (value): AsymmetricKey | undefined => value as AsymmetricKey | undefined,
  publicKey: (value): AsymmetricKey | undefined => value as AsymmetricKey | undefined,
  passphrase: (value): string | undefined => optionalString('passphrase', value),
  keys: (value): KeySpec[] | undefined => value as KeySpec[] | undefined,
  jwks: (value): JwksOptions | undefined => value as JwksOptions | undefined,
  // Checked when the plugin builds them: their keys are imported, their key servers reached.
  issuers: (value): TrustedIssuer[] | undefined => value as TrustedIssuer[] | undefined,
  expiresIn: (value, options): number | null => resolveExpiresIn(value, options.maxTokenAge === undefined ? undefined : positiveSeconds('maxTokenAge', options.maxTokenAge)),
  audience: (value): string | readonly string[] | undefined => value === undefined ? undefined : checkAudience('audience', value),
  issuer: (value, options): string | undefined => resolveIssuer(value, options.jwks),
  leeway: (value): number => checkLeeway('leeway', value),
  typ: (value): string | undefined => optionalString('typ', value),
  maxTokenLength: (value): number => resolveMaxTokenLength(value),
  callback: (value): IdentityCallback | null => optionalFunction('callback', value as IdentityCallback | undefined),
  principalClaims: (value): readonly string[] => resolvePrincipalClaims(value),
  encodeClaim: (value): ClaimEncoder | null => optionalFunction('encodeClaim', value as ClaimEncoder | undefined),
  policy: (value): SecurityPolicy => resolvePolicy(value),
  realm: (value): string => resolveRealm(value),
  now: (value): (() => number) | null => optionalFunction('now', value as (() => number) | undefined),
  revocation: (value): RevocationStore | null => resolveRevocationStore(value),
  cache: (value): TokenCacheOptions | null => resolveCacheOptions(value),
  rootFactory: (value): ((request: FastifyRequest) => unknown) | null => optionalFunction('rootFactory', value as ((request: FastifyRequest) => unknown) | undefined),
  defaultPermission: (value): string | null => value === undefined ? null : optionalString('defaultPermission', value) as string,
  debugAuthorization: (value): boolean => optionalBoolean('debugAuthorization', value),
  protectedResource: (value): ResolvedProtectedResource | null => resolveProtectedResource(value),
  dpop: (value, options): ResolvedDpop | null => resolveDpop(value, options.protectedResource, options.now ?? Date.now),
  refresh: (value, options): ResolvedRefresh | null => resolveRefresh(value, options.maxTokenAge === undefined ? undefined : toSeconds('maxTokenAge', options.maxTokenAge))
} satisfies { readonly [Name in keyof Required<JwtSecurityOptions>]: Resolver }

/** The options after validation, with durations in seconds. */
export type ResolvedOptions = { readonly [Name in keyof typeof OPTIONS]: ReturnType<(typeof OPTIONS)[Name]> }

/** The name of every plugin option, for validation and for the docs test. */
export const OPTION_NAMES: ReadonlySet<string> = new Set(Object.keys(OPTIONS))
const DEFAULT_EXPIRES_IN = 3600
// RFC 6750 §3: quoted auth-param values may only use %x20-21 / %x23-5B / %x5D-7E.
const QUOTABLE = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/
const TOKEN_LENGTH_LIMITS = { min: 64, max: 65536 }

/** Validates the plugin options, throwing a coded error that names the first wrong one. */
export function resolveOptions (options: JwtSecurityOptions): ResolvedOptions {
  checkKnownOptions(options, OPTION_NAMES)
  const resolved: Record<string, unknown> = {}
  for (const [name, resolve] of Object.entries(OPTIONS) as Array<[keyof JwtSecurityOptions, Resolver]>) {
    resolved[name] = resolve(options[name], options)
  }
  return Object.freeze(resolved) as ResolvedOptions
}

function resolveExpiresIn (value: unknown, maxTokenAge: number | undefined): number | null {
  if (value === false) return null
  if (value === undefined) return Math.min(DEFAULT_EXPIRES_IN, maxTokenAge ?? DEFAULT_EXPIRES_IN)
  const seconds = positiveSeconds('expiresIn', value)
  if (seconds > MAX_TOKEN_LIFETIME) throw new InvalidOptionError('expiresIn', `at most ${MAX_TOKEN_LIFETIME} seconds (366 days); use false for tokens without exp`)
  if (maxTokenAge !== undefined && seconds > maxTokenAge) {
    throw new InvalidOptionError('expiresIn', `must not exceed maxTokenAge (${maxTokenAge} s): tokens would be refused before they expire`)
  }
  return seconds
}

function positiveSeconds (option: string, value: unknown): number {
  const seconds = toSeconds(option, value)
  if (seconds <= 0) throw new InvalidOptionError(option, 'must be more than 0 seconds')
  return seconds
}

function resolveMaxTokenLength (value: unknown): number {
  if (value === undefined) return 8192
  if (Number.isSafeInteger(value) && (value as number) >= TOKEN_LENGTH_LIMITS.min && (value as number) <= TOKEN_LENGTH_LIMITS.max) {
    return value as number
  }
  throw new InvalidOptionError('maxTokenLength', `expected an integer from ${TOKEN_LENGTH_LIMITS.min} to ${TOKEN_LENGTH_LIMITS.max}`)
}

function resolvePrincipalClaims (value: unknown): readonly string[] {
  if (value === undefined) return Object.freeze(['roles', 'permissions'])
  if (Array.isArray(value) && value.every((item) => typeof item === 'string' && item.length > 0)) return Object.freeze([...value])
  throw new InvalidOptionError('principalClaims', 'expected an array of claim names')
}

function resolvePolicy (value: unknown): SecurityPolicy {
  if (value === undefined) return new JwtHeaderPolicy()
  const policy = value as Partial<SecurityPolicy>
  for (const method of ['identity', 'permits', 'remember', 'forget'] as const) {
    if (typeof policy?.[method] !== 'function') {
      throw new InvalidOptionError('policy', `expected a SecurityPolicy: "${method}" is not a function`)
    }
  }
  if (policy.authenticatedUserid !== undefined && typeof policy.authenticatedUserid !== 'function') {
    throw new InvalidOptionError('policy', 'expected a SecurityPolicy: "authenticatedUserid" is not a function')
  }
  return value as SecurityPolicy
}

function resolveRealm (value: unknown): string {
  if (value === undefined) return 'api'
  if (typeof value === 'string' && QUOTABLE.test(value)) return value
  throw new InvalidOptionError('realm', 'expected a non-empty string of printable ASCII without " or \\')
}

function optionalString (option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'string' && value.length > 0) return value
  throw new InvalidOptionError(option, 'expected a non-empty string')
}

// A JWK Set's keys belong to its issuer: its tokens must name it (RFC 8725 §3.8).
function resolveIssuer (value: unknown, jwks: unknown): string | undefined {
  const issuer = optionalString('issuer', value)
  const jwksIssuer = typeof jwks === 'object' && jwks !== null ? (jwks as { issuer?: unknown }).issuer : undefined
  if (jwksIssuer === undefined) return issuer
  const checked = optionalString('jwks.issuer', jwksIssuer)
  if (issuer !== undefined && issuer !== checked) throw new InvalidOptionError('jwks.issuer', 'differs from the issuer option')
  return checked
}

function optionalBoolean (option: string, value: unknown): boolean {
  if (value === undefined) return false
  if (typeof value === 'boolean') return value
  throw new InvalidOptionError(option, 'expected true or false')
}

function optionalFunction<T> (option: string, value: T | undefined): T | null {
  if (value === undefined) return null
  if (typeof value === 'function') return value
  throw new InvalidOptionError(option, 'expected a function')
}
