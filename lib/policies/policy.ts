import { format, inspect } from 'node:util'
import type { FastifyReply, FastifyRequest } from 'fastify'

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
}

/**
 * Turns what `permits` returned into an {@link Allowed} or a {@link Denied}. Internal: the package
 * does not export it.
 * @example
 * ```ts
 * import { toPermitsResult } from './policy.js'
 *
 * // a policy may answer with a boolean; the route check and the log need a message either way
 * toPermitsResult(true, 'view').msg // 'the security policy allowed view'
 * toPermitsResult('yes', 'view') // throws a TypeError, which the route answers with a 500
 * ```
 */
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
