import { InvalidOptionError } from '../errors.js'
import { SCOPE_TOKEN } from '../authz/claims-mapping.js'

/**
 * The `protectedResource` option: the OAuth 2.0 Protected Resource Metadata (RFC 9728) the plugin
 * serves, and which every 401 challenge then points to with `resource_metadata`. Members are given
 * in camelCase and served under the RFC's names; `extra` adds others as they are.
 * @example
 * ```ts
 * import jwtSecurity, { type ProtectedResourceOptions } from 'fastify-jwt-security'
 *
 * const protectedResource: ProtectedResourceOptions = {
 *   resource: 'https://api.example.com',
 *   authorizationServers: ['https://auth.example.com'],
 *   resourceDocumentation: 'https://docs.example.com/api'
 * }
 * await app.register(jwtSecurity, { jwks: { url: 'https://auth.example.com/.well-known/jwks.json' }, audience: 'https://api.example.com', protectedResource })
 * // GET /.well-known/oauth-protected-resource now answers the metadata.
 * ```
 */
export interface ProtectedResourceOptions {
  /** The resource identifier: an https URL without query or fragment (http for a loopback host only). */
  resource: string
  /** Where the metadata is served. Default: `/.well-known/oauth-protected-resource`, then the path of `resource` unless it is `/`. */
  path?: string
  /** `authorization_servers`: the issuer identifiers of the authorization servers that issue tokens for this resource. */
  authorizationServers?: readonly string[]
  /** `scopes_supported`. Default: every scope a route's requirement names, sorted. */
  scopesSupported?: readonly string[]
  /** `jwks_uri`: the URL of the resource's own public keys (an https URL). */
  jwksUri?: string
  /** `bearer_methods_supported`. Default `['header']`. */
  bearerMethodsSupported?: ReadonlyArray<'header' | 'body' | 'query'>
  /** `resource_signing_alg_values_supported`: the JWS algorithms the resource signs responses with. */
  resourceSigningAlgValuesSupported?: readonly string[]
  /** `resource_name`: a name for people to read. */
  resourceName?: string
  /** `resource_documentation`: the URL of documentation for developers. */
  resourceDocumentation?: string
  /** Further members, by their names in the document (`resource_policy_uri`, `dpop_bound_access_tokens_required`…): JSON values. */
  extra?: Readonly<Record<string, unknown>>
}

/** The option once checked. `null` members take their default when the document is built. */
export interface ResolvedProtectedResource {
  readonly resource: string
  /** The path the document is served at, from the origin of `resource`. */
  readonly path: string
  /** The absolute URL of the document, as challenges name it: quotable. */
  readonly metadataUrl: string
  readonly authorizationServers: readonly string[] | null
  readonly jwksUri: string | null
  readonly scopesSupported: readonly string[] | null
  /** The members after `scopes_supported`, under their names in the document, in the RFC's order, then `extra`'s. */
  readonly members: Readonly<Record<string, unknown>>
}

const QUOTABLE_URL = /^[\x21\x23-\x5B\x5D-\x7E]+$/
const OPTION = 'protectedResource'
const WELL_KNOWN = '/.well-known/oauth-protected-resource'
const KNOWN = new Set([
  'resource', 'path', 'authorizationServers', 'scopesSupported', 'jwksUri', 'bearerMethodsSupported',
  'resourceSigningAlgValuesSupported', 'resourceName', 'resourceDocumentation', 'extra'
])
/** The members the options set: `extra` may not set them too. */
const MEMBERS: ReadonlyMap<string, string> = new Map([
  ['resource', 'resource'], ['authorization_servers', 'authorizationServers'], ['jwks_uri', 'jwksUri'],
  ['scopes_supported', 'scopesSupported'], ['bearer_methods_supported', 'bearerMethodsSupported'],
  ['resource_signing_alg_values_supported', 'resourceSigningAlgValuesSupported'],
  ['resource_name', 'resourceName'], ['resource_documentation', 'resourceDocumentation']
])
const BEARER_METHODS = new Set(['header', 'body', 'query'])
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/
// A path the router serves as written and a challenge can quote: no parameters (`:`, `*`), no
// percent-encoding, no query. Other resource paths need an explicit `path`.
const SERVABLE_PATH = /^\/[A-Za-z0-9\-._~!$&+,;=@/]*$/
const MAX_JSON_DEPTH = 16

