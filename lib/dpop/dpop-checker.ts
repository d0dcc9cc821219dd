import type { FastifyRequest } from 'fastify'
import { DpopNonceRequiredError, DpopProofRefusedError, DpopReplayUnavailableError, InvalidOptionError } from '../errors.js'
import { OutageLog } from '../outage-log.js'
import type { AuthFailure } from '../policies/auth-failure.js'
import type { JwtClaims } from '../tokens/claims.js'
import type { DpopMode } from './modes.js'
import type { DpopNonces } from './nonces.js'
import type { DpopReplayStore } from './replay-store.js'
import type { ResolvedDpop } from './options.js'
import { DpopProofRejection, normalizeHtu, verifyProof, type VerifiedProof } from './proof.js'

/**
 * The DPoP checks of a {@link PolicyContext}: what a policy asks about a token presented as a
 * bearer token, and about one presented with `Authorization: DPoP` and a proof.
 * @example
 * ```ts
 * import type { FastifyRequest } from 'fastify'
 * import type { JwtClaims, PolicyContext } from 'fastify-jwt-security'
 *
 * // A transport of the app's that carries tokens without proofs must refuse DPoP-bound ones, and
 * // those whose mode is 'required', as the built-in policies do: a stolen bound token would
 * // otherwise work without its key.
 * function refusal (context: PolicyContext, claims: JwtClaims) {
 *   return context.dpop.bearerFailure(claims)
 * }
 * ```
 */
export interface PolicyDpop {
  /** True when some kind of token may come with the DPoP scheme (a mode other than `'off'`). */
  readonly acceptsScheme: boolean
  /** The mode of the app's own tokens (`dpop.mode`; `'off'` without the option). */
  readonly ownMode: DpopMode
  /**
   * Tells the plugin, at registration, that the calling policy reads `Authorization: DPoP` (the
   * header policy does): with DPoP on and no policy that reads it, registration fails.
   */
  readsScheme (): void
  /**
   * A failure for a token that came without a proof (as Bearer, in a cookie, in a header of the
   * app's): bound to a key, or of a kind whose mode is `'required'`; else null. Every transport
   * that does not check proofs must ask it.
   */
  bearerFailure (claims: JwtClaims): AuthFailure | null
  /**
   * The checks of a token sent with the DPoP scheme (RFC 9449 §4.3, §7.1): the token's mode, its
   * binding, the request's one proof, its key, nonce and `jti`. Null when they pass. Rejects with a
   * 503 error when the replay store cannot answer.
   */
  checkRequest (request: FastifyRequest, token: string, claims: JwtClaims): Promise<AuthFailure | null>
}

const failure = (error: AuthFailure['error'], reason: string, claim?: string): AuthFailure =>
  Object.freeze(claim === undefined ? { error, reason } : { error, reason, claim })
const BOUND_AS_BEARER = failure('invalid_token', 'dpop_bound_token', 'cnf')
const DPOP_REQUIRED = failure('invalid_token', 'dpop_required')
const DPOP_NOT_ACCEPTED = failure('invalid_token', 'dpop_not_accepted')
const TOKEN_UNBOUND = failure('invalid_token', 'dpop_token_unbound', 'cnf')
const PROOF_MISSING = failure('invalid_dpop_proof', 'dpop_proof_missing')
const PROOF_DUPLICATED = failure('invalid_dpop_proof', 'dpop_proof_duplicated')
const PROOF_REPLAYED = failure('invalid_dpop_proof', 'dpop_proof_replayed')
const NONCE_MISSING = failure('use_dpop_nonce', 'dpop_nonce_missing')
const NONCE_INVALID = failure('use_dpop_nonce', 'dpop_nonce_invalid')
const REJECTIONS = new Map<string, AuthFailure>()
const RETRY_AFTER: Readonly<Record<string, string>> = Object.freeze({ 'retry-after': '5' })

