import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { SecurityPolicy } from './policy.js'
import { policyFailure } from './policy-failure.js'
import { isPromiseLike } from './promise-like.js'

type Done = HookHandlerDoneFunction

/**
 * The onRequest hook that resolves the identity once per request. Written with `done` rather than
 * async so that a request without credentials (a policy answering synchronously) costs no promise.
 */
export function identityHook (policy: SecurityPolicy) {
  const useridOf = policy.authenticatedUserid === undefined
    ? (request: FastifyRequest) => defaultUserid(request.identity)
    : (request: FastifyRequest) => (policy.authenticatedUserid as NonNullable<SecurityPolicy['authenticatedUserid']>)(request)

  function setUserid (request: FastifyRequest, userid: unknown, done: Done): void {
    if (userid !== null && userid !== undefined && typeof userid !== 'string') {
      done(policyFailure(request, new TypeError('SecurityPolicy.authenticatedUserid must return a string or null')))
      return
    }
    request.authenticatedUserid = userid ?? null
    request.isAuthenticated = request.authenticatedUserid !== null
    done()
  }

  function setIdentity (request: FastifyRequest, identity: unknown, done: Done): void {
    request.identity = (identity ?? null) as FastifyRequest['identity']
    if (request.identity === null) {
      done()
      return
    }
    let userid: unknown
    try {
      userid = useridOf(request)
    } catch (error) {
      done(policyFailure(request, error))
      return
    }
    if (isPromiseLike(userid)) {
      userid.then((value) => setUserid(request, value, done), (error: unknown) => done(policyFailure(request, error)))
    } else {
      setUserid(request, userid, done)
    }
  }

  return function resolveIdentity (request: FastifyRequest, _reply: FastifyReply, done: Done): void {
    let identity: unknown
    try {
      identity = policy.identity(request)
    } catch (error) {
      done(policyFailure(request, error))
      return
    }
    if (isPromiseLike(identity)) {
      identity.then((value) => setIdentity(request, value, done), (error: unknown) => done(policyFailure(request, error)))
    } else {
      setIdentity(request, identity, done)
    }
  }
}

/** The userid of an identity when its policy has no authenticatedUserid: the string itself, or its `userid`. */
export function defaultUserid (identity: unknown): string | null {
  if (typeof identity === 'string') return identity
  const userid = (identity as { userid?: unknown }).userid
  return typeof userid === 'string' ? userid : null
}
