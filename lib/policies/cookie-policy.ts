import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import fastifyCookie, { type CookieSerializeOptions } from '@fastify/cookie'
import { hasTwoPairs } from './cookie-header.js'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AuthFailure } from './auth-failure.js'
import type { JwtClaims } from '../tokens/claims.js'
import { toSeconds, type Duration } from '../config/option-checks.js'
import { CookieTooLargeError, CsrfError, InvalidClaimsError, InvalidOptionError } from '../errors.js'
import { JwtPolicy, type Credential } from './jwt-policy.js'
import type { PolicyContext, SecurityScheme } from './policy.js'
import type { JwtIdentity } from '../types.js'
import { policyFailure } from './identity-hook.js'
import { checkKnownOptions } from '../config/option-checks.js'

/**
 * CSRF defence of the cookie policy.
 * @example
 * ```ts
 * import { JwtCookiePolicy, type CsrfOptions } from 'fastify-jwt-security'
 *
 * // The names Angular's HttpClient uses by default: it then reads the cookie and sends the
 * // header on unsafe same-origin requests without any code of the app's.
 * const csrf: CsrfOptions = { cookieName: 'XSRF-TOKEN', header: 'x-xsrf-token' }
 * const policy = new JwtCookiePolicy({ csrf })
 * ```
 */
export interface CsrfOptions {
  /** The request header that must carry the CSRF token on unsafe methods. Default `'x-csrf-token'`. */
  header?: string
  /** The readable companion cookie that hands the CSRF token to pages. Default `<cookieName>-csrf`. */
  cookieName?: string
  /** Origins allowed to send unsafe requests, e.g. `['https://app.example']`. Default: the request's own origin. */
  origins?: string[]
}

/**
 * Lets an app change the claims of a reissued token, or refuse the reissue by returning false.
 * @example
 * ```ts
 * import { JwtCookiePolicy, type ReissueHook } from 'fastify-jwt-security'
 *
 * // Role changes reach a session at its next reissue instead of at the next login. false only skips
 * // this reissue: the current token stays valid until its exp (revoke it to end the session).
 * const onReissue: ReissueHook = async (request, claims) => {
 *   const user = await db.users.find(request.authenticatedUserid) // your code
 *   return user === null ? false : { ...claims, roles: user.roles }
 * }
 * const policy = new JwtCookiePolicy({ reissueTime: '15m', onReissue })
 * ```
 */
export type ReissueHook = (request: FastifyRequest, claims: Record<string, unknown>) =>
  Record<string, unknown> | false | Promise<Record<string, unknown> | false>

/**
 * Transport options of {@link JwtCookiePolicy}; token settings come from the plugin options.
 * @example
 * ```ts
 * import { JwtCookiePolicy, type JwtCookiePolicyOptions } from 'fastify-jwt-security'
 *
 * // Pages on several hosts of example.com share the session, so the cookie needs a Domain, which
 * // the default __Host- name forbids; __Secure- still keeps it off plain http.
 * const options: JwtCookiePolicyOptions = { cookieName: '__Secure-session', domains: ['example.com'], reissueTime: '15m' }
 * const policy = new JwtCookiePolicy(options)
 * ```
 */
export interface JwtCookiePolicyOptions {
  /** The session cookie. Default `'__Host-session'` (Secure, host-only, Path=/ enforced by browsers). */
  cookieName?: string
  /** Cookie Path. Default `'/'`. */
  path?: string
  /** Domains to set the cookie for, one Set-Cookie each. Default: none (host-only). */
  domains?: string[]
  /**
   * Set the cookie with `Domain=<the request's host name>`, as pyramid_jwt does, so that it replaces
   * pyramid_jwt's cookie of the same name instead of sitting beside it. Default `false`. Cannot be
   * combined with `domains` or a `__Host-` name.
   */
  hostDomain?: boolean
  /** The Secure attribute: `true` (default), `false`, or `'auto'` to follow the connection. */
  secure?: boolean | 'auto'
  /** The SameSite attribute. Default `'lax'`. */
  sameSite?: 'lax' | 'strict' | 'none'
  /** Age (seconds or a duration) after which a valid session cookie is reissued. Default null: never. */
  reissueTime?: Duration | null
  /** Absolute session lifetime from login; reissues never extend past it. Default `'7d'`. */
  maxSessionAge?: Duration
  /** CSRF defence for cookie-authenticated unsafe requests; `false` turns it off. Default on. */
  csrf?: CsrfOptions | false
  /** `'jwt'` (default): the cookie holds the token. `'pyramid'`: pyramid_jwt's base64 JSON-quoted value. */
  cookieFormat?: 'jwt' | 'pyramid'
  /** Called before a reissue with a copy of the custom claims. */
  onReissue?: ReissueHook
}

