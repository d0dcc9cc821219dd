import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import {
  ForbiddenError, InvalidDpopProofError, InvalidOptionError, InvalidRequestError, InvalidTokenError, NoCredentialsError, TokenExpiredError, UseDpopNonceError
} from '../errors.js'
import { policyFailure } from '../policies/identity-hook.js'
import { isPromiseLike, toPermitsResult, type PermitsResult, type SecurityPolicy } from '../policies/policy.js'

/**
 * The permission that opts a route out of `defaultPermission` (Pyramid's
 * `NO_PERMISSION_REQUIRED`): `config: { permission: NO_PERMISSION_REQUIRED }`.
 * @example
 * ```ts
 * import jwtSecurity, { NO_PERMISSION_REQUIRED } from 'fastify-jwt-security'
 *
 * await app.register(jwtSecurity, { secret: process.env.JWT_SECRET, defaultPermission: 'view' })
 * app.get('/health', { config: { permission: NO_PERMISSION_REQUIRED } }, async () => 'ok')
 * ```
 */
export const NO_PERMISSION_REQUIRED = '__no_permission_required__'

/**
 * Where a permission check finds its context: a value (any but undefined, which means "the
 * default"), or a function of the request (may be async). The same for `config.context` and for
 * `app.permits()`'s `context` option.
 * @example
 * ```ts
 * import type { ContextSource } from 'fastify-jwt-security'
 *
 * const article: ContextSource = async (request) => await loadArticle((request.params as { id: string }).id)
 * app.put('/articles/:id', { preHandler: app.permits('edit', { context: article }) }, updateArticle)
 * ```
 */
export type ContextSource = ((request: FastifyRequest) => unknown) | NonNullable<unknown> | null

/**
 * The hook a route's declared permission is checked in.
 * @example
 * ```ts
 * import type { FastifyRequest } from 'fastify'
 * import type { PermissionHookName } from 'fastify-jwt-security'
 *
 * // The context reads the parsed body, which onRequest (the default) runs before.
 * const permissionHook: PermissionHookName = 'preHandler'
 * const context = (request: FastifyRequest) => loadArticle((request.body as { id: string }).id)
 * app.post('/articles/move', { config: { permission: 'edit', context, permissionHook } }, moveArticle)
 * ```
 */
export type PermissionHookName = 'onRequest' | 'preHandler'

/**
 * Options of `app.permits()`.
 * @example
 * ```ts
 * import type { PermitsOptions } from 'fastify-jwt-security'
 *
 * const ownArticle: PermitsOptions = { context: (request) => loadArticle((request.params as { id: string }).id) }
 * app.put('/articles/:id', { preHandler: app.permits('edit', ownArticle) }, updateArticle)
 * ```
 */
export interface PermitsOptions {
  /** The context handed to `policy.permits`; default: the route's `config.context`, else `rootFactory(request)`, else null. */
  context?: ContextSource
}

type Done = (error?: Error) => void

/**
 * A route hook that lets the request through or answers 401, 400 or 403: a Fastify hook with
 * `done`, or, called with the request and reply only, a function returning a promise.
 * @example
 * ```ts
 * import type { PermissionHook } from 'fastify-jwt-security'
 *
 * const canEdit: PermissionHook = app.permits('edit')
 * app.put('/articles/:id', { preHandler: canEdit }, updateArticle)
 * // Without done, as @fastify/auth calls it: rejects with the 401, 400 or 403 error.
 * app.post('/drafts', async (request, reply) => { await canEdit(request, reply); return saveDraft(request) })
 * ```
 */
export interface PermissionHook {
  (request: FastifyRequest, reply: FastifyReply, done: Done): void
  (request: FastifyRequest, reply: FastifyReply): Promise<void>
}

/** What the permission checks of one registration need, resolved at register time. */
export interface PermissionSettings {
  readonly policy: SecurityPolicy
  readonly challenges: Challenges
  readonly rootFactory: ((request: FastifyRequest) => unknown) | null
  readonly defaultPermission: string | null
  readonly debugAuthorization: boolean
}

