import { format, inspect } from 'node:util'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { JwtClaims } from '../tokens/claims.js'
import type { CreateTokenOptions } from '../tokens/tokens.js'
import type { PolicyDpop } from '../dpop/dpop-checker.js'

/**
 * A value or a promise of it: every policy method may be sync or async.
 * @example
 * ```ts
 * import type { FastifyRequest } from 'fastify'
 * import type { MaybePromise } from 'fastify-jwt-security'
 *
 * // a cache hit answers synchronously, and the plugin then creates no promise for the request
 * function identity (request: FastifyRequest): MaybePromise<User | null> {
 *   const key = String(request.headers['x-api-key'])
 *   return cache.get(key) ?? users.findByKey(key)
 * }
 * ```
 */
export type MaybePromise<T> = T | Promise<T>

/**
 * The result of a permission check that explains itself, as Pyramid's `PermitsResult`.
 * `msg` is built from the format string and its arguments only when read (util.format rules:
 * `%s`, `%d`, `%j`, `%o`), so a check on the request path never pays for the message.
 * `util.inspect` (so `console.log`) and `String()` show Pyramid's repr without the address:
 * `<Denied with msg 'no grant'>`.
 * @example
 * ```ts
 * import type { PermitsResult } from 'fastify-jwt-security'
 *
 * const result: PermitsResult = await request.hasPermission('edit', article)
 * // reading msg formats it: only pay for that when the answer is no
 * if (!result.allowed) request.log.info({ permission: 'edit' }, result.msg)
 * ```
 */
export abstract class PermitsResult {
  /** True for {@link Allowed}, false for {@link Denied}. */
  abstract readonly allowed: boolean
  /** The format string given to the constructor. */
  readonly template: string
  /** The format arguments, as Pyramid's `args`: those given to the constructor. */
  readonly args: readonly unknown[]

  constructor (template: string, ...args: unknown[]) {
    this.template = template
    this.args = args
  }

  /** The explanation: `template` formatted with `args`. */
  get msg (): string {
    return format(this.template, ...this.formatArgs())
  }

  /** The values `msg` formats; a subclass that keeps its values in fields builds them here, on demand. */
  protected formatArgs (): readonly unknown[] {
    return this.args
  }

  /** The class and the message, as Pyramid's repr without the address: `<Denied with msg 'no grant'>`. */
  toString (): string {
    return `<${this.constructor.name} with msg ${inspect(this.msg)}>`
  }

  [inspect.custom] (): string {
    return this.toString()
  }
}

/**
 * A permission granted.
 * @example
 * ```ts
 * import { Allowed, Denied } from 'fastify-jwt-security'
 *
 * permits (request: FastifyRequest, context: Article, permission: string) {
 *   const userid = request.authenticatedUserid
 *   if (userid === context.owner) return new Allowed('%s may %s', userid, permission)
 *   return new Denied('%s does not own article %s', userid, context.id)
 * }
 * ```
 */
export class Allowed extends PermitsResult {
  readonly allowed = true
}

/**
 * A permission refused. The message is for logs and debugging: it never reaches a response body.
 * @example
 * ```ts
 * import { Denied, Everyone } from 'fastify-jwt-security'
 *
 * permits (request: FastifyRequest, context: unknown, permission: string) {
 *   // %o is formatted only if msg is read: a refusal on the request path costs no formatting
 *   return new Denied('no principal of %o grants %s', request.identity?.principals ?? [Everyone], permission)
 * }
 * ```
 */
export class Denied extends PermitsResult {
  readonly allowed = false
}

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

/**
 * What the plugin gives a policy at registration ({@link SecurityPolicy.register}): the token
 * service and the settings of that registration. The built-in JWT policies verify, sign and check
 * revocation through it, and so can an app's own policy.
 * @example
 * ```ts
 * import type { FastifyInstance, FastifyRequest } from 'fastify'
 * import type { PolicyContext, SecurityPolicy } from 'fastify-jwt-security'
 *
 * // Tokens in an X-Api-Token header, verified with the plugin's keys and claim rules. The header
 * // carries no DPoP proof: tokens bound to a key, or that DPoP is required of, are refused.
 * class ApiTokenPolicy implements SecurityPolicy<string> {
 *   #context: PolicyContext | null = null
 *   register (_fastify: FastifyInstance, context: PolicyContext) { this.#context = context }
 *   async identity (request: FastifyRequest) {
 *     const context = this.#context
 *     const token = request.headers['x-api-token']
 *     if (typeof token !== 'string' || context === null) return null
 *     const claims = await context.tokens.verifyAnew(token).catch(() => null)
 *     return claims === null || context.dpop.bearerFailure(claims) !== null ? null : claims.sub
 *   }
 *   permits (request: FastifyRequest) { return request.identity !== null }
 *   remember () {}
 *   forget () {}
 * }
 * ```
 */
