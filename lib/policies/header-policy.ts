import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AuthFailure } from './auth-failure.js'
import type { JwtClaims } from '../tokens/claims.js'
import { headerPolicyRememberWarning, InvalidOptionError } from '../errors.js'
import { JwtPolicy, type Credential, type MalformedCredential } from './jwt-policy.js'
import type { PolicyContext, SecurityScheme } from './policy.js'
import { checkKnownOptions } from '../config/option-checks.js'

/**
 * Transport options of {@link JwtHeaderPolicy}; token settings come from the plugin options.
 * @example
 * ```ts
 * import jwtSecurity, { JwtHeaderPolicy, type JwtHeaderPolicyOptions } from 'fastify-jwt-security'
 *
 * // Behind a gateway that forwards the bare token in a header of its own (no scheme: authType
 * // applies to the Authorization header only).
 * const transport: JwtHeaderPolicyOptions = { header: 'X-Forwarded-Access-Token' }
 * await app.register(jwtSecurity, { secret, policy: new JwtHeaderPolicy(transport) })
 * ```
 */
export interface JwtHeaderPolicyOptions {
  /**
   * The header that carries the token. With `Authorization` (the default) the value is
   * `<authType> <token>`; any other header carries the bare token.
   */
  header?: string
  /**
   * The scheme of the Authorization header, matched case-insensitively: `'Bearer'` (default) or
   * pyramid_jwt's `'JWT'`, which also accepts pyramid_jwtauth's `JWT token="<token>"` form.
   */
  authType?: string
}

/** The name of every JwtHeaderPolicy option, for validation and for the docs test. */
export const HEADER_POLICY_OPTION_NAMES: ReadonlySet<string> = new Set(['header', 'authType'])

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const DPOP = 'dpop'
const SPACE = 0x20
const TAB = 0x09

const malformed = (reason: string): MalformedCredential => Object.freeze({ error: 'invalid_request', reason })
const CREDENTIALS_MISSING = malformed('credentials_missing')
const HEADER_MALFORMED = malformed('header_malformed')
const HEADER_DUPLICATED = malformed('header_duplicated')

/**
 * The header JWT policy: `Authorization: Bearer <jwt>` by default.
 * `reply.remember()` and `reply.forget()` do nothing here but warn once, as in pyramid_jwt: the
 * client keeps the token that `request.createJwtToken()` returned.
 * @example
 * await app.register(jwtSecurity, { secret, policy: new JwtHeaderPolicy({ authType: 'JWT' }) })
 */
export class JwtHeaderPolicy extends JwtPolicy {
  /** The header name, lower-cased. */
  readonly header: string
  /** The scheme, as configured; null when the token travels bare in a custom header. */
  readonly authType: string | null
  /** The scheme of the 401 challenge: `authType`, or `Bearer` for a custom header. */
  readonly challengeScheme: string
  /** Header tokens are kept by the client: a policy chain sends remember/forget elsewhere. */
  readonly supportsRemember = false
  readonly #scheme: string
  #dpop = false
  readonly #dpopToken = Symbol('fastify-jwt-security.dpopToken')

  constructor (options: JwtHeaderPolicyOptions = {}) {
    super()
    checkKnownOptions(options, HEADER_POLICY_OPTION_NAMES)
    const { header = 'Authorization', authType = 'Bearer' } = options
    if (typeof header !== 'string' || !TOKEN.test(header)) throw new InvalidOptionError('header', 'expected an HTTP header name')
    if (typeof authType !== 'string' || !TOKEN.test(authType)) throw new InvalidOptionError('authType', 'expected an HTTP authentication scheme name')
    // A DPoP token without its proof would be a bearer token again (RFC 9449 §7.2).
    if (authType.toLowerCase() === DPOP) throw new InvalidOptionError('authType', 'DPoP tokens need their proofs checked: use the plugin\'s dpop option, which accepts the DPoP scheme next to Bearer')
    this.header = header.toLowerCase()
    this.authType = this.header === 'authorization' ? authType : null
    this.challengeScheme = this.authType ?? 'Bearer'
    this.#scheme = authType.toLowerCase()
  }

