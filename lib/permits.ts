import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import type { Challenges } from './challenges.js'
import {
  ForbiddenError, InvalidRequestError, InvalidTokenError, NoCredentialsError, TokenExpiredError
} from './errors.js'
import { toPermitsResult, type PermitsResult, type SecurityPolicy } from './policy.js'
import { policyFailure } from './policy-failure.js'

/** Where a permission check finds its context: a value, or a function of the request (may be async). */
export type ContextSource = ((request: FastifyRequest) => unknown) | object | null

/** Options of `app.permits()`. */
export interface PermitsOptions {
  /** The context handed to `policy.permits`; default: the route's `config.context`, else null. */
  context?: ContextSource
}

/** A route hook that lets the request through or answers 401, 400 or 403. */
export type PermissionHook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

/** The permission check of one registration: the route hooks and `request.hasPermission`. */
export class PermissionChecker {
  readonly #policy: SecurityPolicy
  readonly #challenges: Challenges

  constructor (policy: SecurityPolicy, challenges: Challenges) {
    this.#policy = policy
    this.#challenges = challenges
  }

  /** What the policy says of `permission` on `context` for this request. */
  async check (request: FastifyRequest, permission: string, context: unknown): Promise<PermitsResult> {
    return toPermitsResult(await this.#policy.permits(request, context ?? null, permission), permission)
  }

  /** A hook for `preHandler` or `onRequest` that requires `permission`. */
  hook (permission: string, options: PermitsOptions = {}): PermissionHook {
    if (typeof permission !== 'string' || permission.length === 0) {
      throw new TypeError('app.permits() needs a permission name')
    }
    const contextOf = contextResolver(options.context)
    const checker = this
    return async function checkPermission (request, reply) {
      let result: PermitsResult
      try {
        result = await checker.check(request, permission, await contextOf(request))
      } catch (error) {
        throw policyFailure(request, error)
      }
      if (!result.allowed) throw checker.#denial(request, reply)
    }
  }

  /** Adds the check that a route's `config.permission` asks for, before the body is read. */
  addRouteHook (route: RouteOptions): void {
    const config = route.config as { permission?: unknown, context?: ContextSource } | undefined
    const permission = config?.permission
    if (permission === undefined) return
    if (typeof permission !== 'string') throw new TypeError(`route ${route.url}: config.permission must be a string`)
    const hook = this.hook(permission, { context: config?.context ?? null })
    route.onRequest = route.onRequest === undefined ? [hook] : [route.onRequest, hook].flat()
  }

  // RFC 6750 §3 and RFC 9110 §15.5: 401 asks for (other) credentials, 403 refuses these ones.
  #denial (request: FastifyRequest, reply: FastifyReply): Error {
    if (request.isAuthenticated) return new ForbiddenError()
    const failure = request.authFailure
    const challenges = this.#challenges
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

function contextResolver (source: ContextSource | undefined): (request: FastifyRequest) => unknown {
  if (typeof source === 'function') return source as (request: FastifyRequest) => unknown
  const value = source ?? null
  return () => value
}
