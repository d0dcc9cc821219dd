import { InvalidOptionError } from '../errors.js'
import { toSeconds, type Duration } from '../config/option-checks.js'
import { SCOPE_TOKEN } from './claims-mapping.js'

/**
 * What a route requires of the request's token besides a permission: OAuth scopes (RFC 6750
 * `insufficient_scope`), and how and how recently the user authenticated (RFC 9470 step-up
 * authentication). Given to `app.requires()` or as a route's `config.requires`; checked before the
 * route's permission. A scope is held when the request has the principal `scope:<name>`.
 * @example
 * ```ts
 * import type { AccessRequirement } from 'fastify-jwt-security'
 *
 * // Transfers need the payments scope, a multi-factor login, and one made in the last 5 minutes.
 * const transfer: AccessRequirement = { scopes: ['payments:write'], acr: ['urn:example:mfa'], maxAge: '5m' }
 * app.post('/transfers', { config: { requires: transfer } }, createTransfer)
 * app.get('/messages', { config: { requires: { scopes: { anyOf: ['messages:read', 'messages:admin'] } } } }, listMessages)
 * ```
 */
export interface AccessRequirement {
  /** Scopes the token must hold: every one of an array, or at least one of `anyOf`. */
  scopes?: readonly string[] | { readonly anyOf: readonly string[] }
  /** The accepted values of the token's `acr` claim: it must be one of them. */
  acr?: readonly string[]
  /** The longest time since the user authenticated (the token's `auth_time`), whole seconds or a duration string. */
  maxAge?: Duration
}

/** A requirement once checked: what its hook tests on every request. */
export interface ResolvedRequirement {
  /** The scope names, without duplicates, in the order given; empty when the requirement names none. */
  readonly scopes: readonly string[]
  /** True when one of `scopes` is enough, false when all of them are needed. */
  readonly anyOf: boolean
  /** The accepted `acr` values, or null. */
  readonly acr: readonly string[] | null
  /** The longest time since `auth_time`, in seconds, or null. */
  readonly maxAge: number | null
}

/**
 * Checks a requirement and returns it resolved. `option` names it in errors (`requires`,
 * `config.requires`), `where` says where it was declared (`app.requires()`, `route /x`).
 */
export function resolveRequirement (option: string, value: unknown, where: string): ResolvedRequirement {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(option, `${where}: expected an object with scopes, acr and/or maxAge`)
  }
  const { scopes, acr, maxAge, ...rest } = value as Record<string, unknown>
  const [unknown] = Object.keys(rest)
  if (unknown !== undefined) throw new InvalidOptionError(`${option}.${unknown}`, `${where}: is not a requirement (expected scopes, acr or maxAge)`)
  const resolved: ResolvedRequirement = Object.freeze({
    ...resolveScopes(`${option}.scopes`, scopes, where),
    acr: acr === undefined ? null : tokenList(`${option}.acr`, acr, where, 'acr values'),
    maxAge: resolveMaxAge(`${option}.maxAge`, maxAge, where)
  })
  if (resolved.scopes.length === 0 && resolved.acr === null && resolved.maxAge === null) {
    throw new InvalidOptionError(option, `${where}: names no scopes, acr or maxAge`)
  }
  return resolved
}

function resolveScopes (option: string, value: unknown, where: string): { scopes: readonly string[], anyOf: boolean } {
  if (value === undefined) return { scopes: Object.freeze([]), anyOf: false }
  if (Array.isArray(value)) return { scopes: tokenList(option, value, where, 'scope names'), anyOf: false }
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 1 && 'anyOf' in value) {
    return { scopes: tokenList(`${option}.anyOf`, value.anyOf, where, 'scope names'), anyOf: true }
  }
  throw new InvalidOptionError(option, `${where}: expected an array of scope names (all needed) or { anyOf: [...] } (one needed)`)
}

// Scope names and acr values both end up in a challenge's quoted, space-separated list: each must be
// an RFC 6749 scope-token (printable ASCII without space, " or \).
function tokenList (option: string, value: unknown, where: string, what: string): readonly string[] {
  if (Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string' && SCOPE_TOKEN.test(item))) {
    return Object.freeze([...new Set(value as string[])])
  }
  throw new InvalidOptionError(option, `${where}: expected a non-empty array of ${what}, each printable ASCII without spaces, " or \\`)
}

// max_age is a whole number of seconds in the challenge (RFC 9470 §3).
function resolveMaxAge (option: string, value: unknown, where: string): number | null {
  if (value === undefined) return null
  let seconds = Number.NaN
  try {
    seconds = toSeconds(option, value)
  } catch {
    // Reported below, with where the requirement was declared.
  }
  if (Number.isSafeInteger(seconds)) return seconds
  throw new InvalidOptionError(option, `${where}: expected a whole number of seconds or a duration such as "5m"`)
}
