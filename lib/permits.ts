import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import type { Challenges } from './challenges.js'
import {
  ForbiddenError, InvalidRequestError, InvalidTokenError, NoCredentialsError, TokenExpiredError
} from './errors.js'
import { toPermitsResult, type PermitsResult, type SecurityPolicy } from './policy.js'
import { policyFailure } from './policy-failure.js'

/**
 * The permission that opts a route out of `defaultPermission` (Pyramid's
 * `NO_PERMISSION_REQUIRED`): `config: { permission: NO_PERMISSION_REQUIRED }`.
 */
export const NO_PERMISSION_REQUIRED = '__no_permission_required__'

/** Where a permission check finds its context: a value, or a function of the request (may be async). */
export type ContextSource = ((request: FastifyRequest) => unknown) | object | null

/** The hook a route's declared permission is checked in. */
export type PermissionHookName = 'onRequest' | 'preHandler'

/** Options of `app.permits()`. */
export interface PermitsOptions {
  /** The context handed to `policy.permits`; default: the route's `config.context`, else `rootFactory(request)`, else null. */
  context?: ContextSource
}

/** A route hook that lets the request through or answers 401, 400 or 403. */
export type PermissionHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** What the permission checks of one registration need, resolved at register time. */
export interface PermissionSettings {
  readonly policy: SecurityPolicy
  readonly challenges: Challenges
  readonly rootFactory: ((request: FastifyRequest) => unknown) | null
  readonly defaultPermission: string | null
  readonly debugAuthorization: boolean
}

const kPermission = Symbol('fastify-jwt-security.permission')
const kRootContext = Symbol('fastify-jwt-security.rootContext')
const HOOK_NAMES: ReadonlySet<unknown> = new Set(['onRequest', 'preHandler'])
const ROUTE_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const

type TaggedHook = PermissionHook & { [kPermission]?: string }

/** The permission checks of one registration: the route hooks and `request.hasPermission`. */
export class PermissionChecker {
  readonly #settings: PermissionSettings

  constructor (settings: PermissionSettings) {
    this.#settings = settings
  }

  /** The request decoration that memoises the root factory's context. */
  static readonly rootContextKey = kRootContext

  /** What the policy says of `permission` on `context` (default: the route's, else the root factory's). */
  async check (request: FastifyRequest, permission: string, context?: unknown): Promise<PermitsResult> {
    const resolved = context === undefined ? await this.#defaultContext(request) : context
    const result = toPermitsResult(await this.#settings.policy.permits(request, resolved ?? null, permission), permission)
    if (this.#settings.debugAuthorization) logDecision(request, permission, result)
    return result
  }

  /** A hook for `preHandler` or `onRequest` that requires `permission`. */
  hook (permission: string, options: PermitsOptions = {}): PermissionHook {
    if (typeof permission !== 'string' || permission.length === 0) {
      throw new TypeError('app.permits() needs a permission name')
    }
    const source = options.context
    const contextOf = source === undefined
      ? () => undefined
      : typeof source === 'function' ? source as (request: FastifyRequest) => unknown : () => source
    const checker = this
    const checkPermission: TaggedHook = async function checkPermission (request, reply) {
      let result: PermitsResult
      try {
        result = await checker.check(request, permission, await contextOf(request))
      } catch (error) {
        throw policyFailure(request, error)
      }
      if (!result.allowed) throw checker.#denial(request, reply)
    }
    checkPermission[kPermission] = permission
    return checkPermission
  }

  /**
   * Adds the check of a route's `config.permission` (or of `defaultPermission` when the route
   * declares none, neither in its config nor with an `app.permits()` hook), in onRequest before
   * the body is read, or in preHandler when `config.permissionHook` says so.
   */
  addRouteHook (route: RouteOptions): void {
    const config = route.config as { permission?: unknown, permissionHook?: unknown } | undefined
    let permission = config?.permission
    if (permission === undefined) {
      if (this.#settings.defaultPermission === null || hasPermissionHook(route)) return
      permission = this.#settings.defaultPermission
    }
    if (typeof permission !== 'string') throw new TypeError(`route ${route.url}: config.permission must be a string`)
    if (permission === NO_PERMISSION_REQUIRED) return
    const hookName = config?.permissionHook ?? 'onRequest'
    if (!HOOK_NAMES.has(hookName)) throw new TypeError(`route ${route.url}: config.permissionHook must be 'onRequest' or 'preHandler'`)
    const hook = this.hook(permission)
    const name = hookName as PermissionHookName
    const existing = route[name] as PermissionHook | PermissionHook[] | undefined
    route[name] = existing === undefined ? [hook] : [existing, hook].flat()
  }

  async #defaultContext (request: FastifyRequest): Promise<unknown> {
    const routeContext = (request.routeOptions.config as { context?: ContextSource }).context
    if (routeContext !== undefined) return typeof routeContext === 'function' ? await routeContext(request) : routeContext
    const { rootFactory } = this.#settings
    if (rootFactory === null) return null
    const memo = request as unknown as Record<symbol, Promise<unknown> | null>
    memo[kRootContext] ??= Promise.resolve(rootFactory(request))
    return await memo[kRootContext]
  }

  // RFC 6750 §3 and RFC 9110 §15.5: 401 asks for (other) credentials, 403 refuses these ones.
  #denial (request: FastifyRequest, reply: FastifyReply): Error {
    if (request.isAuthenticated) return new ForbiddenError()
    const failure = request.authFailure
    const challenges = this.#settings.challenges
    if (failure === null) {
      reply.header('www-authenticate', challenges.bare)
      return new NoCredentialsError()
    }
    if (failure.error === 'invalid_request') {
      reply.header('www-authenticate', challenges.invalidRequest)
      return new InvalidRequestError()
    }
    if (failure.reason === 'token_expired') {
      reply.header('www-authenticate', challenges.expired)
      return new TokenExpiredError()
    }
    reply.header('www-authenticate', challenges.invalidToken)
    return new InvalidTokenError()
  }
}

function hasPermissionHook (route: RouteOptions): boolean {
  for (const name of ROUTE_HOOKS) {
    const hooks = route[name] as TaggedHook | TaggedHook[] | undefined
    if (hooks === undefined) continue
    for (const hook of [hooks].flat()) if (hook[kPermission] !== undefined) return true
  }
  return false
}

// pyramid.debug_authorization: the decision and why, never the credential.
function logDecision (request: FastifyRequest, permission: string, result: PermitsResult): void {
  const principals = (request.identity as { principals?: unknown } | null)?.principals
  request.log.info({
    authorization: {
      method: request.method,
      route: request.routeOptions.url,
      permission,
      userid: request.authenticatedUserid,
      principals: Array.isArray(principals) ? principals : null,
      allowed: result.allowed
    }
  }, result.msg)
}
