import type { FastifyInstance, FastifyPluginAsync, FastifyRequest, RouteHandlerMethod } from 'fastify'
import fp from 'fastify-plugin'
import type { JSONWebKeySet } from 'jose'
import type { AuthFailure } from './policies/auth-failure.js'
import { buildChallenges } from './authz/permits.js'
import type { JwtClaims } from './tokens/claims.js'
import { identityHook } from './policies/identity-hook.js'
import { buildKeyRing, EMPTY_KEY_RING } from './keys/key-ring.js'
import { buildIssuers, type IssuerVerifier } from './keys/issuers.js'
import { DpopChecker } from './dpop/dpop-checker.js'
import type { DpopMode } from './dpop/modes.js'
import type { ResolvedDpop } from './dpop/options.js'
import { resolveOptions, type JwtSecurityOptions, type ResolvedOptions } from './config/options.js'
import { PermissionChecker, type ContextSource, type NO_PERMISSION_REQUIRED, type PermissionHook, type PermissionHookName, type PermitsOptions } from './authz/permits.js'
import type { PermitsResult, PolicyContext } from './policies/policy.js'
import { RevocationGuard, type RevokeAllOptions } from './revocation/guard.js'
import { MAX_TOKEN_LIFETIME, TokenService, type CreateTokenOptions } from './tokens/tokens.js'
import { toTokenClaims, toUserid } from './tokens/claims.js'
import { decorateRefresh, type RefreshLifecycle, type RefreshSessionInfo, type TokenResponse } from './refresh/decorators.js'
import type { ResolvedRefresh } from './refresh/options.js'
import { documentSecurity, openIdConnectSchemes } from './openapi.js'
import { RequirementChecker } from './authz/requirement-checker.js'
import type { AccessRequirement } from './authz/requirements.js'
import { serveMetadata, type DpopMetadata } from './protected-resource/metadata.js'
import { isIssuer, type ResolvedProtectedResource } from './protected-resource/options.js'
import { ClaimsPrincipals, DEFAULT_SCOPE_CLAIMS } from './authz/claims-mapping.js'
import { InvalidClaimsError, InvalidOptionError, NoRevocationStoreError } from './errors.js'
import type { Claims, Identity, Permission } from './types.js'

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
    /**
     * Checks the request's DPoP proof as a token request's (RFC 9449 §4.3, without `ath`): for a
     * login that binds the token it creates to the client's key (`createJwtToken`'s `jkt`). Rejects
     * with a 400 error (`FST_JWT_SECURITY_DPOP_PROOF_REFUSED`, or `…_DPOP_NONCE_REQUIRED` with a
     * DPoP-Nonce header), or a 503 when the replay store cannot answer.
     */
    dpopProof (): Promise<{ jkt: string }>
  }
  interface FastifyReply {
    /**
     * Calls the policy's `remember` with `userid` as the token's `sub` will carry it (a safe integer
     * becomes its decimal string): the cookie policy sets its cookie; the header policy warns. A
     * userid no token could carry rejects with `FST_JWT_SECURITY_INVALID_CLAIMS` first.
     */
    remember (userid: string | number, claims?: Record<string, unknown>): Promise<void>
    /** Calls the policy's `forget` (the cookie policy clears its cookie), then revokes the request's token when a revocation store is configured, and ends its refresh session. */
    forget (): Promise<void>
    /**
     * Opens a refresh session for `userid` (the `refresh` option) and gives its first token
     * response: a short access token and a refresh token (in the body, or in the refresh cookie).
     * `jkt` binds both to a DPoP key (`request.dpopProof()`).
     */
    issueTokens (userid: string | number, claims?: Record<string, unknown>, options?: { jkt?: string }): Promise<TokenResponse>
  }
  interface FastifyInstance {
    /** A route hook (preHandler or onRequest) that requires `permission`: 401, 400 or 403 otherwise. */
    permits (permission: Permission, options?: PermitsOptions): PermissionHook
    /** A route hook that requires scopes and a step-up authentication level (`acr`, `maxAge`): 401, 400 or 403 otherwise. */
    requires (requirement: AccessRequirement): PermissionHook
    /** Creates a signed token, as `request.createJwtToken`, for scripts and tests. */
    createJwtToken (userid: string | number, extraClaims?: Record<string, unknown>, options?: CreateTokenOptions): Promise<string>
    /** The public keys as a JWK Set, to publish at `/.well-known/jwks.json`: never a secret or a private member. */
    jwks (): JSONWebKeySet
    /** Revokes one token (by its `jti` and `iss`) until it expires. Needs the `revocation` option. */
    revokeToken (claims: JwtClaims | Record<string, unknown>): Promise<void>
    /** Revokes every token of `userid` (a string, or a safe integer as in createJwtToken) issued before now ("sign out of all devices"). Needs the `revocation` option. */
    revokeAllFor (userid: string | number, options?: RevokeAllOptions): Promise<void>
    /** A route handler for refreshes (RFC 6749 §6): rotates the refresh token and answers a new token response, or a §5.2 error. Needs the `refresh` option. */
    refreshHandler (): RouteHandlerMethod
    /** The refresh sessions of `userid`, oldest first, for an account page. */
    listSessions (userid: string | number): Promise<RefreshSessionInfo[]>
    /** Ends the refresh session `id` of `userid` and revokes its access tokens; false when `userid` has no such session. */
    endSession (userid: string | number, id: string): Promise<boolean>
  }
  interface FastifyContextConfig {
    /** The permission this route requires, checked in onRequest; `NO_PERMISSION_REQUIRED` opts the route out of `defaultPermission`. */
    permission?: Permission | typeof NO_PERMISSION_REQUIRED
    /** The context handed to `policy.permits` for this route: a value, or a function of the request (may be async). */
    context?: ContextSource
    /** The hook `permission` is checked in: `'onRequest'` (default, before the body is read) or `'preHandler'`. */
    permissionHook?: PermissionHookName
    /** The scopes and step-up authentication (`acr`, `maxAge`) this route requires, checked in onRequest before `permission`. */
    requires?: AccessRequirement
  }
}

