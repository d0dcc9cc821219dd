import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JWK } from 'jose'
import * as oauth from 'oauth4webapi'
import type { Adapter, AdapterPayload, AsymmetricSigningAlgorithm, Configuration, default as OidcProvider, InteractionResults } from 'oidc-provider'

// A real OpenID Provider (panva's oidc-provider) on 127.0.0.1, and a real client (oauth4webapi)
// that gets tokens from it, for tests of tokens from an identity provider. The provider's
// callback sits behind our own HTTP handler, which records the paths it receives, can play an
// outage (503), and serves the login and consent steps that a person would answer in a browser.

/** The confidential client the provider knows. */
export const CLIENT_ID = 'api-client'
export const CLIENT_SECRET = 'a-long-test-secret-that-only-the-oidc-harness-uses'
/** Registered but never served: the harness catches the redirect before anything follows it. */
export const REDIRECT_URI = 'http://127.0.0.1/callback'
/** The account every authorization-code flow logs in. */
export const ACCOUNT_ID = 'alice'

const DISCOVERY_PATHS = new Set(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])
const INTERACTION_PREFIX = '/interaction/'
const ACCESS_TOKEN_TTL = 600

/** A resource server the provider issues JWT access tokens for. */
export interface ResourceOptions {
  /** Space-separated scopes the resource accepts, e.g. 'read:messages write:messages'. */
  scopes: string
}

export interface ProviderOptions {
  /** Resource indicator (an absolute URL) → its scopes. */
  resources?: Record<string, ResourceOptions>
  /** The provider's private signing JWKs; the first one signs. Default: one fresh ES256 key. */
  keys?: JWK[]
  /** JWS algorithm of access tokens (and ID tokens). Default ES256. */
  alg?: AsymmetricSigningAlgorithm
}

export interface TokenRequest {
  /** The resource indicator (RFC 8707), which becomes the token's aud. */
  resource: string
  /** Space-separated scopes to ask for. */
  scope: string
  /**
   * An oauth4webapi DPoP handle (`oauth.DPoP(client, keyPair)`): the token request then carries a
   * proof of its key, and the token is DPoP-bound (RFC 9449 §6: `cnf.jkt`, `token_type` DPoP).
   */
  dpop?: oauth.DPoPHandle
}

export interface LoginRequest extends TokenRequest {
  acr?: string
  amr?: string[]
  /** When the login happened, in seconds since the epoch (default: now), to play an old login. */
  authTime?: number
}

export interface ProviderHandle {
  readonly issuer: string
  readonly port: number
  readonly discoveryUrl: string
  /** jwks_uri as the discovery document gives it. */
  readonly jwksUri: string
  /** The private JWKs the running provider holds; the first one signs. */
  readonly keys: readonly JWK[]
  /** Paths (without query) of every request the HTTP server received, in order, the harness's own included. */
  readonly requests: string[]
  clearRequests (): void
  /** An access token from the client-credentials grant (sub = client_id); bound to `request.dpop`'s key when given. */
  clientCredentialsToken (request: TokenRequest): Promise<string>
  /** An access token from an authorization-code + PKCE flow that logs in ACCOUNT_ID; bound to `request.dpop`'s key when given. */
  authorizationCodeToken (request: LoginRequest): Promise<string>
  /** Stops the provider and starts it again on the same port with these keys (the first one signs). */
  restart (options: { keys: JWK[] }): Promise<void>
  /** While down, every request gets a 503 without reaching the provider. */
  setDown (down: boolean): void
  /** Serves the discovery documents with this issuer (null: the real one). */
  setDiscoveryIssuer (value: string | null): void
  close (): Promise<void>
}

const KEY_GENERATORS: Record<string, () => { privateKey: KeyObject }> = {
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  ES384: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  ES512: () => generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  Ed25519: () => generateKeyPairSync('ed25519'),
  EdDSA: () => generateKeyPairSync('ed25519')
}

/** A private signing JWK with this kid, for the provider's key list. RS* and PS* keys are 2048-bit RSA. */
export function generateSigningKey (kid: string, alg: AsymmetricSigningAlgorithm = 'ES256'): JWK {
  const generate = KEY_GENERATORS[alg] ?? (/^(RS|PS)/.test(alg) ? () => generateKeyPairSync('rsa', { modulusLength: 2048 }) : undefined)
  if (generate === undefined) throw new Error(`generateSigningKey does not know ${alg}`)
  return { ...generate().privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }
}

