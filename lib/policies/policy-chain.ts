import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { InvalidOptionError } from '../errors.js'
import { defaultUserid } from './identity-hook.js'
import type { PermitsResult, PolicyContext, SecurityPolicy, SecurityScheme } from './policy.js'

/**
 * Several policies in order of precedence, for apps serving API clients and browsers alike.
 * The identity comes from the first policy that finds a credential; once a policy has refused a
 * credential (`request.authFailure` is set) no later policy is asked, so a bad Authorization header
 * never falls back to the cookie. `remember` and `forget` go to every policy that supports them.
 * @example
 * policy: new PolicyChain([new JwtHeaderPolicy(), new JwtCookiePolicy()])
 */
export class PolicyChain implements SecurityPolicy {
  readonly policies: readonly SecurityPolicy[]
  /** The challenge scheme of the first policy. */
  readonly challengeScheme: string
  readonly #identifiedBy = new WeakMap<FastifyRequest, SecurityPolicy>()

  constructor (policies: SecurityPolicy[]) {
    if (!Array.isArray(policies) || policies.length === 0 || !policies.every(isPolicy)) {
      throw new InvalidOptionError('policies', 'expected a non-empty array of security policies')
    }
    this.policies = Object.freeze([...policies])
    this.challengeScheme = (policies[0] as SecurityPolicy).challengeScheme ?? 'Bearer'
  }

  /** Registers every policy of the chain, in order. */
  async register (fastify: FastifyInstance, context: PolicyContext): Promise<void> {
    for (const policy of this.policies) await policy.register?.(fastify, context)
  }

  /** The security schemes of every policy of the chain. */
  securitySchemes (): readonly SecurityScheme[] {
    return this.policies.flatMap((policy) => policy.securitySchemes?.() ?? [])
  }

  async identity (request: FastifyRequest): Promise<unknown> {
    for (const policy of this.policies) {
      const identity = await policy.identity(request)
      if (identity !== null && identity !== undefined) {
        this.#identifiedBy.set(request, policy)
        return identity
      }
      if (request.authFailure !== null) return null
    }
    return null
  }

  async authenticatedUserid (request: FastifyRequest): Promise<string | null> {
    const policy = this.#identifiedBy.get(request)
    if (policy?.authenticatedUserid === undefined) return defaultUserid(request.identity)
    return await policy.authenticatedUserid(request)
  }

  /** Asks the policy that identified the request, else the first one. */
  permits (request: FastifyRequest, context: unknown, permission: string): PermitsResult | boolean | Promise<PermitsResult | boolean> {
    return (this.#identifiedBy.get(request) ?? this.policies[0] as SecurityPolicy).permits(request, context, permission)
  }

  async remember (request: FastifyRequest, reply: FastifyReply, userid: string, claims?: Record<string, unknown>): Promise<void> {
    for (const policy of this.#remembering()) await policy.remember(request, reply, userid, claims)
  }

  async forget (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    for (const policy of this.#remembering()) await policy.forget(request, reply)
  }

  #remembering (): SecurityPolicy[] {
    return this.policies.filter((policy) => policy.supportsRemember !== false)
  }
}

function isPolicy (value: unknown): value is SecurityPolicy {
  const policy = value as Partial<SecurityPolicy> | null
  return typeof policy?.identity === 'function' && typeof policy.permits === 'function' &&
    typeof policy.remember === 'function' && typeof policy.forget === 'function'
}
