import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { InsufficientScopeError, InsufficientUserAuthenticationError } from '../errors.js'
import { policyFailure } from '../policies/identity-hook.js'
import { SCOPE_PREFIX } from './claims-mapping.js'
import { addChallenge, usesDpopScheme, type Challenges, type PermissionHook } from './permits.js'
import { resolveRequirement, type ResolvedRequirement } from './requirements.js'

/** Why an authenticated request did not meet a requirement: the error's `reason`, for the app's log. */
export type RequirementFailure = 'acr_not_accepted' | 'auth_time_missing' | 'auth_time_too_old' | 'scope_missing'

/** What the requirement checks of one registration need. */
export interface RequirementSettings {
  readonly challenges: Challenges
  /** The answer to a request that is not authenticated: the permission check's 401 or 400, so that both answer alike. */
  readonly denial: (request: FastifyRequest, reply: FastifyReply) => Error
  /** The plugin's clock, in seconds. */
  readonly nowSeconds: () => number
  /** Logs every decision of an authenticated request, as the permission checks do. */
  readonly debugAuthorization: boolean
}

type Done = (error?: Error) => void
/** The check of one requirement: undefined to let the request through, else the error to fail it with. */
type Check = (request: FastifyRequest, reply: FastifyReply) => Error | undefined

const kRequirement = Symbol('fastify-jwt-security.requirement')
const ROUTE_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const

type TaggedHook = PermissionHook & { [kRequirement]?: ResolvedRequirement }

const STEP_UP = 'error="insufficient_user_authentication"'
// RFC 9470 §3's own descriptions, one per cause: the client learns which part to redo.
const ACR_DESCRIPTION = 'A different authentication level is required'
const AGE_DESCRIPTION = 'More recent authentication is required'

/** The checks of `app.requires()` and `config.requires` of one registration. */
export class RequirementChecker {
  readonly #settings: RequirementSettings
  readonly #routeScopes = new Set<string>()

  constructor (settings: RequirementSettings) {
    this.#settings = settings
  }

  /**
   * A hook for any request hook that requires `requirement`. Every decision is synchronous: with
   * `done` it costs no promise; without, it returns one, for compositions such as @fastify/auth.
   * `option` and `where` name the requirement in the errors of a bad one.
   */
  hook (requirement: unknown, option = 'requires', where = 'app.requires()'): PermissionHook {
    const resolved = resolveRequirement(option, requirement, where)
    const decide = this.#compile(resolved)
    const check: Check = this.#settings.debugAuthorization ? logged(decide, resolved) : decide

    function run (request: FastifyRequest, reply: FastifyReply, done: Done): void {
      let error: Error | undefined
      try {
        error = check(request, reply)
      } catch (failure) {
        // The clock is the app's own function: it may throw.
        error = policyFailure(request, failure)
      }
      done(error)
    }

    const checkRequirement = function checkRequirement (request: FastifyRequest, reply: FastifyReply, done?: Done): void | Promise<void> {
      if (done !== undefined) return run(request, reply, done)
      return new Promise<void>((resolve, reject) => run(request, reply, (error) => { if (error === undefined) resolve(); else reject(error) }))
    } as TaggedHook
    checkRequirement[kRequirement] = resolved
    return checkRequirement
  }

  /**
   * Adds the check of a route's `config.requires` as its last onRequest hook so far: the
   * permission check, added next, runs after it, and neither waits for the body. It needs no
   * context, so `config.permissionHook` does not move it. Then notes the scopes the route's
   * requirements name, `app.requires()` hooks included, for the protected resource metadata.
   */
  addRouteHook (route: RouteOptions): void {
    const requires = (route.config as { requires?: unknown } | undefined)?.requires
    if (requires !== undefined) {
      const hook = this.hook(requires, 'config.requires', `route ${route.url}`)
      const existing = route.onRequest as PermissionHook | PermissionHook[] | undefined
      route.onRequest = existing === undefined ? [hook] : [existing, hook].flat()
    }
    for (const name of ROUTE_HOOKS) {
      for (const hook of [route[name] ?? []].flat()) {
        for (const scope of requirementOfHook(hook)?.scopes ?? []) this.#routeScopes.add(scope)
      }
    }
  }

