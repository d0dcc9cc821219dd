import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { JSONWebKeySet } from 'jose'
import type { AuthFailure } from './auth-failure.js'
import { buildChallenges } from './challenges.js'
import type { JwtClaims } from './claims.js'
import { kRegisterPolicy, kSecurityCore, type RegisteringPolicy, type SecurityCore } from './core.js'
import { identityHook } from './identity-hook.js'
import type { JwtIdentity } from './jwt-policy.js'
import { buildKeyRing } from './key-ring.js'
import { resolveOptions, type JwtSecurityOptions } from './options.js'
import { PermissionChecker, type ContextSource, type NO_PERMISSION_REQUIRED, type PermissionHook, type PermissionHookName, type PermitsOptions } from './permits.js'
import type { PermitsResult } from './policy.js'
import { RevocationGuard } from './revocation/guard.js'
import { MAX_TOKEN_LIFETIME, TokenService, type CreateTokenOptions } from './tokens.js'
import { toUserid } from './userid.js'
import { documentSecurity } from './openapi.js'
import { NoRevocationStoreError } from './errors.js'
import type { Authenticated, Everyone } from './principals.js'

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

declare module 'fastify' {
  interface FastifyRequest {
    /** What the security policy's `identity()` returned, or null. Resolved once, in onRequest. */
    identity: Identity | null
    /** The verified claims of the request's token, or null. */
    jwtClaims: Claims | null
    /** The authenticated userid, or null. */
    authenticatedUserid: string | null
    /** True when `authenticatedUserid` is not null. */
    isAuthenticated: boolean
    /** Why a presented credential was refused, or null. */
    authFailure: AuthFailure | null
    /** Asks the security policy whether this request may exercise `permission` on `context`. */
    hasPermission (permission: Permission, context?: unknown): Promise<PermitsResult>
    /** Creates a signed token for `userid` with the plugin's settings. */
    createJwtToken (userid: string | number, extraClaims?: Record<string, unknown>, options?: CreateTokenOptions): Promise<string>
  }
  interface FastifyReply {
    /**
     * Calls the policy's `remember` with `userid` as the token's `sub` will carry it (a safe integer
     * becomes its decimal string): the cookie policy sets its cookie; the header policy warns. A
     * userid no token could carry rejects with `FST_JWT_SECURITY_INVALID_CLAIMS` first.
     */
    remember (userid: string | number, claims?: Record<string, unknown>): Promise<void>
    /** Calls the policy's `forget` (the cookie policy clears its cookie), then revokes the request's token when a revocation store is configured. */
    forget (): Promise<void>
  }
  interface FastifyInstance {
    /** A route hook (preHandler or onRequest) that requires `permission`: 401, 400 or 403 otherwise. */
    permits (permission: Permission, options?: PermitsOptions): PermissionHook
    /** Creates a signed token, as `request.createJwtToken`, for scripts and tests. */
    createJwtToken (userid: string | number, extraClaims?: Record<string, unknown>, options?: CreateTokenOptions): Promise<string>
    /** The public keys as a JWK Set, to publish at `/.well-known/jwks.json`: never a secret or a private member. */
    jwks (): JSONWebKeySet
    /** Revokes one token (by its `jti` and `iss`) until it expires. Needs the `revocation` option. */
    revokeToken (claims: JwtClaims | Record<string, unknown>): Promise<void>
    /** Revokes every token of `userid` (a string, or a safe integer as in createJwtToken) issued before now ("sign out of all devices"). Needs the `revocation` option. */
    revokeAllFor (userid: string | number): Promise<void>
  }
  interface FastifyContextConfig {
    /** The permission this route requires, checked in onRequest; `NO_PERMISSION_REQUIRED` opts the route out of `defaultPermission`. */
    permission?: Permission | typeof NO_PERMISSION_REQUIRED
    /** The context handed to `policy.permits` for this route: a value, or a function of the request (may be async). */
    context?: ContextSource
    /** The hook `permission` is checked in: `'onRequest'` (default, before the body is read) or `'preHandler'`. */
    permissionHook?: PermissionHookName
  }
}

