import type { FastifyBaseLogger } from 'fastify'
import type { JWTVerifyOptions } from 'jose'
import { ClaimsPrincipals, resolveClaimsMapping, type ClaimsMapping } from '../authz/claims-mapping.js'
import { checkAudience, checkKnownOptions, checkLeeway, type Duration } from '../config/option-checks.js'
import { InvalidOptionError } from '../errors.js'
import { checkDpopMode, type DpopMode } from '../dpop/modes.js'
import { discoverJwksUri, discoveryUrls } from './discovery.js'
import { HttpStatusError, isSafeUrl } from './fetch-text.js'
import { localKeySet, type KeySpec } from './key-ring.js'
import type { Algorithm, AsymmetricAlgorithm, KeyResolver } from './keys.js'
import { ASYMMETRIC_ALGORITHMS, checkAlgorithms, FETCH_RULE_NAMES, RemoteKeySet, resolveFetchRules, type FetchRules } from './remote-jwks.js'

/**
 * An identity provider whose access tokens the app accepts. A token is matched to its issuer by
 * its `iss` claim, compared exactly with `issuer` before anything is fetched: a token never makes
 * the server fetch from a URL of its choosing. The keys come from `keys`, else from `jwksUri`,
 * else from OpenID Connect Discovery at `{issuer}/.well-known/openid-configuration` (RFC 8414's
 * `/.well-known/oauth-authorization-server` when that answers 404). Fetched keys follow the
 * outage rules of the `jwks` option, with the same option names.
 * @example
 * ```ts
 * import jwtSecurity, { type TrustedIssuer } from 'fastify-jwt-security'
 *
 * const keycloak: TrustedIssuer = {
 *   issuer: 'https://sso.example.com/realms/acme',
 *   audience: 'orders-api',
 *   claims: { roles: [['realm_access', 'roles'], ['resource_access', 'orders-api', 'roles']] },
 *   prefetch: true
 * }
 * await app.register(jwtSecurity, { issuers: [keycloak] })
 * ```
 */
export interface TrustedIssuer extends FetchRules {
  /** The issuer, exactly as its tokens' `iss` claim and its discovery document name it. */
  issuer: string
  /** The audience(s) its tokens must be for (one match is enough): this API's identifier at the provider. */
  audience: string | string[]
  /**
   * The claim `audience` is compared with: `'aud'` (default), or `'client_id'` for a provider whose
   * access tokens carry no `aud` (Amazon Cognito): `audience` then lists the app clients accepted.
   */
  audienceClaim?: 'aud' | 'client_id'
  /** The JWK Set URL, instead of discovery. */
  jwksUri?: string | URL
  /** Keys of its own to verify with, instead of fetching any (each with its `kid` and `algorithm`). */
  keys?: KeySpec[]
  /** The algorithms accepted from fetched keys. Default: every asymmetric algorithm. */
  algorithms?: AsymmetricAlgorithm[]
  /** Clock skew allowed on exp, nbf and iat (at most 300 s). Default 0. */
  leeway?: Duration
  /** The `typ` header its tokens must carry. Default: none required (`'at+jwt'` with the `rfc9068` profile). */
  typ?: string
  /**
   * `'rfc9068'`: JWT access tokens as RFC 9068 profiles them: `typ` `at+jwt` (or
   * `application/at+jwt`), and `iss`, `exp`, `aud`, `sub`, `client_id`, `iat` and `jti` required.
   */
  profile?: 'rfc9068'
  /** Which claims become roles and scopes. Default: no roles; scopes from `scope` and `scp`. */
  claims?: ClaimsMapping
  /** Accepts `http:` issuer and key URLs on loopback hosts (for tests against a local provider). Default false. */
  allowHttpLoopback?: boolean
  /** How its tokens may be presented (DPoP, RFC 9449); other than `'off'` needs the plugin's `dpop` option. Default `'allowed'` with that option, else `'off'`. */
  dpop?: DpopMode
}