const plugin: FastifyPluginAsync<JwtSecurityOptions> = async function jwtSecurity (fastify, options) {
  const settings = resolveOptions(options)
  const issuers = await buildIssuers(settings.issuers, settings.issuer, fastify.log)
  const keys = await buildKeyRing(settings, fastify.log, issuers.length > 0)
  await Promise.all(issuers.map((verifier) => verifier.prefetched))
  const tokens = new TokenService({ ...settings, keys, issuers, ownKeys: keys !== EMPTY_KEY_RING })
  const { policy } = settings
  const dpop = new DpopChecker(settings.dpop, dpopModes(issuers, settings.dpop), () => settings.now?.() ?? Date.now(), keys !== EMPTY_KEY_RING)
  const challenges = buildChallenges(policy.challengeScheme ?? 'Bearer', settings.realm, settings.protectedResource?.metadataUrl ?? null,
    dpop.acceptsScheme ? { algs: dpop.algs, offersBearer: dpop.offersBearer, nonce: () => dpop.currentNonce() } : null)
  const checker = new PermissionChecker({
    policy,
    challenges,
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
      issuerLeeways: new Map(issuers.map((verifier) => [verifier.issuer, verifier.leeway])),
      maxLifetime: settings.maxTokenAge ?? (settings.expiresIn === null ? null : MAX_TOKEN_LIFETIME)
    })
  const ownPrincipals = new ClaimsPrincipals({ roles: settings.principalClaims, scopes: DEFAULT_SCOPE_CLAIMS })
  const principalsByIssuer = new Map(issuers.map((verifier) => [verifier.issuer, verifier.principals]))
  const withRoles = settings.callback === null
  const context: PolicyContext = Object.freeze({
    tokens,
    callback: settings.callback,
    principalClaims: settings.principalClaims,
    // Own tokens never carry a trusted issuer's iss: the token service routes by it.
    principalsOf: (claims: JwtClaims) => (principalsByIssuer.get(claims.iss as string) ?? ownPrincipals).of(claims, withRoles),
    realm: settings.realm,
    revocation,
    dpop
  })

  await policy.register?.(fastify, context)
  const refresh = settings.refresh === null ? null : await startRefresh(fastify, settings, settings.refresh, tokens, revocation, keys.signer !== null)
  if (dpop.acceptsScheme && !dpop.schemeRead) {
    throw new InvalidOptionError('dpop', 'no policy reads "Authorization: DPoP": use a JwtHeaderPolicy with the Authorization header (the default), alone or in a PolicyChain')
  }
  fastify.decorate('permits', (permission: string, permitsOptions?: PermitsOptions) => checker.hook(permission, permitsOptions))
  const requirements = new RequirementChecker({
    challenges,
    denial: (request, reply) => checker.denial(request, reply),
    nowSeconds: () => tokens.nowSeconds(),
    debugAuthorization: settings.debugAuthorization
  })
  fastify.decorate('requires', (requirement: AccessRequirement) => requirements.hook(requirement))
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
  fastify.decorateRequest('dpopProof', function (this: FastifyRequest) {
    return dpop.tokenRequestProof(this)
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
    await refresh?.forget(this, claims)
  })
  fastify.decorate('revokeToken', async (claims: unknown) => {
    await (revocation ?? noRevocationStore()).revokeToken(claims)
  })
  const knownIssuers = new Set(issuers.map((verifier) => verifier.issuer))
  fastify.decorate('revokeAllFor', async (userid: unknown, revokeOptions?: RevokeAllOptions) => {
    const issuer = revokeOptions?.issuer
    if (issuer !== undefined && !knownIssuers.has(issuer)) throw new InvalidClaimsError('issuer must be the issuer of an entry of the issuers option')
    await (revocation ?? noRevocationStore()).revokeAllFor(userid, issuer ?? settings.issuer)
    // A trusted issuer's tokens have no refresh sessions here.
    if (refresh !== null && issuer === undefined) await refresh.endAll(toUserid(userid), fastify.log)
  })
  if (settings.dpop !== null) await startReplayStore(fastify, settings.dpop)
  if (settings.revocation !== null) {
    const store = settings.revocation
    await store.init?.(fastify.log)
    fastify.addHook('onClose', async () => { await store.close?.() })
  }

  fastify.addHook('onRequest', identityHook(policy))
  // A route's config.requires is checked before its permission: its hook is added first.
  fastify.addHook('onRoute', (route) => {
    requirements.addRouteHook(route)
    checker.addRouteHook(route)
  })
  documentSecurity(fastify, policy, openIdConnectSchemes(issuers))
  const { protectedResource } = settings
  if (protectedResource !== null) {
    // Only issuers that are URLs can be authorization servers ('billing-service' with keys of its own is not).
    const authorizationServers = issuers.map((verifier) => verifier.issuer).filter(isIssuer)
    serveMetadata(fastify, protectedResource, authorizationServers, () => requirements.routeScopes(), dpopMetadata(protectedResource, settings.dpop, dpop))
  }
}

