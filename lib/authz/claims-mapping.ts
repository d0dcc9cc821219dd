import { InvalidOptionError } from '../errors.js'
import type { JwtClaims } from '../tokens/claims.js'

/**
 * A claim of a token: a top-level name (`'roles'`, `'cognito:groups'`, a namespaced
 * `'https://example.com/roles'`), or the names leading to a nested claim
 * (`['realm_access', 'roles']`). Names are never split on dots, which namespaced claims contain.
 * @example
 * ```ts
 * import type { ClaimPath } from 'fastify-jwt-security'
 *
 * const keycloakClientRoles: ClaimPath = ['resource_access', 'orders-api', 'roles']
 * ```
 */
export type ClaimPath = string | readonly string[]

/**
 * Which claims of a token become principals. Roles become principals as they are (`admin`): the
 * string items of an array claim. Scopes become `scope:<name>` (`scope:read:messages`), from a
 * space-delimited string or an array of strings. No role can take the form of a scope: a role
 * whose name begins with `scope:` is dropped. Other values are ignored.
 * @example
 * ```ts
 * import type { ClaimsMapping } from 'fastify-jwt-security'
 *
 * // Auth0 puts RBAC permissions in `permissions`: they are scopes in all but name.
 * const auth0: ClaimsMapping = { scopes: ['scope', 'permissions'], roles: ['https://example.com/roles'] }
 * ```
 */
export interface ClaimsMapping {
  /** Claims whose items become principals as they are. */
  roles?: readonly ClaimPath[]
  /** Claims whose items become `scope:<item>` principals. Default `['scope', 'scp']`. */
  scopes?: readonly ClaimPath[]
}

/**
 * The prefix of the principals that scopes become.
 * @example
 * ```ts
 * import { SCOPE_PREFIX } from 'fastify-jwt-security'
 *
 * // The scopes of the request's token, from its principals.
 * const scopes = (request.identity?.principals ?? []).filter((principal) => principal.startsWith(SCOPE_PREFIX)).map((principal) => principal.slice(SCOPE_PREFIX.length))
 * ```
 */
export const SCOPE_PREFIX = 'scope:'
/** The claims scopes are read from when no mapping says otherwise: RFC 9068's `scope`, and the `scp` of Entra ID and Okta. */
export const DEFAULT_SCOPE_CLAIMS: readonly ClaimPath[] = Object.freeze(['scope', 'scp'])
// RFC 6749 §3.3: a scope token is one or more of %x21 / %x23-5B / %x5D-7E. Anything else could not
// be named in an insufficient_scope challenge, so it grants nothing.
/** RFC 6749 §3.3's scope-token: what a scope name may hold. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/
const MAX_PATH_DEPTH = 8

/** Derives the principals of verified claims: a mapping, resolved once. */
export class ClaimsPrincipals {
  readonly #roles: ReadonlyArray<readonly string[]>
  readonly #scopes: ReadonlyArray<readonly string[]>

  constructor (mapping: { readonly roles: readonly ClaimPath[], readonly scopes: readonly ClaimPath[] }) {
    this.#roles = mapping.roles.map(toPath)
    this.#scopes = mapping.scopes.map(toPath)
  }

  /** The roles, then the scope principals, of `claims`. With `withRoles` false, the scopes only. */
  of (claims: JwtClaims, withRoles: boolean): string[] {
    const principals: string[] = []
    for (const path of withRoles ? this.#roles : []) {
      const value = valueAt(claims, path)
      if (!Array.isArray(value)) continue
      for (const item of value) {
        if (typeof item === 'string' && !item.startsWith(SCOPE_PREFIX)) principals.push(item)
      }
    }
    for (const path of this.#scopes) {
      for (const item of scopesIn(valueAt(claims, path))) {
        if (typeof item === 'string' && SCOPE_TOKEN.test(item)) principals.push(SCOPE_PREFIX + item)
      }
    }
    return principals
  }
}

/** Checks a {@link ClaimsMapping} option; `defaults` fill what it leaves out. */
export function resolveClaimsMapping (option: string, value: unknown, defaults: { roles: readonly ClaimPath[] }): { roles: readonly ClaimPath[], scopes: readonly ClaimPath[] } {
  if (value === undefined) return { roles: defaults.roles, scopes: DEFAULT_SCOPE_CLAIMS }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidOptionError(option, 'expected an object with roles and/or scopes')
  const { roles, scopes, ...rest } = value as ClaimsMapping
  const [unknown] = Object.keys(rest)
  if (unknown !== undefined) throw new InvalidOptionError(`${option}.${unknown}`, 'is not an option (expected roles or scopes)')
  return {
    roles: roles === undefined ? defaults.roles : checkPaths(`${option}.roles`, roles),
    scopes: scopes === undefined ? DEFAULT_SCOPE_CLAIMS : checkPaths(`${option}.scopes`, scopes)
  }
}

function checkPaths (option: string, value: unknown): readonly ClaimPath[] {
  if (Array.isArray(value) && value.every(isClaimPath)) return Object.freeze(value.map((path: ClaimPath) => typeof path === 'string' ? path : Object.freeze([...path])))
  throw new InvalidOptionError(option, `expected an array of claim names, or of arrays of 1 to ${MAX_PATH_DEPTH} names for nested claims`)
}

function isClaimPath (value: unknown): boolean {
  if (typeof value === 'string') return value.length > 0
  return Array.isArray(value) && value.length > 0 && value.length <= MAX_PATH_DEPTH && value.every((name) => typeof name === 'string' && name.length > 0)
}

function toPath (path: ClaimPath): readonly string[] {
  return typeof path === 'string' ? [path] : path
}

// The claims are frozen, prototype-free copies (freezeClaims): no name reaches Object.prototype.
function valueAt (claims: JwtClaims, path: readonly string[]): unknown {
  let value: unknown = claims
  for (const name of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    value = (value as Record<string, unknown>)[name]
  }
  return value
}

function scopesIn (value: unknown): readonly unknown[] {
  if (typeof value === 'string') return value.split(' ')
  return Array.isArray(value) ? value : []
}