/** The name of every JwtCookiePolicy option, for validation and for the docs test. */
export const COOKIE_POLICY_OPTION_NAMES: ReadonlySet<string> = new Set([
  'cookieName', 'path', 'domains', 'hostDomain', 'secure', 'sameSite', 'reissueTime', 'maxSessionAge', 'csrf', 'cookieFormat', 'onReissue'
])
/** The name of every option of JwtCookiePolicy's `csrf`. */
export const CSRF_OPTION_NAMES: ReadonlySet<string> = new Set(['header', 'cookieName', 'origins'])

interface SessionState {
  reissue: JwtClaims | null
  settled: boolean
  csrfToken: string | null
}

const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEADER_NAME = COOKIE_NAME
const DOMAIN = /^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/
const PATH = /^\/[\x21-\x3A\x3C-\x7E]*$/
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])
const SESSION_CLAIMS: ReadonlySet<string> = new Set(['auth_time', 'csrf', 'sid'])
const REGISTERED_CLAIMS: ReadonlySet<string> = new Set(['sub', 'iat', 'exp', 'nbf', 'jti', 'aud', 'iss'])
const MAX_COOKIE_BYTES = 4096
// A pyramid-format cookie that cannot be decoded still counts as a presented, malformed token.
const UNREADABLE_TOKEN = '.'

const COOKIE_DUPLICATED: AuthFailure & { readonly error: 'invalid_token' } = Object.freeze({ error: 'invalid_token', reason: 'cookie_duplicated' })
const SESSION_EXPIRED: AuthFailure = Object.freeze({ error: 'invalid_token', reason: 'session_expired', claim: 'auth_time' })
const ISSUER_NOT_ALLOWED: AuthFailure = Object.freeze({ error: 'invalid_token', reason: 'issuer_not_allowed', claim: 'iss' })

/**
 * The cookie JWT policy, for browsers: the token travels in an HttpOnly cookie, `reply.remember()`
 * logs in, `reply.forget()` logs out, and active sessions slide forward (pyramid_jwt's reissue_time)
 * without ever passing `maxSessionAge`. Unsafe cookie-authenticated requests must pass a CSRF check.
 * @example
 * await app.register(jwtSecurity, {
 *   secret, expiresIn: '2h',
 *   policy: new JwtCookiePolicy({ reissueTime: '15m', maxSessionAge: '7d' })
 * })
 * app.post('/session', async (request, reply) => { await reply.remember(user.id, { roles }); return { ok: true } })
 */
export class JwtCookiePolicy extends JwtPolicy {
  readonly cookieName: string
  readonly csrfCookieName: string | null
  readonly csrfHeader: string | null
  readonly reissueTime: number | null
  readonly maxSessionAge: number
  readonly cookieFormat: 'jwt' | 'pyramid'
  readonly #domains: ReadonlyArray<string | undefined>
  readonly #hostDomain: boolean
  readonly #cookieOptions: Readonly<CookieSerializeOptions>
  readonly #origins: readonly string[] | null
  readonly #onReissue: ReissueHook | null
  readonly #state = Symbol('fastify-jwt-security.session')
  readonly #pairPrefix: string