const kPermission = Symbol('fastify-jwt-security.permission')
const kRootContext = Symbol('fastify-jwt-security.rootContext')
const kOpen = Symbol('fastify-jwt-security.open')

/**
 * Marks a route handler of the plugin's that must stay open whatever `defaultPermission` says (the
 * refresh handler: its caller's access token has expired); a route's own `config.permission` still applies.
 */
export function openHandler<Handler extends object> (handler: Handler): Handler {
  return Object.assign(handler, { [kOpen]: true as const })
}
const HOOK_NAMES: ReadonlySet<unknown> = new Set(['onRequest', 'preHandler'])
const ROUTE_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const

type TaggedHook = PermissionHook & { [kPermission]?: { permission: string, options: PermitsOptions } }
type ContextResolver = (request: FastifyRequest) => unknown
/** What a permission check reads of a route's config. */
interface RouteConfig { context?: unknown }

/** The permission checks of one registration: the route hooks and `request.hasPermission`. */
export class PermissionChecker {
  readonly #settings: PermissionSettings

  constructor (settings: PermissionSettings) {
    this.#settings = settings
  }

  /** The request decoration that memoises the root factory's context. */
  static readonly rootContextKey = kRootContext

  /** What the policy says of `permission` on `context` (default: the route's, else the root factory's). */
  async check (request: FastifyRequest, permission: string, context?: unknown): Promise<PermitsResult> {
    return await this.evaluate(request, permission, context)
  }

