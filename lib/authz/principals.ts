/**
 * The principal every request has, anonymous or not (Pyramid's `Everyone`).
 * @example
 * ```ts
 * import { Allow, Everyone, type ACL } from 'fastify-jwt-security'
 *
 * class Root {
 *   // anonymous requests hold Everyone too: the public pages need no token
 *   __acl__: ACL = [[Allow, Everyone, 'view'], [Allow, 'role:editor', 'edit']]
 * }
 * ```
 */
export const Everyone = 'system.Everyone'

/**
 * The principal of every authenticated request (Pyramid's `Authenticated`).
 * @example
 * ```ts
 * import { Authenticated } from 'fastify-jwt-security'
 *
 * // with no ACL, the default rule grants a permission equal to a principal: any valid token may
 * app.get('/me', { preHandler: app.permits(Authenticated) }, async (request) => request.identity)
 * ```
 */
export const Authenticated = 'system.Authenticated'

/**
 * The principals of an anonymous request. Internal: the package does not export it.
 * @example
 * ```ts
 * import { ANONYMOUS_PRINCIPALS } from './principals.js'
 *
 * // frozen and shared, so an anonymous request allocates no list
 * const principals = (request.identity as JwtIdentity | null)?.principals ?? ANONYMOUS_PRINCIPALS
 * ```
 */
export const ANONYMOUS_PRINCIPALS: readonly string[] = Object.freeze([Everyone])

/**
 * Userids that would impersonate a system principal: never accepted as an identity. Internal: the
 * package does not export it.
 * @example
 * ```ts
 * import { isReservedUserid } from './principals.js'
 *
 * // as in Pyramid: a userid must never read as a system principal in ACLs and logs
 * if (isReservedUserid(claims.sub)) request.authFailure = { error: 'invalid_token', reason: 'subject_reserved', claim: 'sub' }
 * ```
 */
export function isReservedUserid (userid: string): boolean {
  return userid === Everyone || userid === Authenticated
}