  constructor (options: JwtCookiePolicyOptions = {}) {
    super()
    checkKnownOptions(options, COOKIE_POLICY_OPTION_NAMES)
    const {
      cookieName = '__Host-session', path = '/', domains = [], hostDomain = false, secure = true, sameSite = 'lax',
      reissueTime = null, maxSessionAge = '7d', csrf = {}, cookieFormat = 'jwt', onReissue
    } = options
    if (typeof cookieName !== 'string' || !COOKIE_NAME.test(cookieName)) throw new InvalidOptionError('cookieName', 'expected a cookie name')
    if (typeof path !== 'string' || !PATH.test(path)) throw new InvalidOptionError('path', 'expected a path starting with /')
    if (!Array.isArray(domains) || !domains.every((domain) => typeof domain === 'string' && DOMAIN.test(domain))) {
      throw new InvalidOptionError('domains', 'expected an array of domain names')
    }
    if (hostDomain !== true && hostDomain !== false) throw new InvalidOptionError('hostDomain', 'expected true or false')
    if (hostDomain && domains.length > 0) throw new InvalidOptionError('hostDomain', 'cannot be combined with domains')
    if (secure !== true && secure !== false && secure !== 'auto') throw new InvalidOptionError('secure', "expected true, false or 'auto'")
    if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none') throw new InvalidOptionError('sameSite', "expected 'lax', 'strict' or 'none'")
    if (sameSite === 'none' && secure !== true) throw new InvalidOptionError('sameSite', "'none' needs secure: true (browsers ignore such cookies otherwise)")
    checkCookiePrefix('cookieName', cookieName, secure, domains, path, hostDomain)
    if (secure === false && process.env.NODE_ENV === 'production') {
      throw new InvalidOptionError('secure', 'false is refused when NODE_ENV is production: session cookies must not travel in the clear')
    }
    if (cookieFormat !== 'jwt' && cookieFormat !== 'pyramid') throw new InvalidOptionError('cookieFormat', "expected 'jwt' or 'pyramid'")
    if (onReissue !== undefined && typeof onReissue !== 'function') throw new InvalidOptionError('onReissue', 'expected a function')
    this.cookieName = cookieName
    this.#pairPrefix = `${cookieName}=`
    this.reissueTime = reissueTime === null ? null : toSeconds('reissueTime', reissueTime)
    this.maxSessionAge = toSeconds('maxSessionAge', maxSessionAge)
    if (this.maxSessionAge <= 0) throw new InvalidOptionError('maxSessionAge', 'must be more than 0 seconds')
    this.cookieFormat = cookieFormat
    this.#domains = domains.length === 0 ? [undefined] : Object.freeze([...domains])
    this.#hostDomain = hostDomain
    this.#cookieOptions = Object.freeze({ path, secure, sameSite, httpOnly: true })
    this.#onReissue = onReissue ?? null
    if (csrf === false) {
      this.csrfCookieName = null
      this.csrfHeader = null
      this.#origins = null
    } else {
      checkKnownOptions(csrf, CSRF_OPTION_NAMES, 'csrf.')
      const { header = 'x-csrf-token', cookieName: csrfCookieName = `${cookieName}-csrf`, origins } = csrf
      if (typeof header !== 'string' || !HEADER_NAME.test(header)) throw new InvalidOptionError('csrf.header', 'expected a header name')
      if (typeof csrfCookieName !== 'string' || !COOKIE_NAME.test(csrfCookieName) || csrfCookieName === cookieName) {
        throw new InvalidOptionError('csrf.cookieName', 'expected a cookie name other than the session cookie')
      }
      checkCookiePrefix('csrf.cookieName', csrfCookieName, secure, domains, path, hostDomain)
      this.csrfHeader = header.toLowerCase()
      this.csrfCookieName = csrfCookieName
      this.#origins = origins === undefined ? null : Object.freeze(toOrigins(origins))
    }
  }

