import type { FastifyRequest } from 'fastify'
import { decodeJwt, decodeProtectedHeader } from 'jose'

/**
 * Why the credential of a request was not accepted, on `request.authFailure`.
 * `error` is the RFC 6750 (or, for a DPoP proof, RFC 9449) error code the 401/400 response carries; `reason` says more, for logs and
 * for apps that handle failures themselves (`token_expired`, `signature_invalid`, `header_malformed`…);
 * `claim` names the claim that failed, never its value.
 * @example
 * ```ts
 * import type { AuthFailure } from 'fastify-jwt-security'
 *
 * app.get('/me', async (request, reply) => {
 *   const failure: AuthFailure | null = request.authFailure
 *   if (failure?.reason === 'token_expired') return reply.code(401).send({ refresh: true })
 *   return request.identity
 * })
 * ```
 */
export interface AuthFailure {
  readonly error: 'invalid_token' | 'invalid_request' | 'invalid_dpop_proof' | 'use_dpop_nonce'
  readonly reason: string
  readonly claim?: string | undefined
}

const MAX_LOGGED_LENGTH = 128
const SKIP_DECODING: ReadonlySet<string> = new Set(['token_too_long', 'token_malformed'])

/**
 * Records a rejected credential on the request and logs it at debug, without the credential itself.
 * With a token, the debug line also names its `alg`, `kid`, `typ` and `iss` (OWASP's "what to log"
 * for a refused token); these are read only when debug logging is on.
 */
export function recordAuthFailure (request: FastifyRequest, failure: AuthFailure, token?: string): void {
  request.authFailure = failure
  const log = request.log as FastifyRequest['log'] & { isLevelEnabled?: (level: string) => boolean }
  if (log.isLevelEnabled?.('debug') !== true || token === undefined || SKIP_DECODING.has(failure.reason)) {
    log.debug({ authFailure: failure }, 'credential rejected')
  } else {
    log.debug({ authFailure: failure, token: describeToken(token) }, 'credential rejected')
  }
}

function describeToken (token: string): Record<string, string> {
  const described: Record<string, string> = {}
  try {
    const header = decodeProtectedHeader(token)
    for (const name of ['alg', 'kid', 'typ'] as const) addString(described, name, header[name])
    addString(described, 'iss', decodeJwt(token).iss)
  } catch {}
  return described
}

// Attacker-chosen strings: kept short, so a refused token cannot flood the logs.
function addString (target: Record<string, string>, name: string, value: unknown): void {
  if (typeof value === 'string') target[name] = value.length > MAX_LOGGED_LENGTH ? `${value.slice(0, MAX_LOGGED_LENGTH)}…` : value
}
