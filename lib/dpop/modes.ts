import { InvalidOptionError } from '../errors.js'

/**
 * How a kind of token may be presented: `'off'` (as a bearer token only; DPoP-bound ones are
 * refused), `'allowed'` (a DPoP-bound token with a valid proof, or an unbound one as Bearer) or
 * `'required'` (DPoP-bound tokens with a valid proof only).
 * @example
 * ```ts
 * import jwtSecurity, { type DpopMode } from 'fastify-jwt-security'
 *
 * // The provider's tokens must be DPoP-bound; the app's own may still be bearer tokens.
 * const providerMode: DpopMode = 'required'
 * await app.register(jwtSecurity, {
 *   secret,
 *   dpop: { publicOrigin: 'https://api.example.com', mode: 'allowed' },
 *   issuers: [{ issuer: 'https://login.example.com', audience: 'orders-api', dpop: providerMode }]
 * })
 * ```
 */
export type DpopMode = 'off' | 'allowed' | 'required'

const MODES: ReadonlySet<unknown> = new Set(['off', 'allowed', 'required'])

/** Checks a DPoP mode: `option` names it in the error. */
export function checkDpopMode (option: string, value: unknown): DpopMode {
  if (MODES.has(value)) return value as DpopMode
  throw new InvalidOptionError(option, "expected 'off', 'allowed' or 'required'")
}
