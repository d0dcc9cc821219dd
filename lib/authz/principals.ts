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

// Frozen and shared, so that an anonymous request allocates no list.
export const ANONYMOUS_PRINCIPALS: readonly string[] = Object.freeze([Everyone])

// As in Pyramid: a userid must never read as a system principal in ACLs and logs, nor as a scope.
export function isReservedUserid (userid: string): boolean {
  return userid === Everyone || userid === Authenticated || userid.startsWith('scope:')
}