// Dot segments, plain or percent-encoded: the router reads `/a/../x` as a route of its own, while
// its normalised URL is `/x`, which a proof for /x would match.
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i

// The URL a proof's htu must name: the public origin, then the request's path as the client sent
// it (before any rewriteUrl), without its query. Null for an absolute-form target or a path with
// dot segments, which no proof is accepted for.
function expectedUrl (origin: string, target: string): string | null {
  if (target.charCodeAt(0) !== 0x2F) return null
  const query = target.indexOf('?')
  const path = query === -1 ? target : target.slice(0, query)
  return DOT_SEGMENT.test(path) ? null : normalizeHtu(origin + path)
}

function rejection (reason: string): AuthFailure {
  let known = REJECTIONS.get(reason)
  if (known === undefined) {
    known = failure('invalid_dpop_proof', reason)
    REJECTIONS.set(reason, known)
  }
  return known
}

/** The DPoP rules of one registration: the modes of the app's own tokens and of each trusted issuer's. */
export class DpopChecker implements PolicyDpop {
  readonly acceptsScheme: boolean
  /** False when every kind of token must be DPoP-bound: 401s then offer the DPoP scheme alone. */
  readonly offersBearer: boolean
  /** The `algs` of DPoP challenges (RFC 9449 §7.1), space-separated; empty without the `dpop` option. */
  readonly algs: string
  readonly ownMode: DpopMode
  readonly #dpop: ResolvedDpop | null
  readonly #issuerModes: ReadonlyMap<string, DpopMode>
  readonly #anyRequired: boolean
  readonly #now: () => number
  readonly #replayTtl: number
  readonly #outage = new OutageLog()
  // The proof each request was accepted with, or its token-request check under way: asked again
  // in the same request, the answer is the same, and the jti is not recorded twice.
  readonly #requestProofs = new WeakMap<FastifyRequest, Promise<{ jkt: string }>>()
  #schemeRead = false

  /** `ownKeys`: whether the app has keys of its own, whose tokens the `dpop` option's mode governs. */
  constructor (dpop: ResolvedDpop | null, issuerModes: ReadonlyMap<string, DpopMode>, now: () => number, ownKeys: boolean) {
    this.#dpop = dpop
    this.ownMode = dpop?.mode ?? 'off'
    this.#issuerModes = issuerModes
    const modes = [...(ownKeys ? [this.ownMode] : []), ...issuerModes.values()]
    this.acceptsScheme = modes.some((mode) => mode !== 'off')
    this.offersBearer = modes.some((mode) => mode !== 'required')
    this.#anyRequired = !this.offersBearer || modes.includes('required')
    this.algs = dpop?.rules.algorithms.join(' ') ?? ''
    this.#now = now
    // A proof is accepted while its iat is within [now - maxAge - leeway, now + leeway], jose
    // counting in whole seconds: its jti must be remembered until the latest of those has passed.
    this.#replayTtl = dpop === null ? 0 : dpop.rules.maxAge + 2 * dpop.rules.leeway + 1
  }

  readsScheme (): void {
    this.#schemeRead = true
  }

  /** Whether a policy said it reads the DPoP scheme. */
  get schemeRead (): boolean {
    return this.#schemeRead
  }

