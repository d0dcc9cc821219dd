import type { FastifyRequest } from 'fastify'

/**
 * Why the credential of a request was not accepted, on `request.authFailure`.
 * `error` is the RFC 6750 error code the 401/400 response carries; `reason` says more, for logs and
 * for apps that handle failures themselves (`token_expired`, `signature_invalid`, `header_malformed`…);
 * `claim` names the claim that failed, never its value.
 */
export interface AuthFailure {
  readonly error: 'invalid_token' | 'invalid_request'
  readonly reason: string
  readonly claim?: string | undefined
}

/** Records a rejected credential on the request and logs it at debug, without the credential itself. */
export function recordAuthFailure (request: FastifyRequest, failure: AuthFailure): void {
  request.authFailure = failure
  request.log.debug({ authFailure: failure }, 'credential rejected')
}