interface Stored { payload: AdapterPayload, expiresAt: number }

// oidc-provider's bundled memory adapter announces itself as development-only on every start;
// this one is as small, and its store outlives restart() the way a database would.
function memoryAdapter (store: Map<string, Stored>): (model: string) => Adapter {
  return (model) => {
    const key = (id: string) => `${model}:${id}`
    const live = (entry: Stored | undefined) => entry !== undefined && entry.expiresAt > Date.now() ? entry.payload : undefined
    const findBy = (member: 'uid' | 'userCode', value: string) => {
      for (const [name, entry] of store) {
        if (name.startsWith(`${model}:`) && entry.payload[member] === value) return live(entry)
      }
      return undefined
    }
    return {
      async upsert (id, payload, expiresIn) {
        store.set(key(id), { payload, expiresAt: expiresIn === undefined ? Infinity : Date.now() + expiresIn * 1000 })
      },
      async find (id) { return live(store.get(key(id))) },
      async findByUid (uid) { return findBy('uid', uid) },
      async findByUserCode (userCode) { return findBy('userCode', userCode) },
      async consume (id) {
        const payload = live(store.get(key(id)))
        if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000)
      },
      async destroy (id) { store.delete(key(id)) },
      async revokeByGrantId (grantId) {
        for (const [name, entry] of store) {
          if (name.startsWith(`${model}:`) && entry.payload.grantId === grantId) store.delete(name)
        }
      }
    }
  }
}

// oidc-provider 9 warns with console.warn when it is imported on a Node.js release older than 22
// (it runs on 20.19 all the same); its other notices are about development-only defaults, which
// the configuration below replaces. Only lines with its prefix are dropped, and only during the
// import, so anything else still shows.
async function quietly<T> (action: () => Promise<T> | T): Promise<T> {
  const { warn, info } = console
  const filter = (print: (...args: unknown[]) => void) => (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider ')) return
    print.apply(console, args)
  }
  console.warn = filter(warn)
  console.info = filter(info)
  try {
    return await action()
  } finally {
    console.warn = warn
    console.info = info
  }
}

/** Cookies across the redirects of one authorization flow: name → value, paths ignored. */
class CookieJar {
  readonly #cookies = new Map<string, string>()

  store (response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';')
      const split = pair.indexOf('=')
      const name = pair.slice(0, split).trim()
      const value = pair.slice(split + 1).trim()
      const expires = attributes.find((attribute) => /^\s*expires=/i.test(attribute))
      const expired = expires !== undefined && Date.parse(expires.split('=')[1] ?? '') <= Date.now()
      if (value === '' || expired) this.#cookies.delete(name)
      else this.#cookies.set(name, value)
    }
  }

  header (): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