// What the document says of DPoP comes from the dpop option: a hand-written value could contradict it.
function dpopMetadata (resource: ResolvedProtectedResource, options: ResolvedDpop | null, dpop: DpopChecker): DpopMetadata | null {
  if (options === null || !dpop.acceptsScheme) return null
  const stated = DPOP_METADATA.find((name) => name in resource.members)
  if (stated !== undefined) throw new InvalidOptionError('protectedResource.extra', `${stated} is set from the dpop option: leave it out`)
  return { algorithms: options.rules.algorithms, required: !dpop.offersBearer }
}

// Refresh sessions need the revocation store (a reused token revokes its session's access tokens)
// and a key that signs (their access tokens are the app's own).
async function startRefresh (
  fastify: FastifyInstance, settings: ResolvedOptions, options: ResolvedRefresh, tokens: TokenService, revocation: RevocationGuard | null, signs: boolean
): Promise<RefreshLifecycle> {
  if (revocation === null) throw new InvalidOptionError('refresh', 'needs the revocation option: a reused refresh token revokes the access tokens of its session')
  if (!signs) throw new InvalidOptionError('refresh', 'needs a key that signs: a session\'s access tokens are the app\'s own')
  // A logout revokes its token's session (sid) until every token of the session has expired.
  revocation.addSessionMaxAge(options.maxSessionAge + options.accessTokenLifetime)
  return await decorateRefresh(fastify, options, {
    sign: async (userid, claims, tokenOptions) => await tokens.sign(userid, claims, tokenOptions),
    encodeClaims: (claims) => toTokenClaims(claims, settings.encodeClaim),
    revokeSession: async (sid, iss, ttl) => { await revocation.revokeSession(sid, iss, ttl) },
    now: () => settings.now?.() ?? Date.now(),
    issuer: settings.issuer,
    leeway: settings.leeway,
    dpop: settings.dpop !== null
  })
}

// Each trusted issuer's mode: its own, or 'allowed' when the plugin accepts DPoP at all.
function dpopModes (issuers: readonly IssuerVerifier[], dpop: ResolvedDpop | null): Map<string, DpopMode> {
  const modes = new Map<string, DpopMode>()
  for (const [index, verifier] of issuers.entries()) {
    if (dpop === null && verifier.dpop !== undefined && verifier.dpop !== 'off') {
      throw new InvalidOptionError(`issuers[${index}].dpop`, 'needs the plugin\'s dpop option (publicOrigin, replay store)')
    }
    modes.set(verifier.issuer, verifier.dpop ?? (dpop === null ? 'off' : 'allowed'))
  }
  return modes
}

async function startReplayStore (fastify: FastifyInstance, dpop: ResolvedDpop): Promise<void> {
  // The default stores are two, both in memory: neither needs starting or closing.
  const store = dpop.replay
  await store.init?.(fastify.log)
  fastify.addHook('onClose', async () => { await store.close?.() })
  const { nonces } = dpop
  if (nonces === null) return
  // Every answer to a request with a proof names the current nonce (RFC 9449 §8.2): clients keep
  // up with rotations without a refused request.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (request.headers.dpop !== undefined) reply.header('dpop-nonce', nonces.current())
    done(null, payload)
  })
}

