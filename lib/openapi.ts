import type { FastifyInstance, RouteOptions } from 'fastify'
import { permissionOfHook } from './authz/permits.js'
import { requirementOfHook } from './authz/requirement-checker.js'
import type { ResolvedRequirement } from './authz/requirements.js'
import type { SecurityPolicy, SecurityScheme } from './policies/policy.js'

// @fastify/swagger, when the app registers it, documents the routes' permissions: a security scheme
// per credential transport of the policy and a `security` requirement per route that has a
// permission check or an access requirement. OAuth schemes (an identity provider's) list the
// scopes the route requires. @fastify/swagger is an optional peer: it is never imported, only recognised by
// its plugin name and its `swagger` decorator.
//
// @fastify/swagger has no extension point for another plugin's schemes: `components.securitySchemes`
// comes from its own options only, and a route schema whose `security` names a scheme missing there
// makes `app.swagger()` throw. So the requirement travels in the route schema under an extension key
// (copied as is into the operation), and the `swagger` decorator is wrapped: the generated document
// gets the schemes and, in place of each mark, the `security` entry. That holds whichever plugin was
// registered first, and whatever `transform` the app gives @fastify/swagger.

/** The extension key that carries a route's requirement from its schema to its operation. */
const MARK = 'x-fastify-jwt-security'
const ROUTE_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const
const kDocumenting = Symbol('fastify-jwt-security.openapi')

type Scheme = SecurityScheme['openapi']

/** What a route's schema carries under {@link MARK}. */
interface Mark {
  readonly permissions: readonly string[]
  /** The sets of scopes that satisfy the route, as alternatives: `[[]]` when it names none. */
  readonly scopes: ReadonlyArray<readonly string[]>
  readonly transports: readonly SecurityScheme[]
  readonly oauthSchemes: readonly SecurityScheme[]
}

type Generate = (this: unknown, options?: { yaml?: unknown }) => unknown
type Json = Record<string, unknown>

/**
 * Documents the permissions and required scopes of the routes declared after this call in the
 * document of @fastify/swagger, when the app registers it (before or after the plugin). Call it
 * after the permission and requirement checks' onRoute hook: it reads the checks that hook leaves
 * on each route. `oauthSchemes` (OAuth 2.0 or OpenID Connect schemes of the identity providers
 * whose tokens the app accepts) get the scopes a route requires, where the policy's transports get
 * its permissions.
 */
export function documentSecurity (fastify: FastifyInstance, policy: SecurityPolicy, oauthSchemes: readonly SecurityScheme[]): void {
  const [transports, oauth] = uniqueSchemes([policy.securitySchemes?.() ?? [], oauthSchemes]) as [SecurityScheme[], SecurityScheme[]]
  if (transports.length === 0 && oauth.length === 0) return
  fastify.addHook('onRoute', function (route) {
    if (this.hasPlugin('@fastify/swagger')) markRoute(route, transports, oauth)
  })
  fastify.addHook('onReady', async () => { wrapGenerator(fastify) })
}

/**
 * The security schemes of the policy (`bearerAuth`, `headerAuth`, `cookieAuth` for the built-in
 * ones), then the OAuth ones, under unique names: a scheme defined twice is kept once.
 */
function uniqueSchemes (groups: ReadonlyArray<readonly SecurityScheme[]>): SecurityScheme[][] {
  const found: SecurityScheme[] = []
  const named = new Map<string, number>()
  return groups.map((schemes) => {
    const group: SecurityScheme[] = []
    for (const scheme of schemes) {
      const definition = JSON.stringify([scheme.openapi, scheme.swagger])
      if (found.some((known) => JSON.stringify([known.openapi, known.swagger]) === definition)) continue
      const count = (named.get(scheme.name) ?? 0) + 1
      named.set(scheme.name, count)
      const unique = count === 1 ? scheme : { ...scheme, name: `${scheme.name}${count}` }
      found.push(unique)
      group.push(unique)
    }
    return group
  })
}

// Runs after the checks' onRoute hook: every check on the route (config.permission,
// defaultPermission, app.permits() hooks, config.requires, app.requires() hooks) is then a tagged hook.
function markRoute (route: RouteOptions, transports: readonly SecurityScheme[], oauthSchemes: readonly SecurityScheme[]): void {
  const schema = route.schema as Json | undefined
  if (schema?.security !== undefined) return
  const permissions = new Set<string>()
  const requirements: ResolvedRequirement[] = []
  for (const name of ROUTE_HOOKS) {
    for (const hook of [route[name] ?? []].flat()) {
      const permission = permissionOfHook(hook)
      if (permission !== undefined) permissions.add(permission)
      const requirement = requirementOfHook(hook)
      if (requirement !== undefined) requirements.push(requirement)
    }
  }
  if (permissions.size === 0 && requirements.length === 0) return
  // A copy: the same schema object may serve routes with other permissions.
  const mark: Mark = Object.freeze({
    permissions: Object.freeze([...permissions]),
    scopes: scopeAlternatives(requirements),
    transports,
    oauthSchemes
  })
  route.schema = { ...schema, [MARK]: mark } as RouteOptions['schema']
}