  /** Keeps the context, and with DPoP on, marks the requests that use the DPoP scheme. */
  override register (fastify: FastifyInstance, context: PolicyContext): void {
    super.register(fastify, context)
    // A bare token in a header of its own has no scheme to say DPoP with.
    this.#dpop = this.authType !== null && context.dpop.acceptsScheme
    if (!this.#dpop) return
    context.dpop.readsScheme()
    fastify.decorateRequest(this.#dpopToken, null)
  }

  protected readCredential (request: FastifyRequest): Credential {
    const value = request.headers[this.header]
    if (value === undefined) return null
    if (typeof value !== 'string') return HEADER_DUPLICATED
    if (this.authType === null) return readBareToken(value)
    if (startsWithScheme(value, this.#scheme)) {
      const credential = this.#readAuthorization(value, this.#scheme, request)
      // An authType that begins "DPoP" (say "D") reads "DPoP <t>" as another scheme: null.
      if (credential !== null || !this.#dpop) return credential
    }
    if (!this.#dpop || !startsWithScheme(value, DPOP)) return null
    const token = this.#readAuthorization(value, DPOP, request)
    if (typeof token === 'string') (request as unknown as Record<symbol, string | null>)[this.#dpopToken] = token
    return token
  }

  // A token sent as DPoP is checked with its proof; any other must not be bound to a key.
  protected override checkBinding (request: FastifyRequest, claims: JwtClaims, core: PolicyContext): AuthFailure | null | Promise<AuthFailure | null> {
    const token = this.#dpop ? (request as unknown as Record<symbol, string | null>)[this.#dpopToken] as string | null : null
    return token === null ? core.dpop.bearerFailure(claims) : core.dpop.checkRequest(request, token, claims)
  }

  #readAuthorization (value: string, scheme: string, request: FastifyRequest): Credential {
    const end = scheme.length
    if (value.length === end) return CREDENTIALS_MISSING
    const separator = value.charCodeAt(end)
    // "Bearer\t<t>" is a malformed Bearer header; "BearerX <t>" or "Bearer:<t>" is another scheme.
    if (separator === TAB) return HEADER_MALFORMED
    if (separator !== SPACE) return null
    let start = end + 1
    while (value.charCodeAt(start) === SPACE) start++
    if (start === value.length) return CREDENTIALS_MISSING
    let token = value.slice(start)
    // RFC 6750 §2.1: credentials are `Bearer 1*SP b64token`. A space starts another part: a
    // malformed request. Any other stray character, a tab included, makes a malformed token, which
    // the strict token syntax refuses (401).
    if (token.includes(' ')) return HEADER_MALFORMED
    if (scheme === 'jwt' && token.startsWith('token=')) token = unquote(token.slice(6))
    if (hasDuplicateAuthorization(request.raw.rawHeaders)) return HEADER_DUPLICATED
    return token
  }

  /** Does nothing but warn once: a header policy has no state to set. */
  remember (): void {
    headerPolicyRememberWarning()
  }

  /**
   * Does nothing here: with a revocation store, `reply.forget()` revokes the request's token;
   * without one, it warns once that a header token outlives a logout.
   */
  forget (): void {
    if (this.context.revocation === null) headerPolicyRememberWarning()
  }

  /** `bearerAuth` (an HTTP bearer scheme) for Bearer tokens, else `headerAuth` (an API key in the header); with DPoP on, `dpopAuth` too. */
  securitySchemes (): readonly SecurityScheme[] {
    const { header, authType } = this
    if (authType === null) {
      const scheme = { type: 'apiKey', in: 'header', name: header, description: `A JWT, sent bare in the ${header} header` }
      return [{ name: 'headerAuth', openapi: scheme, swagger: scheme }]
    }
    // The scheme is matched case-insensitively: 'bearer' is Bearer.
    const bearer = authType.toLowerCase() === 'bearer'
    const apiKey = { type: 'apiKey', in: 'header', name: 'Authorization', description: `A JWT, sent as "Authorization: ${bearer ? 'Bearer' : authType} <token>"` }
    const schemes: SecurityScheme[] = [bearer
      ? { name: 'bearerAuth', openapi: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, swagger: apiKey }
      : { name: 'headerAuth', openapi: apiKey, swagger: apiKey }]
    if (this.#dpop) {
      // DPoP is in IANA's authentication scheme registry (RFC 9449 §11.1): an http scheme of its own.
      const description = 'A DPoP-bound JWT, sent as "Authorization: DPoP <token>" with a DPoP proof header of the key it is bound to (RFC 9449)'
      schemes.push({
        name: 'dpopAuth',
        openapi: { type: 'http', scheme: 'DPoP', description },
        swagger: { type: 'apiKey', in: 'header', name: 'Authorization', description }
      })
    }
    return schemes
  }
}

// RFC 9110 §11.1: the scheme is case-insensitive. `lowerScheme` is the lower-case scheme; only
// ASCII capitals are lowered in `value`, without allocating a lower-cased copy of the header.
function startsWithScheme (value: string, lowerScheme: string): boolean {
  if (value.length < lowerScheme.length) return false
  for (let index = 0; index < lowerScheme.length; index++) {
    let code = value.charCodeAt(index)
    if (code >= 0x41 && code <= 0x5A) code |= 0x20
    if (code !== lowerScheme.charCodeAt(index)) return false
  }
  return true
}

function readBareToken (value: string): Credential {
  if (value.length === 0) return CREDENTIALS_MISSING
  // Node joins repeated custom headers with ", ": several tokens in one request.
  if (value.includes(',')) return HEADER_DUPLICATED
  return value
}

function unquote (value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
}

// Node keeps only the first Authorization header of a request; rawHeaders still has them all.
function hasDuplicateAuthorization (rawHeaders: string[]): boolean {
  let seen = 0
  for (let index = 0; index < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] as string
    if (name.length === 13 && name.toLowerCase() === 'authorization' && ++seen > 1) return true
  }
  return false
}