  /**
   * Checks the cookie options against the plugin's token settings, registers @fastify/cookie
   * unless the app did, and adds the reissue hook.
   */
  override register (fastify: FastifyInstance, core: PolicyContext): Promise<void> {
    const { expiresIn } = core.tokens
    if (expiresIn === null) throw new InvalidOptionError('expiresIn', 'the cookie policy needs tokens that expire')
    // A cookie goes out with no proof: with DPoP required of the app's tokens, no session would pass.
    if (core.dpop.ownMode === 'required') throw new InvalidOptionError('dpop.mode', '"required" refuses every cookie session, which carries no DPoP proof: use "allowed"')
    if (this.reissueTime !== null && this.reissueTime >= expiresIn) {
      throw new InvalidOptionError('reissueTime', `must be shorter than expiresIn (${expiresIn} s): a token would expire before its reissue`)
    }
    super.register(fastify, core)
    core.revocation?.addSessionMaxAge(this.maxSessionAge)
    fastify.decorateRequest(this.#state, null)
    if (this.reissueTime !== null) {
      // With `done` rather than async: most responses have nothing to reissue, and cost no promise.
      fastify.addHook('onSend', (request, reply, payload, done) => {
        const state = this.#peek(request)
        const previous = state?.reissue ?? null
        if (state === null || previous === null || state.settled || reply.statusCode >= 400) {
          done(null, payload)
          return
        }
        this.#reissue(request, reply, state, previous).then(() => { done(null, payload) }, done)
      })
    }
    return fastify.hasDecorator('parseCookie') ? Promise.resolve() : registerCookiePlugin(fastify)
  }

  protected readCredential (request: FastifyRequest): Credential {
    const cookies = request.cookies ?? request.server.parseCookie(request.headers.cookie ?? '')
    const value = cookies[this.cookieName]
    if (value === undefined) return null
    const header = request.headers.cookie as string
    // Two cookies of one name (a sibling host's or a narrower path's, or pyramid_jwt's Domain cookie
    // beside a host-only one): the parser keeps the first, other servers the last; neither is trusted.
    let duplicated = hasTwoPairs(header, this.cookieName) ? this.cookieName : null
    if (duplicated === null && this.csrfCookieName !== null && hasTwoPairs(header, this.csrfCookieName)) duplicated = this.csrfCookieName
    if (duplicated !== null) {
      request.log.info({ authFailure: COOKIE_DUPLICATED, cookie: duplicated }, 'a cookie of the session was sent twice: the request is not authenticated')
      return COOKIE_DUPLICATED
    }
    if (value === '') return null
    if (!isVerbatim(header, this.#pairPrefix, value)) return UNREADABLE_TOKEN
    return this.cookieFormat === 'pyramid' ? decodePyramidCookie(value) ?? UNREADABLE_TOKEN : value
  }

  protected override checkClaims (request: FastifyRequest, claims: JwtClaims, core: PolicyContext): AuthFailure | null {
    // A session is the app's own token: a provider's access token in the cookie would be reissued
    // as one, outliving the provider's expiry and revocation.
    if (core.tokens.fromTrustedIssuer(claims)) return ISSUER_NOT_ALLOWED
    // The token service refuses an auth_time or iat that is not a NumericDate (claim_invalid).
    const authTime = (claims.auth_time ?? claims.iat) as number
    if (authTime + this.maxSessionAge <= core.tokens.nowSeconds()) return SESSION_EXPIRED
    if (this.csrfHeader !== null && !SAFE_METHODS.has(request.method)) this.#checkCsrf(request, claims)
    return null
  }

  protected override identified (request: FastifyRequest, identity: JwtIdentity, core: PolicyContext): void {
    if (this.reissueTime !== null && core.tokens.nowSeconds() >= (identity.claims.iat as number) + this.reissueTime) {
      this.#stateOf(request).reissue = identity.claims
    }
  }

  /**
   * Logs `userid` in: a fresh token (new jti, iat and auth_time: the incoming session is never
   * reused) in the session cookie, and a new CSRF token in its readable companion cookie.
   */
  async remember (request: FastifyRequest, reply: FastifyReply, userid: string, claims: Record<string, unknown> = {}): Promise<void> {
    for (const name of SESSION_CLAIMS) {
      if (claims !== null && typeof claims === 'object' && name in claims) throw new InvalidClaimsError(`"${name}" is set by the cookie policy`)
    }
    const core = this.context
    const now = core.tokens.nowSeconds()
    const csrfToken = this.csrfHeader === null ? null : randomBytes(32).toString('base64url')
    const lifetime = Math.min(core.tokens.expiresIn as number, this.maxSessionAge)
    // sid names the session across its reissues, so that a logout revokes every copy of it.
    const session = { auth_time: now, sid: randomUUID() }
    const sessionClaims = csrfToken === null ? { ...claims, ...session } : { ...claims, ...session, csrf: csrfToken }
    const token = await core.tokens.sign(userid, sessionClaims, { expiresIn: lifetime })
    const state = this.#stateOf(request)
    state.settled = true
    state.csrfToken = csrfToken
    this.#setSession(reply, token, now, now + lifetime, csrfToken)
  }

  /** Logs out: clears the session and CSRF cookies with the attributes they were set with, and cancels a pending reissue. */
  forget (request: FastifyRequest, reply: FastifyReply): void {
    const state = this.#stateOf(request)
    state.settled = true
    state.csrfToken = null
    const domains = this.#domainsOf(request)
    for (const domain of domains) this.#clear(reply, domain)
    if (domains[0] !== undefined && this.#hostDomain) this.#clear(reply, undefined)
    reply.header('cache-control', 'no-store')
  }

  #clear (reply: FastifyReply, domain: string | undefined): void {
    reply.clearCookie(this.cookieName, { ...this.#cookieOptions, domain })
    if (this.csrfCookieName !== null) reply.clearCookie(this.csrfCookieName, { ...this.#cookieOptions, httpOnly: false, domain })
  }

  /** `cookieAuth`: an API key in the session cookie (OpenAPI 3 only: Swagger 2.0 has no cookie scheme). */
  securitySchemes (): readonly SecurityScheme[] {
    const csrf = this.csrfHeader === null ? '' : `; unsafe requests (such as POST) must also send the ${this.csrfHeader} header`
    const openapi = { type: 'apiKey', in: 'cookie', name: this.cookieName, description: `The session cookie set at login${csrf}` }
    return [{ name: 'cookieAuth', openapi, swagger: null }]
  }

  /** The CSRF token pages must send back on unsafe requests, for the session of this request; null without one. */
  csrfToken (request: FastifyRequest): string | null {
    const state = this.#peek(request)
    if (state?.settled === true) return state.csrfToken
    const claim = request.jwtClaims?.csrf
    return typeof claim === 'string' ? claim : null
  }

  // pyramid_jwt's Domain is the request's host; a host name a cookie cannot carry (an IPv6
  // literal) falls back to a host-only cookie.
  #domainsOf (request: FastifyRequest): ReadonlyArray<string | undefined> {
    if (!this.#hostDomain) return this.#domains
    const host = request.hostname
    return [DOMAIN.test(host) ? host : undefined]
  }

  #peek (request: FastifyRequest): SessionState | null {
    return (request as unknown as Record<symbol, SessionState | null>)[this.#state] ?? null
  }

  #stateOf (request: FastifyRequest): SessionState {
    let state = this.#peek(request)
    if (state === null) {
      state = { reissue: null, settled: false, csrfToken: null }
      ;(request as unknown as Record<symbol, SessionState>)[this.#state] = state
    }
    return state
  }

  async #reissue (request: FastifyRequest, reply: FastifyReply, state: SessionState, previous: JwtClaims): Promise<void> {
    state.settled = true
    let custom: Record<string, unknown> = {}
    for (const name of Object.keys(previous)) {
      if (!REGISTERED_CLAIMS.has(name) && !SESSION_CLAIMS.has(name)) custom[name] = previous[name]
    }
    if (this.#onReissue !== null) {
      let changed: unknown
      try {
        changed = await this.#onReissue(request, custom)
      } catch (error) {
        throw policyFailure(request, error)
      }
      if (changed === false) return
      if (typeof changed !== 'object' || changed === null || Array.isArray(changed)) {
        throw policyFailure(request, new TypeError('onReissue must return the claims of the new token, or false'))
      }
      custom = changed as Record<string, unknown>
    }
    const core = this.context
    const now = core.tokens.nowSeconds()
    const authTime = (previous.auth_time ?? previous.iat) as number
    const lifetime = Math.min(core.tokens.expiresIn as number, authTime + this.maxSessionAge - now)
    const csrfToken = typeof previous.csrf === 'string' ? previous.csrf : null
    const session = typeof previous.sid === 'string' ? { auth_time: authTime, sid: previous.sid } : { auth_time: authTime }
    const sessionClaims = csrfToken === null ? { ...custom, ...session } : { ...custom, ...session, csrf: csrfToken }
    const token = await core.tokens.sign(previous.sub, sessionClaims, { expiresIn: lifetime })
    this.#setSession(reply, token, now, now + lifetime, csrfToken)
  }

  #setSession (reply: FastifyReply, token: string, now: number, exp: number, csrfToken: string | null): void {
    const value = this.cookieFormat === 'pyramid' ? encodePyramidCookie(token) : token
    const maxAge = exp - now
    const expires = new Date(exp * 1000)
    // Spread from the frozen defaults, for speed: every options object then has the same shape.
    const defaults = this.#cookieOptions
    const domains = this.#domainsOf(reply.request)
    for (const domain of domains) {
      const size = Buffer.byteLength(reply.server.serializeCookie(this.cookieName, value, { ...defaults, maxAge, expires, secure: true, domain }))
      if (size > MAX_COOKIE_BYTES) throw new CookieTooLargeError(size)
    }
    // A host-only cookie an earlier setting left would sit beside the Domain one, and the two
    // would be refused as duplicates: it goes.
    if (domains[0] !== undefined && this.#hostDomain) this.#clear(reply, undefined)
    for (const domain of domains) {
      reply.setCookie(this.cookieName, value, { ...defaults, maxAge, expires, domain })
      if (csrfToken !== null) reply.setCookie(this.csrfCookieName as string, csrfToken, { ...defaults, maxAge, expires, httpOnly: false, domain })
    }
    reply.header('cache-control', 'no-store')
  }

  // OWASP CSRF cheat sheet: a token bound to the session, and the origin of the request checked.
  #checkCsrf (request: FastifyRequest, claims: JwtClaims): void {
    if (!this.#originAllowed(request)) {
      request.log.debug({ csrf: 'origin_refused' }, 'CSRF check failed')
      throw new CsrfError()
    }
    const sent = request.headers[this.csrfHeader as string]
    const expected = claims.csrf
    if (typeof sent !== 'string' || typeof expected !== 'string' || !safeEqual(sent, expected)) {
      request.log.debug({ csrf: 'token_mismatch' }, 'CSRF check failed')
      throw new CsrfError()
    }
  }

  #originAllowed (request: FastifyRequest): boolean {
    const allowed = this.#origins ?? [ownOrigin(request)]
    const { origin, referer } = request.headers
    if (origin !== undefined) return allowed.includes(origin)
    const site = request.headers['sec-fetch-site']
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return false
    if (referer === undefined) return true
    try {
      return allowed.includes(new URL(referer).origin)
    } catch {
      return false
    }
  }
}

// The cookie parser trims spaces and percent-decodes values; a token must arrive exactly as it
// was set, so the parsed value must appear verbatim as a whole pair of the header (`prefix` is the
// cookie's name and '='). A slice compared with ===, for speed.
function isVerbatim (header: string, prefix: string, value: string): boolean {
  for (let index = header.indexOf(prefix); index !== -1; index = header.indexOf(prefix, index + 1)) {
    const before = index === 0 ? ';' : header[index - 1]
    const start = index + prefix.length
    const end = start + value.length
    const after = header[end]
    if ((before === ';' || before === ' ') && (after === undefined || after === ';') && header.slice(start, end) === value) return true
  }
  return false
}

// Browsers drop __Host- and __Secure- cookies whose attributes break the prefix's rules (RFC 6265bis).
function checkCookiePrefix (option: string, name: string, secure: unknown, domains: readonly string[], path: string, hostDomain: boolean): void {
  if (name.startsWith('__Host-') && (secure !== true || domains.length > 0 || hostDomain || path !== '/')) {
    throw new InvalidOptionError(option, '__Host- cookies need secure: true, no domains, no hostDomain and path "/"')
  }
  if (name.startsWith('__Secure-') && secure !== true) throw new InvalidOptionError(option, '__Secure- cookies need secure: true')
}

// Browsers send origins without a default port; the Host header may carry one.
function ownOrigin (request: FastifyRequest): string {
  return new URL(`${request.protocol}://${request.host}`).origin
}

async function registerCookiePlugin (fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifyCookie)
}

function safeEqual (a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

function toOrigins (values: unknown): string[] {
  if (!Array.isArray(values)) throw new InvalidOptionError('csrf.origins', 'expected an array of origins')
  return values.map((value: unknown) => {
    try {
      const origin = new URL(String(value)).origin
      if (origin === value) return origin
    } catch {}
    throw new InvalidOptionError('csrf.origins', 'expected origins such as "https://app.example" (scheme, host and port only)')
  })
}

/**
 * pyramid_jwt's cookie value: WebOb's Base64Serializer of the JSON-quoted token (padded base64url).
 * @example
 * ```ts
 * import { encodePyramidCookie } from 'fastify-jwt-security'
 *
 * // In a test of an app with cookieFormat: 'pyramid': a session as a Pyramid service would have set it.
 * const token = await app.createJwtToken('alice', { roles: ['editor'] })
 * const response = await app.inject({ url: '/articles', headers: { cookie: `session=${encodePyramidCookie(token)}` } })
 * ```
 */
export function encodePyramidCookie (token: string): string {
  return Buffer.from(JSON.stringify(token)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
}

/**
 * The token inside a pyramid_jwt cookie value, or null when the value is not one.
 * @example
 * ```ts
 * import { decodePyramidCookie } from 'fastify-jwt-security'
 *
 * // In a test of an app with cookieFormat: 'pyramid': the token a Pyramid service will read.
 * const response = await app.inject({ method: 'POST', url: '/session', payload: { login, password } })
 * const value = response.cookies.find((cookie) => cookie.name === 'session')?.value ?? ''
 * const token = decodePyramidCookie(value) // null when the value is not in pyramid_jwt's format
 * ```
 */
export function decodePyramidCookie (value: string): string | null {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(value)) return null
  try {
    const token: unknown = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'))
    return typeof token === 'string' ? token : null
  } catch {
    return null
  }
}