/**
 * The sets of scopes that satisfy every requirement of a route: an OpenAPI `security` array lists
 * alternatives, each naming scopes all needed. An `anyOf` requirement is one alternative per scope.
 */
function scopeAlternatives (requirements: readonly ResolvedRequirement[]): ReadonlyArray<readonly string[]> {
  let alternatives: ReadonlyArray<readonly string[]> = [[]]
  for (const { scopes, anyOf } of requirements) {
    if (scopes.length === 0) continue
    const choices = anyOf ? scopes.map((scope) => [scope]) : [scopes]
    alternatives = alternatives.flatMap((alternative) => choices.map((choice) => [...new Set([...alternative, ...choice])]))
  }
  return alternatives
}

// The owner of the decorator may be an ancestor of the plugin's instance; the wrapper is installed
// once, whatever the number of registrations: every mark carries its own transports.
function wrapGenerator (fastify: FastifyInstance): void {
  let owner: object | null = fastify
  while (owner !== null && !Object.hasOwn(owner, 'swagger')) owner = Object.getPrototypeOf(owner) as object | null
  if (owner === null || !fastify.hasPlugin('@fastify/swagger')) return
  const decorated = owner as Record<string, unknown>
  const generate = decorated.swagger as Generate & { [kDocumenting]?: true }
  if (typeof generate !== 'function' || generate[kDocumenting] === true) return
  const secured = new WeakSet<object>()
  const documenting = function (this: unknown, options?: { yaml?: unknown }): unknown {
    if (options?.yaml !== true) return addSecurity(generate.call(this, options), secured)
    // The YAML text of @fastify/swagger is built anew from the routes, past any wrapper: a document
    // this module changed is given as JSON text instead, which YAML 1.2 parsers read as YAML.
    const document = documenting.call(this, { ...options, yaml: false }) as object
    return secured.has(document) ? `${JSON.stringify(document, null, 2)}\n` : generate.call(this, options)
  }
  decorated.swagger = Object.assign(documenting, { [kDocumenting]: true })
}

/** Replaces the marks of `document`'s operations with `security` entries and adds their schemes. */
function addSecurity (document: unknown, secured: WeakSet<object>): unknown {
  const spec = document as Json
  const swagger2 = typeof spec.swagger === 'string'
  const used = new Map<string, Scheme>()
  for (const item of Object.values(Object(spec.paths) as Record<string, Json>)) {
    for (const [key, value] of Object.entries(Object(item) as Json)) {
      // OpenAPI 3.2 keeps the operations of other methods than the usual ones in additionalOperations.
      const operations = key === 'additionalOperations' ? Object.values(value as Json) : [value]
      for (const operation of operations) secure(Object(operation) as Json, swagger2, used)
    }
  }
  if (used.size === 0) return document
  const schemes = swagger2 ? member(spec, 'securityDefinitions') : member(member(spec, 'components'), 'securitySchemes')
  // A scheme of the same name given in the @fastify/swagger options is kept.
  for (const [name, scheme] of used) schemes[name] ??= { ...scheme }
  secured.add(spec)
  return document
}

function secure (operation: Json, swagger2: boolean, used: Map<string, Scheme>): void {
  if (!Object.hasOwn(operation, MARK)) return
  const { permissions, scopes, transports, oauthSchemes } = operation[MARK] as Mark
  delete operation[MARK]
  // A `security` the route's schema (or the app's transform) gave is kept.
  if (operation.security !== undefined) return
  const security: Json[] = []
  const entries = [
    ...transports.map((transport) => [transport, [permissions]] as const),
    ...oauthSchemes.map((oauth) => [oauth, scopes] as const)
  ]
  for (const [transport, alternatives] of entries) {
    const scheme = swagger2 ? transport.swagger : transport.openapi
    if (scheme === null) continue
    used.set(transport.name, scheme)
    for (const names of alternatives) security.push({ [transport.name]: [...names] })
  }
  if (security.length > 0) operation.security = security
}

function member (parent: Json, key: string): Json {
  const value = parent[key]
  if (typeof value === 'object' && value !== null) return value as Json
  const created: Json = {}
  parent[key] = created
  return created
}

/** An OpenAPI openIdConnect scheme per trusted issuer found by discovery: the scopes of a route's requirements are listed under it. */
export function openIdConnectSchemes (issuers: ReadonlyArray<{ readonly discoveryUrl: string | null }>): SecurityScheme[] {
  return issuers.flatMap(({ discoveryUrl }) => discoveryUrl === null
    ? []
    : [{ name: 'oidc', openapi: Object.freeze({ type: 'openIdConnect', openIdConnectUrl: discoveryUrl }), swagger: null }])
}