/** How the tokens of one trusted issuer are verified, built at registration. */
export interface IssuerVerifier {
  readonly issuer: string
  readonly resolve: KeyResolver
  /** Changes whenever its fetched keys change; always 0 for its own keys. */
  readonly generation: () => number
  /** How long its fetched keys are trusted (ms), or null for its own keys. */
  readonly maxAge: number | null
  /** Until when (ms) its keys may verify without being looked at again: Infinity for its own keys. */
  readonly validUntil: () => number
  /** jose's options: the issuer, audience, algorithms, leeway, typ and required claims. */
  readonly verifyOptions: Readonly<JWTVerifyOptions>
  readonly leeway: number
  /** With `audienceClaim: 'client_id'`, the client ids accepted; null when jose checks `aud`. */
  readonly clientIds: ReadonlySet<string> | null
  readonly principals: ClaimsPrincipals
  /** The discovery URL when the keys come from discovery (for an OpenAPI openIdConnect scheme), else null. */
  readonly discoveryUrl: string | null
  /** Settles when the keys asked for at registration (`prefetch`) let the app start. */
  readonly prefetched: Promise<void>
  /** Its `dpop` option, or undefined when not given. */
  readonly dpop: DpopMode | undefined
}

const ISSUER_OPTION_NAMES: ReadonlySet<string> = new Set([
  'issuer', 'audience', 'audienceClaim', 'jwksUri', 'keys', 'algorithms', 'leeway', 'typ', 'profile', 'claims', 'allowHttpLoopback', 'dpop', ...FETCH_RULE_NAMES
])
const MAX_ISSUERS = 32
const RFC9068_CLAIMS = Object.freeze(['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'])
const DEFAULT_CLAIMS = Object.freeze(['exp', 'iat', 'sub'])

/** Checks the `issuers` option and builds each issuer's verification; `ownIssuer` is the plugin's `issuer` option. */
export async function buildIssuers (value: unknown, ownIssuer: string | undefined, log: FastifyBaseLogger): Promise<IssuerVerifier[]> {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_ISSUERS) {
    throw new InvalidOptionError('issuers', `expected an array of 1 to ${MAX_ISSUERS} trusted issuers`)
  }
  const verifiers: IssuerVerifier[] = []
  for (const [index, options] of value.entries()) {
    const verifier = await buildIssuer(`issuers[${index}].`, options, log)
    if (verifier.issuer === ownIssuer) throw new InvalidOptionError(`issuers[${index}].issuer`, 'is the plugin\'s own issuer option: tokens it signs and tokens of a trusted issuer must be told apart by iss')
    if (verifiers.some((known) => known.issuer === verifier.issuer)) throw new InvalidOptionError(`issuers[${index}].issuer`, 'is the issuer of an earlier entry')
    verifiers.push(verifier)
  }
  return verifiers
}

async function buildIssuer (prefix: string, options: unknown, log: FastifyBaseLogger): Promise<IssuerVerifier> {
  checkKnownOptions(options, ISSUER_OPTION_NAMES, prefix)
  const input = options as TrustedIssuer
  const { issuer, keys, algorithms, profile, allowHttpLoopback = false } = input
  if (typeof issuer !== 'string' || issuer.length === 0) throw new InvalidOptionError(`${prefix}issuer`, 'expected a non-empty string')
  if (typeof allowHttpLoopback !== 'boolean') throw new InvalidOptionError(`${prefix}allowHttpLoopback`, 'expected true or false')
  if (profile !== undefined && profile !== 'rfc9068') throw new InvalidOptionError(`${prefix}profile`, "expected 'rfc9068'")
  const typ = checkTyp(prefix, input.typ, profile)
  const leeway = checkLeeway(`${prefix}leeway`, input.leeway)
  // Required: a provider signs tokens for every API it serves.
  const audience = checkAudience(`${prefix}audience`, input.audience)
  const { audienceClaim = 'aud' } = input
  if (audienceClaim !== 'aud' && audienceClaim !== 'client_id') throw new InvalidOptionError(`${prefix}audienceClaim`, "expected 'aud' or 'client_id'")
  const byClientId = audienceClaim === 'client_id'
  if (byClientId && profile === 'rfc9068') throw new InvalidOptionError(`${prefix}audienceClaim`, 'the rfc9068 profile requires aud: leave audienceClaim out')
  const principals = new ClaimsPrincipals(resolveClaimsMapping(`${prefix}claims`, input.claims, { roles: [] }))
  if (keys !== undefined && algorithms !== undefined) throw new InvalidOptionError(`${prefix}algorithms`, 'give each of keys its algorithm instead')
  const source = await keySource(prefix, input, issuer, allowHttpLoopback, log)
  const verifyOptions: JWTVerifyOptions = Object.freeze({
    algorithms: [...source.algorithms],
    issuer,
    ...(byClientId ? {} : { audience: audience as string | string[] }),
    clockTolerance: leeway,
    requiredClaims: [...new Set([...(profile === 'rfc9068' ? RFC9068_CLAIMS : DEFAULT_CLAIMS), ...(byClientId ? ['client_id'] : [])])],
    ...(typ === undefined ? {} : { typ })
  })
  const clientIds = byClientId ? new Set(typeof audience === 'string' ? [audience] : audience) : null
  const dpop = input.dpop === undefined ? undefined : checkDpopMode(`${prefix}dpop`, input.dpop)
  return Object.freeze({ issuer, verifyOptions, leeway, clientIds, principals, dpop, ...source })
}