  /** Every scope named by a requirement of a route declared so far, sorted. */
  routeScopes (): string[] {
    return [...this.#routeScopes].sort()
  }

  // Every challenge of the requirement is built here, once: a refusal only picks one.
  #compile (requirement: ResolvedRequirement): Check {
    const { challenges, denial, nowSeconds } = this.#settings
    const { scopes, anyOf, maxAge } = requirement
    const acr = requirement.acr === null ? null : new Set(requirement.acr)
    // RFC 9470 §3: the challenge names every step-up the route asks, whichever one failed.
    const stepUp = (requirement.acr === null ? '' : `, acr_values="${requirement.acr.join(' ')}"`) +
      (maxAge === null ? '' : `, max_age="${maxAge}"`)
    // A request authenticated with DPoP is answered in its scheme (RFC 9449 §7.1).
    const { dpop } = challenges
    const challenge = (attributes: string): SchemeChallenges => ({ bearer: challenges.withError(attributes), dpop: dpop?.withError(attributes) ?? null })
    const acrChallenge = acr === null ? NONE : challenge(`${STEP_UP}, error_description="${ACR_DESCRIPTION}"${stepUp}`)
    const ageChallenge = maxAge === null ? NONE : challenge(`${STEP_UP}, error_description="${AGE_DESCRIPTION}"${stepUp}`)
    const scopeChallenge = scopes.length === 0
      ? NONE
      : challenge(`error="insufficient_scope", error_description="${new InsufficientScopeError().message}", scope="${scopes.join(' ')}"`)
    const principals = scopes.map((scope) => SCOPE_PREFIX + scope)
    const holds = anyOf
      ? (held: readonly unknown[]) => principals.some((principal) => held.includes(principal))
      : (held: readonly unknown[]) => principals.every((principal) => held.includes(principal))

    return function check (request, reply) {
      if (!request.isAuthenticated) return denial(request, reply)
      const claims = request.jwtClaims as Readonly<Record<string, unknown>> | null
      if (acr !== null) {
        const value = claims?.acr
        if (typeof value !== 'string' || !acr.has(value)) return stepUpDenial(request, reply, acrChallenge, 'acr_not_accepted')
      }
      if (maxAge !== null) {
        const authTime = claims?.auth_time
        if (typeof authTime !== 'number' || !Number.isFinite(authTime)) return stepUpDenial(request, reply, ageChallenge, 'auth_time_missing')
        if (nowSeconds() - authTime > maxAge) return stepUpDenial(request, reply, ageChallenge, 'auth_time_too_old')
      }
      if (principals.length === 0) return undefined
      // A custom policy's identity may have no principals: it then holds no scope.
      const held = (request.identity as { principals?: unknown } | null)?.principals
      if (Array.isArray(held) && holds(held)) return undefined
      addChallenge(reply, pick(request, scopeChallenge))
      return withReason(new InsufficientScopeError(), 'scope_missing')
    }
  }
}

interface SchemeChallenges {
  readonly bearer: string
  readonly dpop: string | null
}

const NONE: SchemeChallenges = Object.freeze({ bearer: '', dpop: null })

function pick (request: FastifyRequest, challenges: SchemeChallenges): string {
  return challenges.dpop !== null && usesDpopScheme(request) ? challenges.dpop : challenges.bearer
}

function stepUpDenial (request: FastifyRequest, reply: FastifyReply, challenges: SchemeChallenges, reason: RequirementFailure): Error {
  addChallenge(reply, pick(request, challenges))
  return withReason(new InsufficientUserAuthenticationError(), reason)
}

// The reason rides on the error, where Fastify's log of the error shows it; the response body is
// serialized from statusCode, code, error and message only, so it never reaches the client.
function withReason (error: Error, reason: RequirementFailure): Error {
  return Object.assign(error, { reason })
}

/** The requirement a hook made by `app.requires()` or `config.requires` checks; undefined for another function. */
export function requirementOfHook (hook: unknown): ResolvedRequirement | undefined {
  return (hook as TaggedHook | null | undefined)?.[kRequirement]
}

// debugAuthorization: the decision and why, never the token or its claims' values.
function logged (check: Check, requirement: ResolvedRequirement): Check {
  return (request, reply) => {
    const error = check(request, reply)
    if (!request.isAuthenticated) return error
    request.log.info({
      requirement: {
        method: request.method,
        route: request.routeOptions.url,
        scopes: requirement.scopes,
        anyOf: requirement.anyOf,
        acr: requirement.acr,
        maxAge: requirement.maxAge,
        userid: request.authenticatedUserid,
        allowed: error === undefined
      }
    }, error === undefined ? 'the requirement is met' : `the requirement is not met: ${(error as Error & { reason: string }).reason}`)
    return error
  }
}