const plugin: FastifyPluginAsync<JwtSecurityOptions> = async function jwtSecurity (fastify, options) {
  const settings = resolveOptions(options)
  const keys = await buildKeyRing(settings, fastify.log)
  const tokens = new TokenService({ ...settings, keys })
  const { policy } = settings
  const scheme = (policy as { challengeScheme?: unknown }).challengeScheme ?? 'Bearer'
  const checker = new PermissionChecker({
    policy,
    challenges: buildChallenges(String(scheme), settings.realm),
    rootFactory: settings.rootFactory,
    defaultPermission: settings.defaultPermission,
    debugAuthorization: settings.debugAuthorization
  })
  const revocation = settings.revocation === null
    ? null
    : new RevocationGuard(settings.revocation, {
      nowSeconds: () => tokens.nowSeconds(),
      leeway: settings.leeway,
      issuer: settings.issuer,
      maxLifetime: settings.maxTokenAge ?? (settings.expiresIn === null ? null : MAX_TOKEN_LIFETIME)
    })
  const core: SecurityCore = Object.freeze({
    tokens, policy, callback: settings.callback, principalClaims: settings.principalClaims, realm: settings.realm, revocation
  })

  fastify.decorate(kSecurityCore, core)
  await (policy as Partial<RegisteringPolicy>)[kRegisterPolicy]?.(fastify, core)
  fastify.decorate('permits', (permission: string, permitsOptions?: PermitsOptions) => checker.hook(permission, permitsOptions))
  fastify.decorate('jwks', () => keys.jwks())
  fastify.decorate('createJwtToken', (userid: unknown, extraClaims?: unknown, tokenOptions?: CreateTokenOptions) =>
    tokens.sign(userid, extraClaims, tokenOptions))

  fastify.decorateRequest('identity', null)
  fastify.decorateRequest('jwtClaims', null)
  fastify.decorateRequest('authenticatedUserid', null)
  fastify.decorateRequest('isAuthenticated', false)
  fastify.decorateRequest('authFailure', null)
  fastify.decorateRequest(PermissionChecker.rootContextKey, null)
  fastify.decorateRequest('hasPermission', function (this: FastifyRequest, permission: string, context?: unknown) {
    return checker.check(this, permission, context)
  })
  fastify.decorateRequest('createJwtToken', function (userid: unknown, extraClaims?: unknown, tokenOptions?: CreateTokenOptions) {
    return tokens.sign(userid, extraClaims, tokenOptions)
  })
  fastify.decorateReply('remember', async function (userid: unknown, claims?: Record<string, unknown>) {
    await policy.remember(this.request, this, toUserid(userid), claims)
  })
  fastify.decorateReply('forget', async function () {
    const claims = this.request.jwtClaims
    await policy.forget(this.request, this)
    if (revocation !== null && claims !== null && typeof claims.jti === 'string') await revocation.revokeToken(claims)
  })
  fastify.decorate('revokeToken', async (claims: unknown) => {
    await (revocation ?? noRevocationStore()).revokeToken(claims)
  })
  fastify.decorate('revokeAllFor', async (userid: unknown) => {
    await (revocation ?? noRevocationStore()).revokeAllFor(userid)
  })
  if (settings.revocation !== null) {
    const store = settings.revocation
    await store.init?.(fastify.log)
    fastify.addHook('onClose', async () => { await store.close?.() })
  }

  fastify.addHook('onRequest', identityHook(policy))
  fastify.addHook('onRoute', (route) => checker.addRouteHook(route))
  documentSecurity(fastify, policy)
}

function noRevocationStore (): never {
  throw new NoRevocationStoreError()
}

/**
 * The plugin: resolves `request.identity` with the security policy on every request and adds
 * permission checks, token creation and remember/forget.
 * @example
 * ```ts
 * import jwtSecurity from 'fastify-jwt-security'
 *
 * await app.register(jwtSecurity, { secret: process.env.JWT_SECRET, expiresIn: '1h' })
 * app.get('/articles', { preHandler: app.permits('view') }, async (request) => request.identity)
 * ```
 */
const jwtSecurity = fp(plugin, { fastify: '5.x', name: 'fastify-jwt-security' })
export default jwtSecurity
export { jwtSecurity }

export type { JwtSecurityOptions } from './options.js'
export type { AuthFailure } from './auth-failure.js'
export type { JwtClaims, ClaimEncoder } from './claims.js'
export type { IdentityCallback } from './core.js'
export type { Duration } from './durations.js'
export type { Algorithm, AsymmetricAlgorithm, Secret, AsymmetricKey } from './keys.js'
export type { KeySpec } from './key-ring.js'
export { fromSettings, fromEnv, SETTING_NAMES } from './settings.js'
export type { SettingsSourceOptions } from './settings.js'
export type { JwksOptions } from './remote-jwks.js'
export type { PermitsOptions, PermissionHook, PermissionHookName, ContextSource } from './permits.js'
export { NO_PERMISSION_REQUIRED } from './permits.js'
export { ACLHelper, ACLAllowed, ACLDenied, Allow, Deny, ALL_PERMISSIONS, DENY_ALL, AllPermissionsList, DEFAULT_DENY, NO_ACL_FOUND } from './acl.js'
export type { ACE, ACL, AcePermissions, Resource } from './acl.js'
export type { CreateTokenOptions } from './tokens.js'
export type { TokenCacheOptions } from './token-cache.js'
export type { JwtIdentity, Credential, MalformedCredential } from './jwt-policy.js'
export type { JwtHeaderPolicyOptions } from './header-policy.js'
export type { SecurityPolicy, MaybePromise } from './policy.js'
export { Allowed, Denied, PermitsResult } from './policy.js'
export { JwtPolicy } from './jwt-policy.js'
export { JwtHeaderPolicy } from './header-policy.js'
export { JwtCookiePolicy, encodePyramidCookie, decodePyramidCookie } from './cookie-policy.js'
export type { JwtCookiePolicyOptions, CsrfOptions, ReissueHook } from './cookie-policy.js'
export { PolicyChain } from './policy-chain.js'
export { MemoryRevocationStore } from './revocation/memory-store.js'
export type { MemoryRevocationStoreOptions } from './revocation/memory-store.js'
export { RedisRevocationStore } from './revocation/redis-store.js'
export type { RedisRevocationStoreOptions, RedisClientLike } from './revocation/redis-store.js'
export type { RevocationStore, RevocationQuery, RevokedToken, RevokedSession, RevokedSubject } from './revocation/store.js'
export { Everyone, Authenticated } from './principals.js'
export * as errors from './errors.js'
