import type { FastifyRequest } from 'fastify'
import { PolicyFailedError } from './errors.js'

/**
 * The error a request gets when the security policy (or the identity callback) throws: the app
 * author's fault, so a logged 500 with a fixed text. The plugin's own coded errors pass through.
 */
export function policyFailure (request: FastifyRequest, error: unknown): Error {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code.startsWith('FST_JWT_SECURITY_')) return error as Error
  request.log.error({ err: error }, 'the security policy failed')
  return new PolicyFailedError()
}