  /**
   * As {@link check}, synchronously when the context and the policy answer synchronously.
   * `defaultContext` gives the context when none is given.
   */
  evaluate (request: FastifyRequest, permission: string, context: unknown, defaultContext: ContextResolver = this.#requestDefault): PermitsResult | Promise<PermitsResult> {
    const resolved = context === undefined ? defaultContext(request) : context
    return isPromiseLike(resolved)
      ? Promise.resolve(resolved).then((value) => this.#decide(request, permission, value))
      : this.#decide(request, permission, resolved)
  }

  /**
   * A hook for `preHandler` or `onRequest` that requires `permission`. It is written with `done`
   * so that a decision made synchronously (a cached token, a policy that does not wait) costs no
   * promise; called without `done`, it returns a promise, for compositions such as @fastify/auth.
   * `route` is the config of the route the hook belongs to, when known: its default context is
   * then found once, here, rather than on every request.
   */
  hook (permission: string, options: PermitsOptions = {}, route?: RouteConfig): PermissionHook {
    if (typeof permission !== 'string' || permission.length === 0) {
      throw new InvalidOptionError('permission', 'app.permits() needs a permission name')
    }
    const source = options.context
    const contextOf = source === undefined
      ? () => undefined
      : typeof source === 'function' ? source as ContextResolver : () => source
    const defaultContext = route === undefined ? this.#requestDefault : this.#routeDefault(route)
    const checker = this

    function run (request: FastifyRequest, reply: FastifyReply, done: Done): void {
      let result: PermitsResult | Promise<PermitsResult>
      try {
        const context = contextOf(request)
        result = isPromiseLike(context)
          ? Promise.resolve(context).then((value) => checker.evaluate(request, permission, value, defaultContext))
          : checker.evaluate(request, permission, context, defaultContext)
      } catch (error) {
        done(policyFailure(request, error))
        return
      }
      if (!isPromiseLike(result)) {
        settle(checker, request, reply, result, done)
        return
      }
      result.then((value) => settle(checker, request, reply, value, done), (error: unknown) => done(policyFailure(request, error)))
    }

    const checkPermission = function checkPermission (request: FastifyRequest, reply: FastifyReply, done?: Done): void | Promise<void> {
      if (done !== undefined) return run(request, reply, done)
      return new Promise<void>((resolve, reject) => run(request, reply, (error) => { if (error === undefined) resolve(); else reject(error) }))
    } as TaggedHook
    checkPermission[kPermission] = { permission, options }
    return checkPermission
  }

  /**
   * Adds the check of a route's `config.permission` (or of `defaultPermission` when the route
   * declares none, neither in its config nor with an `app.permits()` hook), in onRequest before
   * the body is read, or in preHandler when `config.permissionHook` says so.
   */
  addRouteHook (route: RouteOptions): void {
    const config = (route.config ?? {}) as RouteConfig & { permission?: unknown, permissionHook?: unknown }
    const declared = bindPermissionHooks(this, route, config)
    let permission = config.permission
    if (permission === undefined) {
      if (this.#settings.defaultPermission === null || declared || (route.handler as { [kOpen]?: true })[kOpen] === true) return
      permission = this.#settings.defaultPermission
    }
    if (typeof permission !== 'string') throw new InvalidOptionError('config.permission', `route ${route.url}: expected a string`)
    if (permission === NO_PERMISSION_REQUIRED) return
    const hookName = config.permissionHook ?? 'onRequest'
    if (!HOOK_NAMES.has(hookName)) throw new InvalidOptionError('config.permissionHook', `route ${route.url}: expected 'onRequest' or 'preHandler'`)
    const hook = this.hook(permission, {}, config)
    const name = hookName as PermissionHookName
    const existing = route[name] as PermissionHook | PermissionHook[] | undefined
    route[name] = existing === undefined ? [hook] : [existing, hook].flat()
  }

  // A hook that does not know its route (request.hasPermission, a hook used outside a route's
  // options) reads the route's config on each call: request.routeOptions builds an object each time.
  readonly #requestDefault: ContextResolver = (request) =>
    this.#defaultContext(request, (request.routeOptions.config as RouteConfig).context)

  #routeDefault (route: RouteConfig): ContextResolver {
    const { context } = route
    if (context !== undefined) return typeof context === 'function' ? context as ContextResolver : () => context
    if (this.#settings.rootFactory === null) return () => null
    return (request) => this.#defaultContext(request, undefined)
  }

  #defaultContext (request: FastifyRequest, routeContext: unknown): unknown {
    if (routeContext !== undefined) return typeof routeContext === 'function' ? (routeContext as ContextResolver)(request) : routeContext
    const { rootFactory } = this.#settings
    if (rootFactory === null) return null
    // Once per request, however many checks: the first call's value (or promise) is kept.
    const memo = request as unknown as Record<symbol, unknown>
    if (memo[kRootContext] === null) memo[kRootContext] = rootFactory(request)
    return memo[kRootContext]
  }

  #decide (request: FastifyRequest, permission: string, context: unknown): PermitsResult | Promise<PermitsResult> {
    const answer = this.#settings.policy.permits(request, context ?? null, permission)
    return isPromiseLike(answer)
      ? Promise.resolve(answer).then((value) => this.#result(request, permission, value))
      : this.#result(request, permission, answer)
  }

  #result (request: FastifyRequest, permission: string, answer: unknown): PermitsResult {
    const result = toPermitsResult(answer, permission)
    if (this.#settings.debugAuthorization) logDecision(request, permission, result)
    return result
  }

  /**
   * The error a refused request gets. RFC 6750 §3 and RFC 9110 §15.5: 401 asks for (other)
   * credentials, 403 refuses these ones. With DPoP on, the error goes on the challenge of the scheme
   * the request used, and the other scheme is offered bare (RFC 9449 §7.1, §7.2).
   */
  denial (request: FastifyRequest, reply: FastifyReply): Error {
    if (request.isAuthenticated) return new ForbiddenError()
    const failure = request.authFailure
    const { challenges } = this.#settings
    const { dpop } = challenges
    if (failure === null) {
      if (dpop === null || dpop.offersBearer) addChallenge(reply, challenges.bare)
      if (dpop !== null) addChallenge(reply, dpop.bare)
      return new NoCredentialsError()
    }
    if (dpop !== null) {
      if (failure.error === 'invalid_dpop_proof') return offerBoth(reply, challenges, dpop.invalidProof, new InvalidDpopProofError())
      if (failure.error === 'use_dpop_nonce') {
        reply.header('dpop-nonce', dpop.nonce())
        return offerBoth(reply, challenges, dpop.useNonce, new UseDpopNonceError())
      }
      if (failure.error === 'invalid_token' && usesDpopScheme(request)) {
        const expired = failure.reason === 'token_expired'
        return offerBoth(reply, challenges, expired ? dpop.expired : dpop.invalidToken, expired ? new TokenExpiredError() : new InvalidTokenError())
      }
    }
    if (failure.error === 'invalid_request') {
      addChallenge(reply, challenges.invalidRequest)
      return withDpopOffered(reply, dpop, new InvalidRequestError())
    }
    if (failure.reason === 'token_expired') {
      addChallenge(reply, challenges.expired)
      return withDpopOffered(reply, dpop, new TokenExpiredError())
    }
    addChallenge(reply, challenges.invalidToken)
    return withDpopOffered(reply, dpop, new InvalidTokenError())
  }
}

// A refusal of a DPoP request: its challenge first, then Bearer, bare, where bearer tokens are accepted.
function offerBoth (reply: FastifyReply, challenges: Challenges, dpopChallenge: string, error: Error): Error {
  addChallenge(reply, dpopChallenge)
  if ((challenges.dpop as DpopChallenges).offersBearer) addChallenge(reply, challenges.bare)
  return error
}

function withDpopOffered (reply: FastifyReply, dpop: DpopChallenges | null, error: Error): Error {
  if (dpop !== null) addChallenge(reply, dpop.bare)
  return error
}

/** Whether the request's Authorization header uses the DPoP scheme: read again on the refusal path, rather than kept on every request. */
export function usesDpopScheme (request: FastifyRequest): boolean {
  const value = request.headers.authorization
  return typeof value === 'string' && /^dpop /i.test(value)
}

// A challenge that another check of the request already set (one composed with @fastify/auth, say)
// is kept next to the plugin's: RFC 9110 §11.6.1 lets a 401 offer several. The plugin's is sent once.
/** Adds `challenge` to the reply's WWW-Authenticate values, once. */
export function addChallenge (reply: FastifyReply, challenge: string): void {
  const existing = reply.getHeader('www-authenticate')
  if (existing === undefined) {
    reply.header('www-authenticate', challenge)
    return
  }
  const values = [existing].flat().map(String)
  if (!values.includes(challenge)) reply.header('www-authenticate', [...values, challenge])
}

/** The permission a hook made by `app.permits()` or `config.permission` checks; undefined for another function. */
export function permissionOfHook (hook: unknown): string | undefined {
  return (hook as TaggedHook | null | undefined)?.[kPermission]?.permission
}

function settle (checker: PermissionChecker, request: FastifyRequest, reply: FastifyReply, result: PermitsResult, done: Done): void {
  if (result.allowed) done()
  else done(checker.denial(request, reply))
}

// The app.permits() hooks of a route learn the route they belong to: their default context is
// then resolved once. True when the route has one, which declares its permission.
function bindPermissionHooks (checker: PermissionChecker, route: RouteOptions, config: RouteConfig): boolean {
  let found = false
  for (const name of ROUTE_HOOKS) {
    const hooks = route[name] as TaggedHook | TaggedHook[] | undefined
    if (hooks === undefined) continue
    const bound = [hooks].flat().map((hook) => {
      const tag = hook[kPermission]
      if (tag === undefined) return hook
      found = true
      return checker.hook(tag.permission, tag.options, config)
    })
    if (found) route[name] = bound as never
  }
  return found
}

// pyramid.debug_authorization: the decision and why, never the credential.
function logDecision (request: FastifyRequest, permission: string, result: PermitsResult): void {
  const principals = (request.identity as { principals?: unknown } | null)?.principals
  request.log.info({
    authorization: {
      method: request.method,
      route: request.routeOptions.url,
      permission,
      userid: request.authenticatedUserid,
      principals: Array.isArray(principals) ? principals : null,
      allowed: result.allowed
    }
  }, result.msg)
}

/** The WWW-Authenticate values of one registration, built once (RFC 6750 §3). */
export interface Challenges {
  /** No credentials were sent: no error attribute (§3.1). */
  readonly bare: string
  readonly invalidToken: string
  readonly expired: string
  readonly invalidRequest: string
  /**
   * A challenge of the same scheme and realm with `attributes` (an `error` and what goes with it),
   * and `resource_metadata` when there is one: for a route requirement's challenges, built when the
   * route is declared. `attributes` must hold only quotable, validated values.
   */
  readonly withError: (attributes: string) => string
  /** The DPoP scheme's challenges (RFC 9449 §7.1), or null when no token may use it. */
  readonly dpop: DpopChallenges | null
}

/** The DPoP challenges of one registration, each with the `algs` a proof may use. */
export interface DpopChallenges {
  readonly bare: string
  readonly invalidToken: string
  readonly expired: string
  readonly invalidProof: string
  readonly useNonce: string
  /** A DPoP challenge with `attributes`, as {@link Challenges.withError} builds the other scheme's. */
  readonly withError: (attributes: string) => string
  /** False when every token must be DPoP-bound: the Bearer challenge is then not offered. */
  readonly offersBearer: boolean
  /** The nonce a `use_dpop_nonce` answer carries in its DPoP-Nonce header. */
  readonly nonce: () => string
}

/** What the DPoP challenges say: the proof algorithms, whether Bearer is still offered, the current nonce. */
export interface DpopChallengeSettings {
  readonly algs: string
  readonly offersBearer: boolean
  readonly nonce: () => string
}

const SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * The challenges for `scheme` and `realm`; both were validated, and no request text ever enters them.
 * With `resourceMetadata` (the URL of the protected resource metadata, validated as quotable), every
 * 401 challenge carries it (RFC 9728 §5.1), so that a client can find where to get a token. The 400
 * one does not: a malformed header is the client's bug, not a missing token.
 */
export function buildChallenges (scheme: unknown, realm: string, resourceMetadata: string | null = null, dpop: DpopChallengeSettings | null = null): Challenges {
  if (typeof scheme !== 'string' || !SCHEME.test(scheme)) throw new InvalidOptionError('policy', 'challengeScheme must be an HTTP authentication scheme name')
  const end = resourceMetadata === null ? '' : `, resource_metadata="${resourceMetadata}"`
  const start = `${scheme} realm="${realm}"`
  const withError = (attributes: string): string => `${start}, ${attributes}${end}`
  return Object.freeze({
    bare: start + end,
    invalidToken: withError(INVALID_TOKEN),
    expired: withError(EXPIRED),
    invalidRequest: `${start}, error="invalid_request", error_description="The authorization request is malformed"`,
    withError,
    dpop: dpop === null ? null : dpopChallenges(realm, end, dpop)
  })
}

const INVALID_TOKEN = 'error="invalid_token", error_description="The access token is invalid"'
const EXPIRED = 'error="invalid_token", error_description="The access token expired"'

function dpopChallenges (realm: string, end: string, { algs, offersBearer, nonce }: DpopChallengeSettings): DpopChallenges {
  const start = `DPoP realm="${realm}"`
  const withError = (attributes: string): string => `${start}, ${attributes}, algs="${algs}"${end}`
  return Object.freeze({
    bare: `${start}, algs="${algs}"${end}`,
    invalidToken: withError(INVALID_TOKEN),
    expired: withError(EXPIRED),
    invalidProof: withError('error="invalid_dpop_proof", error_description="The DPoP proof is invalid"'),
    useNonce: withError('error="use_dpop_nonce", error_description="Resend the request with a proof that carries the DPoP-Nonce header\'s value"'),
    withError,
    offersBearer,
    nonce
  })
}
