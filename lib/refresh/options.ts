import { checkKnownOptions, toSeconds, type Duration } from '../config/option-checks.js'
import { InvalidOptionError } from '../errors.js'
import { MAX_TOKEN_LIFETIME } from '../tokens/tokens.js'
import { MemoryRefreshStore } from './memory-store.js'
import type { RefreshStore } from './store.js'

/**
 * The refresh token in a cookie rather than in the JSON body: HttpOnly, Secure, SameSite=Strict,
 * sent only to `path`. A refresh request must then carry `header` (any value): a header a page of
 * another site cannot add without the app's CORS consent.
 * @example
 * ```ts
 * import type { RefreshCookieOptions } from 'fastify-jwt-security'
 *
 * // The browser sends the refresh cookie to /auth/refresh only; scripts never see it.
 * const cookie: RefreshCookieOptions = { path: '/auth/refresh' }
 * await app.register(jwtSecurity, { secret, revocation, refresh: { cookie } })
 * ```
 */
export interface RefreshCookieOptions {
  /** The path the cookie is sent to: the refresh route's (and the logout's, if it should read it). */
  path: string
  /** The cookie's name. Default `'__Secure-refresh'`. */
  name?: string
  /** The request header a refresh must carry. Default `'x-refresh'`. */
  header?: string
}

/**
 * Options of refresh tokens: short access tokens and rotating refresh tokens, in sessions that
 * end when a rotated refresh token is used again. docs/refresh-tokens.md is the guide.
 * @example
 * ```ts
 * import jwtSecurity, { RedisRefreshStore, RedisRevocationStore, type RefreshOptions } from 'fastify-jwt-security'
 *
 * const refresh: RefreshOptions = {
 *   store: new RedisRefreshStore({ url: process.env.REDIS_URL }),
 *   accessTokenLifetime: '5m',
 *   idleTimeout: '7d',
 *   maxSessionAge: '30d'
 * }
 * await app.register(jwtSecurity, { secret, revocation: new RedisRevocationStore({ url: process.env.REDIS_URL }), refresh })
 * ```
 */
export interface RefreshOptions {
  /** Where sessions are kept. Default: a {@link MemoryRefreshStore} (one instance). */
  store?: RefreshStore
  /** The lifetime of the access tokens a session hands out. Default `'5m'`. */
  accessTokenLifetime?: Duration
  /** A session unused for this long ends. Default `'7d'`. */
  idleTimeout?: Duration
  /** No session lasts longer than this, however much it is used. Default `'30d'`. */
  maxSessionAge?: Duration
  /** How long a refresh token just rotated still gets the session's current one (two tabs refreshing at once), at most 60 s. Default `'2s'`. */
  reuseGrace?: Duration
  /** The refresh token travels in a cookie rather than in the JSON body. Default: the body. */
  cookie?: RefreshCookieOptions
}

/** The `refresh` option after validation, durations in seconds. */
export interface ResolvedRefresh {
  readonly store: RefreshStore
  readonly accessTokenLifetime: number
  readonly idleTimeout: number
  readonly maxSessionAge: number
  readonly reuseGrace: number
  readonly cookie: Readonly<Required<RefreshCookieOptions>> | null
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['store', 'accessTokenLifetime', 'idleTimeout', 'maxSessionAge', 'reuseGrace', 'cookie'])
const COOKIE_OPTION_NAMES: ReadonlySet<string> = new Set(['path', 'name', 'header'])
const STORE_METHODS = ['create', 'get', 'rotate', 'delete', 'listFor'] as const
const MAX_GRACE = 60
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const PATH = /^\/[\x21-\x3A\x3C-\x7E]*$/
// CORS-safelisted request headers, and headers browsers set themselves.
const BROWSER_HEADERS: ReadonlySet<string> = new Set([
  'accept', 'accept-language', 'content-language', 'content-type', 'range', 'cookie', 'origin', 'referer', 'host', 'user-agent',
  'accept-encoding', 'connection', 'content-length', 'dnt', 'priority', 'upgrade-insecure-requests'
])

