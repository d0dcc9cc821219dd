import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { DpopReplayUnavailableError, KeysUnavailableError, PolicyFailedError, RevocationUnavailableError } from '../errors.js'
import { isPromiseLike, type SecurityPolicy } from './policy.js'

type Done = HookHandlerDoneFunction

const DEFAULT_RETRY: Readonly<Record<string, string>> = Object.freeze({ 'retry-after': '5' })

/**
 * Fails the request with what the policy threw. An outage of the key server, the revocation
 * store or the DPoP replay store is answered here, with the body Fastify gives errors: through
 * the error handler, Fastify would log each of its 503s, and an outage would flood the logs (the
 * outage is logged, a line per 10 seconds, where it is met).
 */
function fail (request: FastifyRequest, reply: FastifyReply, error: unknown, done: Done): void {
  const failure = policyFailure(request, error)
  if (failure instanceof KeysUnavailableError || failure instanceof RevocationUnavailableError || failure instanceof DpopReplayUnavailableError) {
    const { code, message, headers } = failure as typeof failure & { headers?: Record<string, string> }
    // A custom policy may throw these errors too, without a Retry-After of its own.
    reply.code(503).headers(headers ?? DEFAULT_RETRY).send({ statusCode: 503, code, error: 'Service Unavailable', message })
    return
  }
  done(failure)
}

/**
 * The onRequest hook that resolves the identity once per request. Written with `done` rather than
 * async so that a request without credentials (a policy answering synchronously) costs no promise.
 */
export function identityHook (policy: SecurityPolicy) {
  const useridOf = policy.authenticatedUserid === undefined
    ? (request: FastifyRequest) => defaultUserid(request.identity)
    : (request: FastifyRequest) => (policy.authenticatedUserid as NonNullable<SecurityPolicy['authenticatedUserid']>)(request)

  function setUserid (request: FastifyRequest, reply: FastifyReply, userid: unknown, done: Done): void {
    if (userid !== null && userid !== undefined && typeof userid !== 'string') {
      fail(request, reply, new TypeError('SecurityPolicy.authenticatedUserid must return a string or null'), done)
      return
    }
    request.authenticatedUserid = userid ?? null
    request.isAuthenticated = request.authenticatedUserid !== null
    done()
  }

  function setIdentity (request: FastifyRequest, reply: FastifyReply, identity: unknown, done: Done): void {
    request.identity = (identity ?? null) as FastifyRequest['identity']
    if (request.identity === null) {
      done()
      return
    }
    let userid: unknown
    try {
      userid = useridOf(request)
    } catch (error) {
      fail(request, reply, error, done)
      return
    }
    if (isPromiseLike(userid)) {
      userid.then((value) => setUserid(request, reply, value, done), (error: unknown) => fail(request, reply, error, done))
    } else {
      setUserid(request, reply, userid, done)
    }
  }

  return function resolveIdentity (request: FastifyRequest, reply: FastifyReply, done: Done): void {
    let identity: unknown
    try {
      identity = policy.identity(request)
    } catch (error) {
      fail(request, reply, error, done)
      return
    }
    if (isPromiseLike(identity)) {
      identity.then((value) => setIdentity(request, reply, value, done), (error: unknown) => fail(request, reply, error, done))
    } else {
      setIdentity(request, reply, identity, done)
    }
  }
}

/** The userid of an identity when its policy has no authenticatedUserid: the string itself, or its `userid`. */
export function defaultUserid (identity: unknown): string | null {
  if (typeof identity === 'string') return identity
  const userid = (identity as { userid?: unknown }).userid
  return typeof userid === 'string' ? userid : null
}

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