export interface PolicyContext {
  /** Signs and verifies tokens with the plugin's keys and claim rules. */
  readonly tokens: PolicyTokens
  /** The revocation check of the `revocation` option, or null without a store. */
  readonly revocation: PolicyRevocation | null
  /** The `callback` option, or null. */
  readonly callback: IdentityCallback | null
  /** The `principalClaims` option. */
  readonly principalClaims: readonly string[]
  /**
   * The principals the plugin's options derive from verified claims, as the built-in policies add
   * them after `Everyone`, `Authenticated` and the userid: the roles (the claims of
   * `principalClaims`, or of the claims mapping of the token's trusted issuer) unless a `callback`
   * is set, then the scopes as `scope:<name>`.
   */
  principalsOf (claims: JwtClaims): string[]
  /** The `realm` option, as the challenges carry it. */
  readonly realm: string
  /** The DPoP checks (the `dpop` option and the issuers' modes); present without the option too, to refuse DPoP-bound tokens sent as bearer tokens. */
  readonly dpop: PolicyDpop
}

/**
 * The token operations of a {@link PolicyContext}.
 * @example
 * ```ts
 * import type { PolicyTokens } from 'fastify-jwt-security'
 *
 * // The verified-token cache first, as the built-in policies do: a hit answers synchronously.
 * async function claimsOf (tokens: PolicyTokens, token: string) {
 *   return tokens.cached(token)?.claims ?? await tokens.verifyAnew(token)
 * }
 * ```
 */
export interface PolicyTokens {
  /** The `expiresIn` option in seconds, or null when tokens do not expire. */
  readonly expiresIn: number | null
  /** The plugin's clock (the `now` option), in seconds since the epoch. */
  nowSeconds (): number
  /** Signs a token for `userid`, as `request.createJwtToken` does. */
  sign (userid: unknown, extraClaims?: unknown, options?: CreateTokenOptions): Promise<string>
  /**
   * The entry of `token` when the verified-token cache holds it and it is still valid; undefined
   * otherwise. Its `derived` slot keeps what the built-in JWT policies derived from the claims
   * (their identity): a policy of the app should leave it alone.
   */
  cached (token: string): { readonly claims: JwtClaims, derived: unknown } | undefined
  /** Verifies `token` fully; rejects with an error whose `reason` says why (`token_expired`, `signature_invalid`…). */
  verifyAnew (token: string): Promise<JwtClaims>
  /** True when `claims` were verified with a trusted issuer's keys (the `issuers` option); false for the app's own tokens. */
  fromTrustedIssuer (claims: JwtClaims): boolean
}

/**
 * The revocation check of a {@link PolicyContext}.
 * @example
 * ```ts
 * import type { FastifyRequest } from 'fastify'
 * import type { JwtClaims, PolicyContext } from 'fastify-jwt-security'
 *
 * // Throws (a 503) when the store cannot answer, unless it is set to fail open.
 * async function stillValid (context: PolicyContext, request: FastifyRequest, claims: JwtClaims) {
 *   return context.revocation === null || !(await context.revocation.isRevoked(request, claims))
 * }
 * ```
 */
export interface PolicyRevocation {
  /** Whether the verified token of `claims` was revoked; synchronous when the store is. */
  isRevoked (request: FastifyRequest, claims: JwtClaims): boolean | Promise<boolean>
  /** Tells the check that sessions last at most `seconds` from their auth_time (the cookie policy's maxSessionAge). */
  addSessionMaxAge (seconds: number): void
}

