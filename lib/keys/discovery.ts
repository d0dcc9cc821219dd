import { fetchText, HttpStatusError, isSafeUrl } from './fetch-text.js'

const LIMITS = { accept: 'application/json', maxBytes: 256 * 1024 }

/** Where an issuer's metadata is: OpenID Connect Discovery's URL, then RFC 8414's. */
export function discoveryUrls (issuer: URL): readonly [URL, URL] {
  const path = issuer.pathname === '/' ? '' : issuer.pathname.replace(/\/$/, '')
  // OIDC Discovery §4 appends the well-known path to the issuer; RFC 8414 §3.1 inserts it before the path.
  return [new URL(`${issuer.origin}${path}/.well-known/openid-configuration`), new URL(`${issuer.origin}/.well-known/oauth-authorization-server${path}`)]
}

/**
 * The `jwks_uri` of `issuer`'s metadata. The document must name exactly `issuer` (OIDC Discovery
 * §4.3, RFC 8414 §3.3), or a provider could hand out another's keys; its `jwks_uri` must be https
 * (http on loopback only when `httpLoopback` allows it).
 */
export async function discoverJwksUri (issuer: string, timeout: number, httpLoopback: boolean): Promise<URL> {
  const [oidc, oauth] = discoveryUrls(new URL(issuer))
  let text: string
  try {
    text = await fetchText(oidc, { ...LIMITS, timeout })
  } catch (error) {
    if (!(error instanceof HttpStatusError && error.status === 404)) throw error
    text = await fetchText(oauth, { ...LIMITS, timeout })
  }
  const metadata = JSON.parse(text) as { issuer?: unknown, jwks_uri?: unknown } | null
  if (metadata?.issuer !== issuer) throw new Error('the discovery document names another issuer than the one configured')
  let jwksUri: URL
  try {
    jwksUri = new URL(metadata.jwks_uri as string)
  } catch {
    throw new Error('the discovery document has no valid jwks_uri')
  }
  if (!isSafeUrl(jwksUri, httpLoopback)) throw new Error('the discovery document\'s jwks_uri is not an https: URL')
  return jwksUri
}