  /** The nonce DPoP-Nonce headers carry now; only asked for once a proof failed for its nonce, so with nonces on. */
  currentNonce (): string {
    return ((this.#dpop as ResolvedDpop).nonces as DpopNonces).current()
  }

  bearerFailure (claims: JwtClaims): AuthFailure | null {
    if (claims.cnf !== undefined) return BOUND_AS_BEARER
    return this.#anyRequired && this.#modeOf(claims) === 'required' ? DPOP_REQUIRED : null
  }

  async checkRequest (request: FastifyRequest, token: string, claims: JwtClaims): Promise<AuthFailure | null> {
    if (this.#modeOf(claims) === 'off') return DPOP_NOT_ACCEPTED
    const jkt = (claims.cnf as { jkt?: unknown } | undefined)?.jkt
    if (typeof jkt !== 'string') return TOKEN_UNBOUND
    const dpop = this.#dpop as ResolvedDpop
    const proof = await this.#proof(request, token, jkt)
    const refused = 'jkt' in proof ? await this.#fresh(request, proof, dpop.replay) : proof
    if (refused === null) this.#requestProofs.set(request, Promise.resolve({ jkt }))
    return refused
  }

  /**
   * The proof of a request that asks for a token (a login), for `createJwtToken`'s `jkt`: checked
   * as on every request, without `ath`. Rejects with a 400 error otherwise. A proof this request
   * was already authenticated with (a refresh by a DPoP client), or that an earlier call checked,
   * gives the same answer: its jti is recorded once.
   */
  tokenRequestProof (request: FastifyRequest): Promise<{ jkt: string }> {
    let known = this.#requestProofs.get(request)
    if (known === undefined) {
      known = this.#tokenRequestProof(request)
      this.#requestProofs.set(request, known)
    }
    return known
  }

  async #tokenRequestProof (request: FastifyRequest): Promise<{ jkt: string }> {
    if (this.#dpop === null) throw new InvalidOptionError('dpop', 'request.dpopProof() needs the dpop option')
    const proof = await this.#proof(request, null, null)
    const refused = 'jkt' in proof ? await this.#fresh(request, proof, this.#dpop.tokenRequestReplay) : proof
    if (refused === null) return { jkt: (proof as VerifiedProof).jkt }
    if (refused.error === 'use_dpop_nonce') {
      const error = new DpopNonceRequiredError()
      Object.assign(error, { reason: refused.reason, headers: { 'dpop-nonce': this.currentNonce() } })
      throw error
    }
    throw Object.assign(new DpopProofRefusedError(), { reason: refused.reason })
  }

  #modeOf (claims: JwtClaims): DpopMode {
    return this.#issuerModes.get(claims.iss as string) ?? this.ownMode
  }

  async #proof (request: FastifyRequest, token: string | null, jkt: string | null): Promise<VerifiedProof | AuthFailure> {
    const dpop = this.#dpop as ResolvedDpop
    const header = request.headers.dpop
    if (header === undefined) return PROOF_MISSING
    // Node joins a repeated header with ", ", which a compact JWS never holds (RFC 9449 §4.3: one proof).
    if (typeof header !== 'string' || header.includes(',')) return PROOF_DUPLICATED
    const url = expectedUrl(dpop.origin, request.originalUrl)
    if (url === null) return rejection('dpop_url_mismatch')
    try {
      return await verifyProof(header, { method: request.method, url, accessToken: token, jkt, now: this.#now() }, dpop.rules)
    } catch (error) {
      return rejection((error as DpopProofRejection).reason)
    }
  }

  // The nonce, then the jti: a proof refused for its nonce costs the store nothing.
  async #fresh (request: FastifyRequest, proof: VerifiedProof, replay: DpopReplayStore): Promise<AuthFailure | null> {
    const { nonces } = this.#dpop as ResolvedDpop
    if (nonces !== null) {
      if (proof.nonce === undefined) return NONCE_MISSING
      if (!nonces.accepts(proof.nonce)) return NONCE_INVALID
    }
    let first: boolean
    try {
      first = await replay.firstUse(`${proof.jkt}:${proof.jti}`, this.#replayTtl)
    } catch (error) {
      this.#outage.failed(request.log, error, 'the DPoP replay store cannot be used: requests with DPoP proofs are refused (503)')
      const unavailable = new DpopReplayUnavailableError({ cause: error })
      ;(unavailable as { headers?: Record<string, string> }).headers = RETRY_AFTER
      throw unavailable
    }
    if (this.#outage.active) this.#outage.recovered(request.log, 'the DPoP replay store answers again')
    return first === true ? null : PROOF_REPLAYED
  }
}