const DPOP_METADATA = ['dpop_signing_alg_values_supported', 'dpop_bound_access_tokens_required']

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

export type { JwtSecurityOptions } from './config/options.js'
export type { AuthFailure } from './policies/auth-failure.js'
export type { JwtClaims, ClaimEncoder } from './tokens/claims.js'
export type { IdentityCallback, PolicyContext, PolicyTokens, PolicyRevocation, SecurityScheme } from './policies/policy.js'
export type { Duration } from './config/option-checks.js'
export type { Algorithm, AsymmetricAlgorithm, Secret, AsymmetricKey } from './keys/keys.js'
export type { KeySpec } from './keys/key-ring.js'
export { fromSettings, fromEnv, SETTING_NAMES } from './config/settings.js'
export type { SettingsSourceOptions } from './config/settings.js'
export type { JwksOptions } from './keys/remote-jwks.js'
export type { TrustedIssuer } from './keys/issuers.js'
export type { ClaimPath, ClaimsMapping } from './authz/claims-mapping.js'
export { SCOPE_PREFIX } from './authz/claims-mapping.js'
export type { PermitsOptions, PermissionHook, PermissionHookName, ContextSource } from './authz/permits.js'
export { NO_PERMISSION_REQUIRED } from './authz/permits.js'
export type { AccessRequirement } from './authz/requirements.js'
export type { ProtectedResourceOptions } from './protected-resource/options.js'
export { ACLHelper, ACLAllowed, ACLDenied, Allow, Deny, ALL_PERMISSIONS, DENY_ALL, AllPermissionsList, DEFAULT_DENY, NO_ACL_FOUND } from './authz/acl.js'
export type { ACE, ACL, AcePermissions, Resource } from './authz/acl.js'
export type { CreateTokenOptions } from './tokens/tokens.js'
export type { TokenCacheOptions } from './tokens/token-cache.js'
export type { Credential, MalformedCredential } from './policies/jwt-policy.js'
export type { Permissions, SecurityTypes, Permission, Identity, DeepReadonly, Claims, JwtIdentity } from './types.js'
export type { JwtHeaderPolicyOptions } from './policies/header-policy.js'
export type { SecurityPolicy, MaybePromise } from './policies/policy.js'
export { Allowed, Denied, PermitsResult } from './policies/policy.js'
export { JwtPolicy } from './policies/jwt-policy.js'
export { JwtHeaderPolicy } from './policies/header-policy.js'
export { JwtCookiePolicy, encodePyramidCookie, decodePyramidCookie } from './policies/cookie-policy.js'
export type { JwtCookiePolicyOptions, CsrfOptions, ReissueHook } from './policies/cookie-policy.js'
export { PolicyChain } from './policies/policy-chain.js'
export { MemoryRevocationStore } from './revocation/memory-store.js'
export type { MemoryRevocationStoreOptions } from './revocation/memory-store.js'
export { RedisRevocationStore } from './revocation/redis-store.js'
export type { RedisRevocationStoreOptions, RedisClientLike } from './revocation/redis-store.js'
export type { RevokeAllOptions } from './revocation/guard.js'
export type { RevocationStore, RevocationQuery, RevokedToken, RevokedSession, RevokedSubject } from './revocation/store.js'
export { Everyone, Authenticated } from './authz/principals.js'
export * as errors from './errors.js'
export type { DpopOptions } from './dpop/options.js'
export type { DpopMode } from './dpop/modes.js'
export type { DpopNonceOptions } from './dpop/nonces.js'
export type { PolicyDpop } from './dpop/dpop-checker.js'
export type { DpopReplayStore, MemoryDpopReplayStoreOptions } from './dpop/replay-store.js'
export { MemoryDpopReplayStore } from './dpop/replay-store.js'
export type { RedisDpopClientLike, RedisDpopReplayStoreOptions } from './dpop/redis-replay-store.js'
export { RedisDpopReplayStore } from './dpop/redis-replay-store.js'
export type { RefreshOptions, RefreshCookieOptions } from './refresh/options.js'
export type { RefreshFamily, RefreshRotation, RefreshStore } from './refresh/store.js'
export type { TokenPair } from './refresh/sessions.js'
export type { TokenResponse, RefreshSessionInfo } from './refresh/decorators.js'
export type { MemoryRefreshStoreOptions } from './refresh/memory-store.js'
export { MemoryRefreshStore } from './refresh/memory-store.js'
export type { RedisRefreshClientLike, RedisRefreshStoreOptions } from './refresh/redis-store.js'
export { RedisRefreshStore } from './refresh/redis-store.js'