interface KeySource {
  readonly resolve: KeyResolver
  readonly algorithms: readonly Algorithm[]
  readonly generation: () => number
  readonly maxAge: number | null
  readonly validUntil: () => number
  readonly discoveryUrl: string | null
  readonly prefetched: Promise<void>
}

async function keySource (prefix: string, input: TrustedIssuer, issuer: string, httpLoopback: boolean, log: FastifyBaseLogger): Promise<KeySource> {
  const { keys, jwksUri } = input
  if (keys !== undefined) {
    if (jwksUri !== undefined) throw new InvalidOptionError(`${prefix}jwksUri`, 'leave it out with keys: the issuer\'s keys are given')
    const rule = FETCH_RULE_NAMES.find((name) => input[name] !== undefined)
    if (rule !== undefined) throw new InvalidOptionError(`${prefix}${rule}`, 'applies to fetched keys: leave it out with keys')
    const ring = await localKeySet(keys, undefined, `${prefix}keys`)
    return { resolve: ring.resolve, algorithms: ring.algorithms, generation: () => 0, maxAge: null, validUntil: () => Infinity, discoveryUrl: null, prefetched: Promise.resolve() }
  }
  const { timing, prefetch } = resolveFetchRules(prefix, input)
  const algorithms = checkAlgorithms(`${prefix}algorithms`, input.algorithms ?? ASYMMETRIC_ALGORITHMS)
  const issuerLog = log.child({ issuer })
  if (jwksUri !== undefined) {
    const location = safeUrl(`${prefix}jwksUri`, jwksUri, httpLoopback, '', true)
    const set = new RemoteKeySet(async () => location, location.href, issuerLog, timing)
    return { ...set.start(prefetch, algorithms), discoveryUrl: null }
  }
  // Discovery: the issuer is a URL, and its metadata names the JWK Set. The jwks_uri found is kept
  // until that URL answers 404, when the next fetch discovers it again.
  const [oidc] = discoveryUrls(safeUrl(`${prefix}issuer`, issuer, httpLoopback, 'with discovery, '))
  let located: Promise<URL> | null = null
  const locate = (): Promise<URL> => {
    located ??= discoverJwksUri(issuer, timing.timeout, httpLoopback)
    return located.catch((error: unknown) => {
      located = null
      throw error
    })
  }
  const set = new RemoteKeySet(locate, issuer, issuerLog, timing, (error) => {
    if (error instanceof HttpStatusError && error.status === 404) located = null
  })
  return { ...set.start(prefetch, algorithms), discoveryUrl: oidc.href }
}

// An issuer identifier has no query (RFC 8414 §2); a key set URL may (Entra ID's ?appid= for an
// app's own signing keys).
function safeUrl (option: string, value: unknown, httpLoopback: boolean, context = '', query = false): URL {
  let url: URL
  try {
    url = new URL(value as string | URL)
  } catch {
    throw new InvalidOptionError(option, `${context}expected an absolute https: URL`)
  }
  if ((!query && url.search !== '') || url.hash !== '') throw new InvalidOptionError(option, `${context}expected a URL without ${query ? '' : 'query or '}fragment`)
  if (!isSafeUrl(url, httpLoopback)) {
    throw new InvalidOptionError(option, `${context}expected an https: URL (http: on loopback only with allowHttpLoopback): keys fetched in the clear could be replaced`)
  }
  return url
}

function checkTyp (prefix: string, value: unknown, profile: string | undefined): string | undefined {
  if (value !== undefined && (typeof value !== 'string' || value.length === 0)) throw new InvalidOptionError(`${prefix}typ`, 'expected a non-empty string')
  if (profile !== 'rfc9068') return value as string | undefined
  // jose compares typ without case and without an application/ prefix: at+jwt also accepts application/at+jwt.
  if (value !== undefined && (value as string).toLowerCase().replace(/^application\//, '') !== 'at+jwt') {
    throw new InvalidOptionError(`${prefix}typ`, 'the rfc9068 profile requires at+jwt')
  }
  return 'at+jwt'
}