/** Checks the `protectedResource` option; null when it is not set. */
export function resolveProtectedResource (value: unknown): ResolvedProtectedResource | null {
  if (value === undefined) return null
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidOptionError(OPTION, 'expected an object with at least resource')
  for (const name of Object.keys(value)) {
    if (!KNOWN.has(name)) throw new InvalidOptionError(`${OPTION}.${name}`, 'unknown option')
  }
  const options = value as Partial<Record<keyof ProtectedResourceOptions, unknown>>
  const resource = checkUrl('resource', options.resource, { query: false })
  const path = options.path === undefined ? defaultPath(resource) : checkPath(options.path)
  const members: Record<string, unknown> = {}
  members.bearer_methods_supported = options.bearerMethodsSupported === undefined
    ? ['header']
    : list('bearerMethodsSupported', options.bearerMethodsSupported, (item) => BEARER_METHODS.has(item), '"header", "body" or "query"', true)
  if (options.resourceSigningAlgValuesSupported !== undefined) {
    members.resource_signing_alg_values_supported = list('resourceSigningAlgValuesSupported', options.resourceSigningAlgValuesSupported,
      (item) => item.length > 0 && item !== 'none', 'JWS algorithm names other than "none"')
  }
  if (options.resourceName !== undefined) members.resource_name = nonEmptyString('resourceName', options.resourceName)
  if (options.resourceDocumentation !== undefined) members.resource_documentation = urlMember('resourceDocumentation', options.resourceDocumentation)
  Object.assign(members, checkExtra(options.extra))
  const metadataUrl = resource.origin + path
  // It goes into WWW-Authenticate as a quoted string: a host may hold a '"' for WHATWG's parser.
  if (!QUOTABLE_URL.test(metadataUrl)) throw new InvalidOptionError(`${OPTION}.resource`, 'its origin holds a character a challenge cannot quote (" or \\ or a space)')
  return Object.freeze({
    resource: options.resource as string,
    path,
    metadataUrl,
    authorizationServers: options.authorizationServers === undefined
      ? null
      : list('authorizationServers', options.authorizationServers, (item) => isIssuer(item), 'issuer identifiers (https URLs without query or fragment)'),
    jwksUri: options.jwksUri === undefined ? null : urlMember('jwksUri', options.jwksUri),
    scopesSupported: options.scopesSupported === undefined
      ? null
      : list('scopesSupported', options.scopesSupported, (item) => SCOPE_TOKEN.test(item), 'scope names (printable ASCII without spaces, " or \\)'),
    members: Object.freeze(members)
  })
}

// RFC 9728 §3.1: the well-known string goes between the host and the resource's path.
function defaultPath (resource: URL): string {
  if (resource.pathname === '/') return WELL_KNOWN
  const path = WELL_KNOWN + resource.pathname
  if (SERVABLE_PATH.test(path)) return path
  throw new InvalidOptionError(`${OPTION}.resource`, `its path cannot be served as ${WELL_KNOWN}<path> (only letters, digits and -._~!$&+,;=@/): set protectedResource.path`)
}

function checkPath (value: unknown): string {
  if (typeof value === 'string' && SERVABLE_PATH.test(value) && !value.includes('//')) return value
  throw new InvalidOptionError(`${OPTION}.path`, 'expected a path from the origin such as "/.well-known/oauth-protected-resource", with only letters, digits and -._~!$&+,;=@/')
}

// RFC 9728 §2 and §3: the resource and every URL of the document use https; http is accepted for
// a loopback host only, for development.
function checkUrl (name: string, value: unknown, { query }: { query: boolean }): URL {
  const url = typeof value === 'string' && URL.canParse(value) ? new URL(value) : null
  const secure = url !== null && (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname)))
  if (url === null || !secure || (value as string).includes('#') || url.username !== '' || url.password !== '' || (!query && url.search !== '')) {
    throw new InvalidOptionError(`${OPTION}.${name}`, `expected an absolute https URL (http only for localhost) without ${query ? '' : 'query, '}fragment or credentials`)
  }
  return url
}

// URLs are served as they were written: `resource` above all, which clients compare as a string.
function urlMember (name: string, value: unknown): string {
  checkUrl(name, value, { query: true })
  return value as string
}

// RFC 8414 §2: an issuer identifier is an https URL with no query or fragment.
/** True for an issuer identifier an authorization server can have (RFC 8414 §2): https (http on loopback), no query or fragment. */
export function isIssuer (value: string): boolean {
  try {
    checkUrl('authorizationServers', value, { query: false })
    return true
  } catch {
    return false
  }
}

function list (name: string, value: unknown, valid: (item: string) => boolean, what: string, emptyAllowed = false): readonly string[] {
  if (Array.isArray(value) && (emptyAllowed || value.length > 0) && value.every((item) => typeof item === 'string' && valid(item))) {
    return Object.freeze([...new Set(value as string[])])
  }
  throw new InvalidOptionError(`${OPTION}.${name}`, `expected ${emptyAllowed ? 'an' : 'a non-empty'} array of ${what}`)
}

function nonEmptyString (name: string, value: unknown): string {
  if (typeof value === 'string' && value.length > 0) return value
  throw new InvalidOptionError(`${OPTION}.${name}`, 'expected a non-empty string')
}

function checkExtra (value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isPlainObject(value)) throw new InvalidOptionError(`${OPTION}.extra`, 'expected an object of metadata members')
  for (const [member, item] of Object.entries(value)) {
    const option = MEMBERS.get(member)
    if (option !== undefined) throw new InvalidOptionError(`${OPTION}.extra.${member}`, `is set by protectedResource.${option}`)
    if (!isJson(item, 0)) throw new InvalidOptionError(`${OPTION}.extra.${member}`, `expected a JSON value (null, boolean, finite number, string, array, plain object; at most ${MAX_JSON_DEPTH} levels)`)
  }
  return structuredClone(value)
}

function isJson (value: unknown, depth: number): boolean {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (depth >= MAX_JSON_DEPTH) return false
  if (Array.isArray(value)) return value.every((item) => isJson(item, depth + 1))
  return isPlainObject(value) && Object.values(value).every((item) => isJson(item, depth + 1))
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const prototype = Object.getPrototypeOf(value) as unknown
  return prototype === Object.prototype || prototype === null
}
