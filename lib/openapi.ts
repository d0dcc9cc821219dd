import type { FastifyInstance, RouteOptions } from 'fastify'
import { permissionOfHook } from './authz/permits.js'
import type { SecurityPolicy, SecurityScheme } from './policies/policy.js'

// @fastify/swagger, when the app registers it, documents the routes' permissions: a security scheme
// per credential transport of the policy and a `security` requirement per route that has a
// permission check. @fastify/swagger is an optional peer: it is never imported, only recognised by
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
  readonly transports: readonly SecurityScheme[]
}

type Generate = (this: unknown, options?: { yaml?: unknown }) => unknown
type Json = Record<string, unknown>

/**
 * Documents the permissions of the routes declared after this call in the document of
 * @fastify/swagger, when the app registers it (before or after the plugin). Call it after the
 * permission checks' onRoute hook: it reads the checks that hook leaves on each route.
 */
export function documentSecurity (fastify: FastifyInstance, policy: SecurityPolicy): void {
  const transports = transportsOf(policy)
  if (transports.length === 0) return
  fastify.addHook('onRoute', function (route) {
    if (this.hasPlugin('@fastify/swagger')) markRoute(route, transports)
  })
  fastify.addHook('onReady', async () => { wrapGenerator(fastify) })
}

/** The security schemes of `policy` (`bearerAuth`, `headerAuth`, `cookieAuth` for the built-in ones), under unique names. */
function transportsOf (policy: SecurityPolicy): SecurityScheme[] {
  const found: SecurityScheme[] = []
  const named = new Map<string, number>()
  for (const transport of policy.securitySchemes?.() ?? []) {
    const schemes = JSON.stringify([transport.openapi, transport.swagger])
    if (found.some((known) => JSON.stringify([known.openapi, known.swagger]) === schemes)) continue
    const count = (named.get(transport.name) ?? 0) + 1
    named.set(transport.name, count)
    found.push(count === 1 ? transport : { ...transport, name: `${transport.name}${count}` })
  }
  return found
}

// Runs after the permission checks' onRoute hook: every check on the route (config.permission,
// defaultPermission, app.permits() hooks) is then a hook tagged with its permission.
function markRoute (route: RouteOptions, transports: readonly SecurityScheme[]): void {
  const schema = route.schema as Json | undefined
  if (schema?.security !== undefined) return
  const permissions = new Set<string>()
  for (const name of ROUTE_HOOKS) {
    for (const hook of [route[name] ?? []].flat()) {
      const permission = permissionOfHook(hook)
      if (permission !== undefined) permissions.add(permission)
    }
  }
  if (permissions.size === 0) return
  // A copy: the same schema object may serve routes with other permissions.
  const mark: Mark = Object.freeze({ permissions: Object.freeze([...permissions]), transports })
  route.schema = { ...schema, [MARK]: mark } as RouteOptions['schema']
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
  const { permissions, transports } = operation[MARK] as Mark
  delete operation[MARK]
  // A `security` the route's schema (or the app's transform) gave is kept.
  if (operation.security !== undefined) return
  const security: Json[] = []
  for (const transport of transports) {
    const scheme = swagger2 ? transport.swagger : transport.openapi
    if (scheme === null) continue
    used.set(transport.name, scheme)
    security.push({ [transport.name]: [...permissions] })
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
