import type { Authenticated, Everyone } from './authz/principals.js'
import type { JwtClaims } from './tokens/claims.js'

/**
 * The identity the built-in JWT policies put on `request.identity`.
 * @example
 * ```ts
 * import type { JwtIdentity } from 'fastify-jwt-security'
 *
 * app.get('/me', { config: { permission: 'system.Authenticated' } }, async (request) => {
 *   // Not null here: the permission check turned anonymous requests away with a 401.
 *   const { userid, principals, claims } = request.identity as JwtIdentity
 *   return { userid, principals, expiresAt: claims.exp }
 * })
 * ```
 */
export interface JwtIdentity {
  /** The token's `sub`. */
  readonly userid: string
  /** `system.Everyone`, `system.Authenticated`, the userid, then the callback's (or the claims') principals. */
  readonly principals: readonly string[]
  /** The verified claims, as on `request.jwtClaims`. */
  readonly claims: JwtClaims
}

/**
 * Permissions an app declares to get compile-time checked permission names.
 * @example
 * ```ts
 * declare module 'fastify-jwt-security' {
 *   interface Permissions { view: true, edit: true }
 * }
 * app.permits('veiw') // compile error
 * ```
 */
export interface Permissions {}

/**
 * Types an app declares for its identity and claims. They are types only: nothing checks at run
 * time that a token carries the declared claims, so validate them in the `callback` (or the
 * identity of a custom policy) when clients other than this app mint tokens.
 * @example
 * ```ts
 * declare module 'fastify-jwt-security' {
 *   interface SecurityTypes { identity: User, claims: { roles: string[] } }
 * }
 * ```
 */
export interface SecurityTypes {}

/**
 * A permission name: any string, or one of the declared {@link Permissions}. With declared
 * permissions, `Everyone` and `Authenticated` stay valid too: the built-in policies' default rule
 * grants a permission equal to one of the request's principals.
 * @example
 * ```ts
 * import type { Permission } from 'fastify-jwt-security'
 *
 * function requireAll (...permissions: Permission[]) {
 *   return permissions.map((permission) => app.permits(permission))
 * }
 * app.delete('/articles/:id', { preHandler: requireAll('edit', 'delete') }, deleteArticle)
 * ```
 */
export type Permission = [keyof Permissions] extends [never] ? string : Extract<keyof Permissions, string> | typeof Everyone | typeof Authenticated

/**
 * The type of `request.identity` when not null: the declared one, else {@link JwtIdentity}.
 * @example
 * ```ts
 * import type { Identity } from 'fastify-jwt-security'
 *
 * // With no identity declared in SecurityTypes, this is a JwtIdentity.
 * function isAdmin (identity: Identity | null): boolean {
 *   return identity?.principals.includes('role:admin') ?? false
 * }
 * ```
 */
export type Identity = SecurityTypes extends { identity: infer I } ? I : JwtIdentity

/**
 * A type whose every level is read-only, as the frozen claims are at run time.
 * @example
 * ```ts
 * import type { DeepReadonly } from 'fastify-jwt-security'
 *
 * type Profile = DeepReadonly<{ roles: string[], address: { city: string } }>
 * declare const profile: Profile
 * profile.roles.push('role:admin') // compile error: the array is read-only
 * ```
 */
export type DeepReadonly<T> = T extends ReadonlyArray<infer U>
  ? ReadonlyArray<DeepReadonly<U>>
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T

/**
 * The type of `request.jwtClaims` when not null: {@link JwtClaims} and the declared claims, read-only.
 * @example
 * ```ts
 * import type { Claims } from 'fastify-jwt-security'
 *
 * declare module 'fastify-jwt-security' {
 *   interface SecurityTypes { claims: { roles: string[] } }
 * }
 * const rolesOf = (claims: Claims | null): readonly string[] => claims?.roles ?? []
 * ```
 */
export type Claims = SecurityTypes extends { claims: infer C } ? JwtClaims & DeepReadonly<C> : JwtClaims