/**
 * A credential transport of a policy, as a security scheme of the app's OpenAPI document
 * ({@link SecurityPolicy.securitySchemes}).
 * @example
 * ```ts
 * import type { SecurityScheme } from 'fastify-jwt-security'
 *
 * const apiToken: SecurityScheme = {
 *   name: 'apiTokenAuth',
 *   openapi: { type: 'apiKey', in: 'header', name: 'X-Api-Token', description: 'A JWT, sent bare' },
 *   swagger: { type: 'apiKey', in: 'header', name: 'X-Api-Token' }
 * }
 * ```
 */
export interface SecurityScheme {
  /** The key of the scheme in `components.securitySchemes` (a number is added when two differ). */
  readonly name: string
  /** The OpenAPI 3 security scheme object. */
  readonly openapi: Readonly<Record<string, string>>
  /** The Swagger 2.0 one, or null where 2.0 cannot describe the transport (a cookie). */
  readonly swagger: Readonly<Record<string, string>> | null
}

/**
 * Pyramid 2.0's security policy, for Fastify. The plugin calls `identity` once per request
 * (in an onRequest hook) and keeps the result on `request.identity`; route permission checks call
 * `permits`; `reply.remember()` and `reply.forget()` call `remember` and `forget`.
 * Every method may return a promise.
 *
 * @typeParam Identity - what `identity` returns for an authenticated request.
 * @example
 * ```ts
 * import type { FastifyRequest } from 'fastify'
 * import type { SecurityPolicy } from 'fastify-jwt-security'
 *
 * class ApiKeyPolicy implements SecurityPolicy<{ userid: string }> {
 *   identity (request: FastifyRequest) { return keys.get(String(request.headers['x-api-key'])) ?? null }
 *   permits (request: FastifyRequest) { return request.identity !== null }
 *   remember () {}
 *   forget () {}
 * }
 * ```
 */
export interface SecurityPolicy<Identity = unknown> {
  /** The identity behind the request, or null for an anonymous (or rejected) request. */
  identity (request: FastifyRequest): MaybePromise<Identity | null>
  /**
   * The userid of `request.identity`, or null. Optional: without it the plugin uses the identity's
   * `userid` property when it is a string, or the identity itself when it is a string.
   */
  authenticatedUserid? (request: FastifyRequest): MaybePromise<string | null>
  /** Whether the request may exercise `permission` on `context` (null when the route gives none). */
  permits (request: FastifyRequest, context: unknown, permission: string): MaybePromise<PermitsResult | boolean>
  /**
   * Log `userid` in for the next requests (the cookie policy sets its cookie here). `userid` is
   * what `reply.remember()` was given, checked as createJwtToken checks it and always a string:
   * a safe integer arrives as its decimal digits.
   */
  remember (request: FastifyRequest, reply: FastifyReply, userid: string, claims?: Record<string, unknown>): MaybePromise<void>
  /** Log the request's identity out (the cookie policy clears its cookie here). */
  forget (request: FastifyRequest, reply: FastifyReply): MaybePromise<void>
  /**
   * Called once, when the plugin is registered, before the first request: the policy may add
   * hooks or decorators to `fastify` (the cookie policy registers @fastify/cookie and its reissue
   * hook) and keep `context` to sign, verify and check revocation. An error fails the registration.
   */
  register? (fastify: FastifyInstance, context: PolicyContext): MaybePromise<void>
  /** The scheme of the `WWW-Authenticate` challenges of 401 and 400 responses. Default `'Bearer'`. */
  readonly challengeScheme?: string
  /** False when `remember` and `forget` do nothing: a `PolicyChain` then leaves the policy out of them. Default true. */
  readonly supportsRemember?: boolean
  /** The security schemes of the policy's credential transports, for @fastify/swagger's document. Default: none. */
  securitySchemes? (): readonly SecurityScheme[]
}

/** Turns what `permits` returned into an {@link Allowed} or a {@link Denied}; a TypeError (a 500) for anything else. */
export function toPermitsResult (value: unknown, permission: string): PermitsResult {
  if (value instanceof PermitsResult) return value
  if (value === true) return new Allowed('the security policy allowed %s', permission)
  if (value === false) return new Denied('the security policy denied %s', permission)
  throw new TypeError('SecurityPolicy.permits must return an Allowed, a Denied or a boolean')
}

/** True for a promise or any thenable. */
export function isPromiseLike (value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function'
}
