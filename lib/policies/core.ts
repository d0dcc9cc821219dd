import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { SecurityPolicy } from './policy.js'
import type { RevocationGuard } from '../revocation/guard.js'
import type { TokenService } from '../tokens/tokens.js'

/**
 * Turns a verified userid into extra principals (Pyramid's groupfinder). It runs after the token
 * is verified, so `request.jwtClaims` is set. Return null (or undefined) to refuse the identity.
 * @example
 * ```ts
 * import jwtSecurity, { type IdentityCallback } from 'fastify-jwt-security'
 *
 * const callback: IdentityCallback = async (userid) => {
 *   const user = await db.users.find(userid)
 *   return user === null ? null : user.roles.map((role) => `role:${role}`)
 * }
 * await app.register(jwtSecurity, { secret: process.env.JWT_SECRET, callback })
 * ```
 */
export type IdentityCallback = (userid: string, request: FastifyRequest) =>
  readonly string[] | null | undefined | Promise<readonly string[] | null | undefined>

/** What one registration of the plugin resolved at register time, shared by its policies and hooks. */
export interface SecurityCore {
  readonly tokens: TokenService
  readonly policy: SecurityPolicy
  readonly callback: IdentityCallback | null
  readonly principalClaims: readonly string[]
  readonly realm: string
  /** The revocation check, or null when no store is configured. */
  readonly revocation: RevocationGuard | null
}

/**
 * A policy that needs the Fastify instance at register time (to add hooks or @fastify/cookie)
 * implements a method under this key; the plugin calls it once, before the first request.
 */
export const kRegisterPolicy = Symbol('fastify-jwt-security.registerPolicy')

/** A policy with a register-time step. */
export interface RegisteringPolicy {
  [kRegisterPolicy] (fastify: FastifyInstance, core: SecurityCore): Promise<void> | void
}

/** Where the plugin keeps its core on the Fastify instance. */
export const kSecurityCore = Symbol('fastify-jwt-security.core')

/** The core of the plugin registered on the request's instance. */
export function coreOf (request: FastifyRequest): SecurityCore {
  const core = (request.server as FastifyInstance & { [kSecurityCore]?: SecurityCore })[kSecurityCore]
  if (core === undefined) throw new Error('fastify-jwt-security is not registered on this Fastify instance')
  return core
}