export async function startProvider (options: ProviderOptions = {}): Promise<ProviderHandle> {
  const { default: Provider, errors } = await quietly(() => import('oidc-provider'))
  const resources = options.resources ?? {}
  const alg = options.alg ?? 'ES256'
  const store = new Map<string, Stored>()
  const cookieKeys = [randomBytes(32).toString('base64url')]
  /** What each pending authorization flow, known by its state, logs in with. */
  const logins = new Map<string, LoginRequest>()
  let keys = options.keys ?? [generateSigningKey('key-1', alg)]
  let down = false
  let discoveryIssuer: string | null = null
  let metadata: oauth.AuthorizationServer | undefined
  let issuer = ''
  const requests: string[] = []
  const box: { server?: Server, provider?: OidcProvider, callback?: (request: IncomingMessage, response: ServerResponse) => unknown } = {}

  function build (): OidcProvider {
    // The first key signs: pinned by kid, so that a rotation test knows which key a token carries.
    const signingKid = keys[0]?.kid
    const configuration: Configuration = {
      adapter: memoryAdapter(store),
      clients: [{
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials', 'authorization_code'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: alg
      }],
      clientDefaults: { id_token_signed_response_alg: alg },
      enabledJWA: { idTokenSigningAlgValues: [alg] },
      jwks: { keys: keys as NonNullable<Configuration['jwks']>['keys'] },
      cookies: { keys: cookieKeys },
      pkce: { required: () => true },
      // The login and consent steps are answered by interact() below, never by a form.
      interactions: { url: (_ctx, interaction) => `${INTERACTION_PREFIX}${interaction.uid}` },
      findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
      // Errors of the authorization endpoint as JSON (the default is an HTML page and a console notice).
      renderError: (ctx, out) => { ctx.type = 'json'; ctx.body = out },
      // oidc-provider's JWT access tokens carry only iss, sub, aud, exp, iat, jti, client_id and scope:
      // acr, amr and auth_time (RFC 9470) come from the code or refresh token they are exchanged for.
      extraTokenClaims: (ctx, token) => {
        if (token.kind !== 'AccessToken') return undefined
        const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken
        if (source === undefined) return undefined
        return { acr: source.acr, amr: source.amr, auth_time: source.authTime }
      },
      ttl: {
        AccessToken: ACCESS_TOKEN_TTL,
        AuthorizationCode: 60,
        ClientCredentials: ACCESS_TOKEN_TTL,
        Grant: 3600,
        IdToken: ACCESS_TOKEN_TTL,
        Interaction: 600,
        RefreshToken: 3600,
        Session: 3600
      },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        // On by default in oidc-provider 9, said here since tests rely on it: a token request with a
        // DPoP proof gets a JWT access token with cnf.jkt, the thumbprint of the proof's key. No
        // nonces (requireNonce is false without a nonceSecret); proofs are checked for replay.
        dPoP: { enabled: true },
        resourceIndicators: {
          enabled: true,
          // Without a resource parameter the only configured resource (if just one) is meant.
          defaultResource: (_ctx, _client, oneOf) => oneOf ?? (Object.keys(resources).length === 1 ? Object.keys(resources)[0] : undefined),
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, indicator) => {
            const resource = resources[indicator]
            if (resource === undefined) throw new errors.InvalidTarget()
            return {
              scope: resource.scopes,
              accessTokenFormat: 'jwt',
              accessTokenTTL: ACCESS_TOKEN_TTL,
              jwt: { sign: { alg, kid: signingKid } }
            }
          }
        }
      }
    }
    const provider = new Provider(issuer, configuration)
    // Runs around oidc-provider's own routes (its use() inserts before them): the discovery
    // documents are still objects here, so the issuer can be swapped before serialization.
    provider.use(async (ctx, next) => {
      await next()
      if (discoveryIssuer !== null && DISCOVERY_PATHS.has(ctx.path) && typeof ctx.body === 'object' && ctx.body !== null) {
        ctx.body = { ...ctx.body, issuer: discoveryIssuer }
      }
    })
    return provider
  }

  // The login and consent steps of an authorization-code flow, answered for the test.
  async function interact (request: IncomingMessage, response: ServerResponse): Promise<void> {
    const provider = box.provider as OidcProvider
    const details = await provider.interactionDetails(request, response)
    const state = details.params.state
    const login = typeof state === 'string' ? logins.get(state) : undefined
    let result: InteractionResults
    if (login === undefined) {
      result = { error: 'access_denied', error_description: 'no test login is pending for this state' }
    } else if (details.prompt.name === 'login') {
      const ts = login.authTime ?? Math.floor(Date.now() / 1000)
      result = { login: { accountId: ACCOUNT_ID, acr: login.acr, amr: login.amr, ts } }
    } else if (details.prompt.name === 'consent') {
      const grant = details.grantId === undefined
        ? new provider.Grant({ accountId: ACCOUNT_ID, clientId: CLIENT_ID })
        : await provider.Grant.find(details.grantId) ?? new provider.Grant({ accountId: ACCOUNT_ID, clientId: CLIENT_ID })
      // Grant just what is asked and still missing: the scopes and the resource of the request.
      const missing = details.prompt.details as { missingOIDCScope?: string[], missingOIDCClaims?: string[], missingResourceScopes?: Record<string, string[]> }
      if (missing.missingOIDCScope !== undefined) grant.addOIDCScope(missing.missingOIDCScope)
      if (missing.missingOIDCClaims !== undefined) grant.addOIDCClaims(missing.missingOIDCClaims)
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes)
      result = { consent: { grantId: await grant.save() } }
    } else {
      result = { error: 'access_denied', error_description: `the harness does not answer the ${details.prompt.name} prompt` }
    }
    await provider.interactionFinished(request, response, result, { mergeWithLastSubmission: true })
  }

  function handle (request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname
    requests.push(path)
    // No keep-alive: a client's pooled socket would otherwise outlive restart() and fail the
    // first request after it ("other side closed").
    response.setHeader('connection', 'close')
    if (down) {
      response.statusCode = 503
      response.setHeader('content-type', 'text/plain')
      response.end('down for the test')
      return
    }
    if (path.startsWith(INTERACTION_PREFIX)) {
      interact(request, response).catch((error: unknown) => {
        // Said to the flow, which fails with it: never a token in there, only the provider's message.
        response.statusCode = 500
        response.end(error instanceof Error ? error.message : String(error))
      })
      return
    }
    box.callback?.(request, response)
  }

  async function listen (port: number): Promise<number> {
    const server = box.server = createServer(handle)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
    })
    return (server.address() as AddressInfo).port
  }

  async function stop (): Promise<void> {
    const server = box.server
    box.server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  function use (): void {
    const provider = box.provider = build()
    box.callback = provider.callback()
    metadata = undefined
  }

  const insecure = { [oauth.allowInsecureRequests]: true }
  const client: oauth.Client = { client_id: CLIENT_ID, id_token_signed_response_alg: alg }
  const clientAuth = oauth.ClientSecretBasic(CLIENT_SECRET)

  // Once per start: a restart (new keys, same endpoints) discovers again.
  async function discover (): Promise<oauth.AuthorizationServer> {
    if (metadata === undefined) {
      const issuerUrl = new URL(issuer)
      metadata = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', ...insecure }))
    }
    return metadata
  }

  // With a DPoP handle the token must come back bound: a provider that silently ignored the proof
  // would hand out a bearer token, and a test of bound tokens would prove nothing.
  function accessToken (result: oauth.TokenEndpointResponse, dpop: oauth.DPoPHandle | undefined): string {
    const expected = dpop === undefined ? 'bearer' : 'dpop'
    if (result.token_type !== expected) throw new Error(`the provider answered token_type ${result.token_type}, expected ${expected}`)
    return result.access_token
  }

  async function clientCredentialsToken ({ resource, scope, dpop }: TokenRequest): Promise<string> {
    const as = await discover()
    const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, { resource, scope }, { ...insecure, DPoP: dpop })
    return accessToken(await oauth.processClientCredentialsResponse(as, client, response), dpop)
  }

  async function authorizationCodeToken (login: LoginRequest): Promise<string> {
    const as = await discover()
    const verifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const authorizationUrl = new URL(as.authorization_endpoint as string)
    authorizationUrl.search = new URLSearchParams({
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: `openid ${login.scope}`,
      resource: login.resource,
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256'
    }).toString()
    logins.set(state, login)
    let callback: URL
    try {
      callback = await followRedirects(authorizationUrl)
    } finally {
      logins.delete(state)
    }
    const parameters = oauth.validateAuthResponse(as, client, callback, state)
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, parameters, REDIRECT_URI, verifier, {
      ...insecure,
      DPoP: login.dpop,
      additionalParameters: { resource: login.resource }
    })
    return accessToken(await oauth.processAuthorizationCodeResponse(as, client, response), login.dpop)
  }

  // What a browser does between the authorization request and the redirect to the client.
  async function followRedirects (start: URL): Promise<URL> {
    const jar = new CookieJar()
    let url = start
    for (let hop = 0; hop < 10; hop++) {
      const response = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } })
      jar.store(response)
      const body = await response.text()
      const location = response.headers.get('location')
      if (response.status < 300 || response.status > 399 || location === null) {
        throw new Error(`authorization flow stopped at ${url.pathname} with HTTP ${response.status}: ${body.slice(0, 500)}`)
      }
      url = new URL(location, url)
      if (`${url.origin}${url.pathname}` === REDIRECT_URI) return url
    }
    throw new Error('authorization flow did not reach the redirect_uri within 10 redirects')
  }

  const port = await listen(0)
  issuer = `http://127.0.0.1:${port}`
  let jwksUri: string
  try {
    use()
    jwksUri = (await discover()).jwks_uri as string
  } catch (error) {
    await stop()
    throw error
  }
  // The log starts empty: the discovery above was the harness's, not the test's.
  requests.length = 0
  return {
    issuer,
    port,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    jwksUri,
    get keys () { return keys },
    requests,
    clearRequests: () => { requests.length = 0 },
    clientCredentialsToken,
    authorizationCodeToken,
    restart: async ({ keys: next }) => {
      await stop()
      keys = next
      use()
      await listen(port)
    },
    setDown: (value) => { down = value },
    setDiscoveryIssuer: (value) => { discoveryIssuer = value },
    close: stop
  }
}
