import { checkKnownOptions, checkLeeway, toSeconds, type Duration } from '../config/option-checks.js'
import { InvalidOptionError } from '../errors.js'
import { isSafeUrl } from '../keys/fetch-text.js'
import { checkDpopMode, type DpopMode } from './modes.js'
import { ASYMMETRIC_ALGORITHMS } from '../keys/remote-jwks.js'
import { DpopNonces, type DpopNonceOptions } from './nonces.js'
import type { ProofRules } from './proof.js'
import { MemoryDpopReplayStore, type DpopReplayStore } from './replay-store.js'

/**
 * Options of DPoP (RFC 9449): the `Authorization: DPoP` scheme, with a proof of the client's key
 * on every request. docs/dpop.md is the guide.
 * @example
 * ```ts
 * import jwtSecurity, { RedisDpopReplayStore, type DpopOptions } from 'fastify-jwt-security'
 *
 * // Several instances behind a proxy that ends TLS: proofs name the public URL, the replay store
 * // and the nonce secret are shared.
 * const dpop: DpopOptions = {
 *   publicOrigin: 'https://api.example.com',
 *   mode: 'required',
 *   replay: new RedisDpopReplayStore({ url: process.env.REDIS_URL }),
 *   nonce: { secret: process.env.DPOP_NONCE_SECRET as string, rotation: '5m' }
 * }
 * await app.register(jwtSecurity, { secret, dpop })
 * ```
 */
export interface DpopOptions {
  /** How the plugin's own tokens may be presented. Default `'allowed'`. */
  mode?: DpopMode
  /**
   * The scheme, host and port clients send requests to (`'https://api.example.com'`; `http:` on a
   * loopback host only): a proof's `htu` must be it followed by the request's path. Never taken
   * from the Host header. Default: the origin of `protectedResource.resource`.
   */
  publicOrigin?: string
  /** The algorithms a proof may be signed with. Default `['ES256', 'EdDSA', 'Ed25519']`. */
  algorithms?: string[]
  /** How old a proof (its `iat`) may be, seconds or a duration string (at most 10 minutes). Default `'60s'`. */
  maxAge?: Duration
  /** How far in the future a proof's `iat` may be (clock skew), at most 300 s. Default `'5s'`. */
  leeway?: Duration
  /** Where the `jti` of accepted proofs are kept. Default: a {@link MemoryDpopReplayStore} (one instance). */
  replay?: DpopReplayStore
  /** Server-provided nonces (RFC 9449 §8–§9). Default: none. */
  nonce?: DpopNonceOptions
}

/** The `dpop` option after validation. */
export interface ResolvedDpop {
  readonly mode: DpopMode
  /** `publicOrigin`: scheme and host in lower case, no default port, no trailing slash. */
  readonly origin: string
  readonly rules: ProofRules
  readonly replay: DpopReplayStore
  /** Where token requests' proofs are kept: `replay`, or with the default store, one of their own. */
  readonly tokenRequestReplay: DpopReplayStore
  readonly nonces: DpopNonces | null
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['mode', 'publicOrigin', 'algorithms', 'maxAge', 'leeway', 'replay', 'nonce'])
// Ed25519 (RFC 9864's name for EdDSA with Ed25519) is among them: oauth4webapi signs proofs with it.
const PROOF_ALGORITHMS: readonly string[] = ASYMMETRIC_ALGORITHMS
const DEFAULT_ALGORITHMS: readonly string[] = Object.freeze(['ES256', 'EdDSA', 'Ed25519'])
const MAX_PROOF_AGE = 600

/**
 * Validates the `dpop` option; null without it. `protectedResource` is the raw option of that name,
 * whose `resource` gives the default origin; `now` is the plugin's clock.
 */
export function resolveDpop (value: unknown, protectedResource: unknown, now: () => number): ResolvedDpop | null {
  if (value === undefined) return null
  checkKnownOptions(value, OPTION_NAMES, 'dpop.')
  const options = value as DpopOptions
  const mode = options.mode === undefined ? 'allowed' : checkDpopMode('dpop.mode', options.mode)
  const origin = resolveOrigin(options.publicOrigin, (protectedResource as { resource?: unknown } | undefined)?.resource)
  const maxAge = toSeconds('dpop.maxAge', options.maxAge === undefined ? 60 : options.maxAge)
  if (maxAge < 1 || maxAge > MAX_PROOF_AGE) throw new InvalidOptionError('dpop.maxAge', `expected 1 to ${MAX_PROOF_AGE} seconds`)
  const rules: ProofRules = Object.freeze({
    algorithms: checkProofAlgorithms(options.algorithms),
    maxAge,
    leeway: checkLeeway('dpop.leeway', options.leeway === undefined ? 5 : options.leeway)
  })
  const replay = options.replay === undefined ? new MemoryDpopReplayStore() : options.replay
  if (typeof (replay as Partial<DpopReplayStore> | null)?.firstUse !== 'function') throw new InvalidOptionError('dpop.replay', 'expected a DpopReplayStore')
  const nonces = options.nonce === undefined ? null : new DpopNonces(options.nonce, now, 'dpop.nonce')
  // A login's proof needs no account: anyone can send many. With the default store, they fill a
  // store of their own, and a flood of them cannot crowd out the proofs of token holders.
  const tokenRequestReplay = options.replay === undefined ? new MemoryDpopReplayStore() : replay
  return Object.freeze({ mode, origin, rules, replay, tokenRequestReplay, nonces })
}

function resolveOrigin (value: unknown, resource: unknown): string {
  const given = value ?? (typeof resource === 'string' ? new URL(resource).origin : undefined)
  if (given === undefined) throw new InvalidOptionError('dpop.publicOrigin', 'is required (or protectedResource): proofs name the URL clients call, which a request alone cannot be trusted to tell')
  let url: URL | null = null
  try {
    url = new URL(given as string)
  } catch {}
  if (url === null || url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new InvalidOptionError('dpop.publicOrigin', 'expected an origin such as "https://api.example.com": scheme, host and port only')
  }
  // A proof names the URL: one for plain http could be read and replayed on the way.
  if (!isSafeUrl(url, true)) throw new InvalidOptionError('dpop.publicOrigin', 'expected https: (http: on a loopback host only)')
  return url.origin
}

function checkProofAlgorithms (value: unknown): readonly string[] {
  if (value === undefined) return DEFAULT_ALGORITHMS
  if (Array.isArray(value) && value.length > 0 && value.every((item) => PROOF_ALGORITHMS.includes(item as string))) {
    return Object.freeze([...new Set(value as string[])])
  }
  throw new InvalidOptionError('dpop.algorithms', `expected a non-empty array of ${PROOF_ALGORITHMS.join(', ')}`)
}
