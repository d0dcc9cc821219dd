import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { NO_PERMISSION_REQUIRED } from '../authz/permits.js'
import { InvalidOptionError } from '../errors.js'
import type { ResolvedProtectedResource } from './options.js'

// The document changes only with the app's code or configuration: an hour's caching spares clients
// that fetch it before each token request, and a deployment that changes it is seen within the hour.
const HEADERS = Object.freeze({ 'content-type': 'application/json', 'cache-control': 'public, max-age=3600' })

/** What the metadata says of DPoP: the proof algorithms, and whether every token must be DPoP-bound. */
export interface DpopMetadata {
  readonly algorithms: readonly string[]
  readonly required: boolean
}

/**
 * The protected resource metadata document (RFC 9728 §2), members in the RFC's order. An absent
 * `authorizationServers` takes `defaultAuthorizationServers`, an absent `scopesSupported` the scopes
 * the routes name; either is left out when it is empty. With DPoP, its two members end the document.
 */
export function metadataDocument (
  options: ResolvedProtectedResource, defaultAuthorizationServers: readonly string[], routeScopes: readonly string[], dpop: DpopMetadata | null = null
): Record<string, unknown> {
  const authorizationServers = options.authorizationServers ?? defaultAuthorizationServers
  const scopes = options.scopesSupported ?? routeScopes
  return {
    resource: options.resource,
    ...(authorizationServers.length === 0 ? {} : { authorization_servers: authorizationServers }),
    ...(options.jwksUri === null ? {} : { jwks_uri: options.jwksUri }),
    ...(scopes.length === 0 ? {} : { scopes_supported: scopes }),
    ...options.members,
    ...(dpop === null ? {} : { dpop_signing_alg_values_supported: dpop.algorithms, dpop_bound_access_tokens_required: dpop.required })
  }
}

/**
 * Serves the metadata at `options.path` (GET, and HEAD whatever the app's `exposeHeadRoutes`),
 * open to anyone whatever `defaultPermission` says. The document is built once, when the app is
 * ready and every route (and so every scope they name) is known. Call it after the permission
 * checks' onRoute hook, so that the route's `NO_PERMISSION_REQUIRED` is seen.
 */
export function serveMetadata (
  fastify: FastifyInstance, options: ResolvedProtectedResource, defaultAuthorizationServers: readonly string[], routeScopes: () => readonly string[],
  dpop: DpopMetadata | null = null
): void {
  // The path is the one clients see from the origin (RFC 9728 §3.1 derives it from the resource):
  // a plugin registered under a prefix can serve it only when it is under that prefix.
  const prefix = fastify.prefix.endsWith('/') ? fastify.prefix.slice(0, -1) : fastify.prefix
  if (!options.path.startsWith(`${prefix}/`)) {
    throw new InvalidOptionError('protectedResource.path', `the plugin is registered under the prefix "${fastify.prefix}", so it can only serve paths under it`)
  }
  let body = ''
  fastify.addHook('onReady', async () => {
    body = JSON.stringify(metadataDocument(options, defaultAuthorizationServers, routeScopes(), dpop))
  })
  fastify.route({
    method: 'GET',
    url: options.path.slice(prefix.length),
    exposeHeadRoute: true,
    config: { permission: NO_PERMISSION_REQUIRED },
    handler (request: FastifyRequest, reply: FastifyReply) {
      reply.headers(HEADERS).send(body)
    }
  })
}