/** Validates the `refresh` option; null without it. `maxTokenAge` is the plugin's option of that name (seconds). */
export function resolveRefresh (value: unknown, maxTokenAge: number | undefined): ResolvedRefresh | null {
  if (value === undefined) return null
  checkKnownOptions(value, OPTION_NAMES, 'refresh.')
  const options = value as RefreshOptions
  const accessTokenLifetime = positive('refresh.accessTokenLifetime', options.accessTokenLifetime, '5m')
  if (!Number.isInteger(accessTokenLifetime) || accessTokenLifetime > MAX_TOKEN_LIFETIME) {
    throw new InvalidOptionError('refresh.accessTokenLifetime', `expected whole seconds, at most ${MAX_TOKEN_LIFETIME} (366 days)`)
  }
  if (maxTokenAge !== undefined && accessTokenLifetime > maxTokenAge) {
    throw new InvalidOptionError('refresh.accessTokenLifetime', `must not exceed maxTokenAge (${maxTokenAge} s): the access tokens would be refused before they expire`)
  }
  const idleTimeout = positive('refresh.idleTimeout', options.idleTimeout, '7d')
  const maxSessionAge = positive('refresh.maxSessionAge', options.maxSessionAge, '30d')
  if (idleTimeout > maxSessionAge) throw new InvalidOptionError('refresh.idleTimeout', 'must not exceed maxSessionAge')
  // A client refreshes once its access token has expired: an idle timeout shorter would end every session.
  if (idleTimeout <= accessTokenLifetime) throw new InvalidOptionError('refresh.idleTimeout', 'must be longer than accessTokenLifetime')
  const reuseGrace = toSeconds('refresh.reuseGrace', options.reuseGrace === undefined ? 2 : options.reuseGrace)
  if (reuseGrace > MAX_GRACE) throw new InvalidOptionError('refresh.reuseGrace', `at most ${MAX_GRACE} seconds: a stolen token is honoured that long`)
  const store = options.store === undefined ? new MemoryRefreshStore() : options.store
  if (STORE_METHODS.some((method) => typeof (store as unknown as Record<string, unknown> | null)?.[method] !== 'function')) {
    throw new InvalidOptionError('refresh.store', `expected a RefreshStore (${STORE_METHODS.join(', ')})`)
  }
  return Object.freeze({ store, accessTokenLifetime, idleTimeout, maxSessionAge, reuseGrace, cookie: resolveCookie(options.cookie) })
}

function positive (option: string, value: unknown, fallback: Duration): number {
  const seconds = toSeconds(option, value === undefined ? fallback : value)
  if (seconds <= 0) throw new InvalidOptionError(option, 'must be more than 0 seconds')
  return seconds
}

function resolveCookie (value: unknown): Readonly<Required<RefreshCookieOptions>> | null {
  if (value === undefined) return null
  checkKnownOptions(value, COOKIE_OPTION_NAMES, 'refresh.cookie.')
  const { path, name = '__Secure-refresh', header = 'x-refresh' } = value as RefreshCookieOptions
  if (typeof path !== 'string' || !PATH.test(path)) throw new InvalidOptionError('refresh.cookie.path', 'expected the path of the refresh route, such as "/auth/refresh"')
  // __Host- cookies must have Path=/: a refresh cookie is scoped to its route instead.
  if (typeof name !== 'string' || !COOKIE_NAME.test(name) || name.startsWith('__Host-')) {
    throw new InvalidOptionError('refresh.cookie.name', 'expected a cookie name (not __Host-: the cookie is scoped to a path)')
  }
  if (typeof header !== 'string' || !COOKIE_NAME.test(header)) throw new InvalidOptionError('refresh.cookie.header', 'expected a header name')
  // The defence is a header a page of another origin cannot send without a CORS preflight: not
  // one a plain form or the browser itself sends.
  const lower = header.toLowerCase()
  if (BROWSER_HEADERS.has(lower) || lower.startsWith('sec-') || lower.startsWith('proxy-')) {
    throw new InvalidOptionError('refresh.cookie.header', 'a browser sends this header without a preflight: choose a header of your own, such as "x-refresh"')
  }
  return Object.freeze({ path, name, header: header.toLowerCase() })
}
