import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose'
import type { webcrypto } from 'node:crypto'

/** A minimal identity provider on 127.0.0.1: discovery, a JWK Set, and tokens signed by hand. */
export interface IssuerServer {
  /** `http://127.0.0.1:<port>` followed by the path given. */
  readonly issuer: string
  readonly jwksUri: string
  /** The paths requested, in order. */
  readonly requests: string[]
  /** Served as the discovery document; `issuer` and `jwks_uri` default to the server's own. */
  metadata: Record<string, unknown>
  /** Where discovery answers: 'oidc' (OpenID Connect Discovery), 'oauth' (RFC 8414 only), 'none' (503). */
  discovery: 'oidc' | 'oauth' | 'none'
  /** Answers 503 to everything while true. */
  down: boolean
  keys: JWK[]
  /** Signs a token with the server's key (ES256, kid 'k1') for `claims`; `iss` is the server's unless given. */
  sign (claims: JWTPayload, header?: { typ?: string, kid?: string }): Promise<string>
  close (): Promise<void>
}

export async function startIssuerServer (path = ''): Promise<IssuerServer> {
  const pair = await generateKeyPair('ES256')
  const jwk = { ...await exportJWK(pair.publicKey), kid: 'k1', alg: 'ES256', use: 'sig' }
  const box: { server?: Server } = {}
  const state: IssuerServer = {
    issuer: '',
    jwksUri: '',
    requests: [],
    metadata: {},
    discovery: 'oidc',
    down: false,
    keys: [jwk],
    sign: async (claims, header = {}) => await signWith(pair.privateKey, { iss: state.issuer, ...claims }, header),
    close: async () => {
      box.server?.closeAllConnections()
      await new Promise<void>((resolve) => box.server?.close(() => resolve()))
    }
  }
  const server = box.server = createServer((request, response) => {
    const url = request.url ?? ''
    state.requests.push(url)
    const json = (body: unknown): void => {
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify(body))
    }
    const metadata = (): void => json({ issuer: state.issuer, jwks_uri: state.jwksUri, ...state.metadata })
    if (state.down) {
      response.statusCode = 503
      response.end()
    } else if (url.split('?')[0] === '/jwks.json') {
      json({ keys: state.keys })
    } else if (url === `${path}/.well-known/openid-configuration` && state.discovery === 'oidc') {
      metadata()
    } else if (url === `/.well-known/oauth-authorization-server${path}` && state.discovery !== 'none') {
      metadata()
    } else {
      response.statusCode = state.discovery === 'none' ? 503 : 404
      response.end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  Object.assign(state, { issuer: `${origin}${path}`, jwksUri: `${origin}/jwks.json` })
  return state
}

async function signWith (key: webcrypto.CryptoKey, claims: JWTPayload, header: { typ?: string, kid?: string }): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return await new SignJWT({ iat: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: header.kid ?? 'k1', ...(header.typ === undefined ? {} : { typ: header.typ }) })
    .sign(key)
}
