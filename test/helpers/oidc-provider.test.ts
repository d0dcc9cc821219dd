import t from 'tap'
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose'
import { ACCOUNT_ID, CLIENT_ID, generateSigningKey, startProvider } from './oidc-provider.js'

// Proves the harness: a real oidc-provider that issues RFC 9068 JWT access tokens to a real
// oauth4webapi client, with step-up claims, key rotation on restart, outages and a lying discovery.

const RESOURCE = 'https://api.example.test/'
const SCOPES = 'read:messages write:messages'

async function getJson (url: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await fetch(url)
  const text = await response.text()
  return { status: response.status, body: response.headers.get('content-type')?.includes('json') === true ? JSON.parse(text) : {} }
}

async function publishedKids (jwksUri: string): Promise<string[]> {
  const { body } = await getJson(jwksUri)
  return (body.keys as JWK[]).map((key) => key.kid as string)
}

t.test('a real OpenID Provider issues JWT access tokens to a real client', async (t) => {
  const oldKey = generateSigningKey('old-key')
  const provider = await startProvider({ resources: { [RESOURCE]: { scopes: SCOPES } }, keys: [oldKey] })
  t.teardown(() => provider.close())
  t.equal(provider.issuer, `http://127.0.0.1:${provider.port}`)
  t.same(provider.requests, [], 'the log starts empty')

  await t.test('discovery', async (t) => {
    const { status, body } = await getJson(provider.discoveryUrl)
    t.equal(status, 200)
    t.equal(body.issuer, provider.issuer)
    t.equal(body.jwks_uri, provider.jwksUri)
    t.match(provider.jwksUri, /^http:\/\/127\.0\.0\.1:\d+\//)
    t.same(await publishedKids(provider.jwksUri), ['old-key'])
    const published = (await getJson(provider.jwksUri)).body.keys as JWK[]
    t.notOk(published.some((key) => 'd' in key), 'the JWKS holds public keys only')
  })

  await t.test('client credentials: an RFC 9068 access token for the resource', async (t) => {
    const before = Math.floor(Date.now() / 1000)
    const token = await provider.clientCredentialsToken({ resource: RESOURCE, scope: 'read:messages' })
    const header = decodeProtectedHeader(token)
    t.equal(header.typ, 'at+jwt')
    t.equal(header.alg, 'ES256')
    t.equal(header.kid, 'old-key')
    const claims = decodeJwt(token)
    t.equal(claims.iss, provider.issuer)
    t.equal(claims.aud, RESOURCE)
    t.equal(claims.scope, 'read:messages')
    t.equal(claims.client_id, CLIENT_ID)
    t.equal(claims.sub, CLIENT_ID, 'no user: the client is the subject')
    t.type(claims.jti, 'string')
    t.ok((claims.iat as number) >= before - 1)
    t.ok((claims.exp as number) > (claims.iat as number))
    t.notOk('acr' in claims, 'no login, no acr')
  })

  await t.test('client credentials: an unknown resource is refused, an unknown scope dropped', async (t) => {
    const refused = await provider.clientCredentialsToken({ resource: 'https://other.example.test/', scope: 'read:messages' }).then(() => null, (error: unknown) => error)
    t.match(refused, { name: 'ResponseBodyError', error: 'invalid_target' }, 'oauth4webapi reports the token endpoint\'s error')
    // oidc-provider drops scopes the resource does not know rather than failing the request.
    const token = await provider.clientCredentialsToken({ resource: RESOURCE, scope: 'read:messages delete:everything' })
    t.equal(decodeJwt(token).scope, 'read:messages')
  })

  await t.test('authorization code + PKCE: acr, amr and auth_time for step-up checks', async (t) => {
    const authTime = Math.floor(Date.now() / 1000) - 3600
    const token = await provider.authorizationCodeToken({ resource: RESOURCE, scope: SCOPES, acr: 'urn:example:mfa', amr: ['pwd', 'otp'], authTime })
    t.equal(decodeProtectedHeader(token).typ, 'at+jwt')
    const claims = decodeJwt(token)
    t.equal(claims.sub, ACCOUNT_ID)
    t.equal(claims.aud, RESOURCE)
    t.equal(claims.client_id, CLIENT_ID)
    t.equal(claims.scope, SCOPES)
    t.equal(claims.acr, 'urn:example:mfa')
    t.same(claims.amr, ['pwd', 'otp'])
    t.equal(claims.auth_time, authTime)
    const paths = provider.requests
    t.ok(paths.includes('/auth'), 'the authorization endpoint was used')
    t.equal(paths.filter((path) => path.startsWith('/interaction/')).length, 2, 'the login, then the consent step was answered')
    t.equal(paths.at(-1), '/token')
  })

  await t.test('authorization code without acr or amr: auth_time is now', async (t) => {
    const before = Math.floor(Date.now() / 1000)
    const claims = decodeJwt(await provider.authorizationCodeToken({ resource: RESOURCE, scope: 'read:messages' }))
    t.equal(claims.scope, 'read:messages')
    t.notOk('acr' in claims)
    t.notOk('amr' in claims)
    t.ok((claims.auth_time as number) >= before - 1)
  })

  await t.test('key rotation over restarts on the same port', async (t) => {
    const oldToken = await provider.clientCredentialsToken({ resource: RESOURCE, scope: 'read:messages' })
    const newKey = generateSigningKey('new-key')
    const port = provider.port
    await provider.restart({ keys: [newKey, oldKey] })
    t.equal(provider.port, port)
    t.same(provider.keys.map((key) => key.kid), ['new-key', 'old-key'])
    const token = await provider.clientCredentialsToken({ resource: RESOURCE, scope: 'read:messages' })
    t.equal(decodeProtectedHeader(token).kid, 'new-key')
    t.same((await publishedKids(provider.jwksUri)).sort(), ['new-key', 'old-key'])
    t.equal(decodeProtectedHeader(oldToken).kid, 'old-key', 'tokens issued before keep their key')

    await provider.restart({ keys: [newKey] })
    t.same(await publishedKids(provider.jwksUri), ['new-key'])
    t.equal(decodeProtectedHeader(await provider.authorizationCodeToken({ resource: RESOURCE, scope: 'read:messages' })).kid, 'new-key')
  })

  await t.test('requests are recorded in order and can be cleared', async (t) => {
    provider.clearRequests()
    t.same(provider.requests, [])
    await getJson(provider.jwksUri)
    await getJson(`${provider.discoveryUrl}?x=1`)
    await getJson(provider.jwksUri)
    t.same(provider.requests, [new URL(provider.jwksUri).pathname, '/.well-known/openid-configuration', new URL(provider.jwksUri).pathname])
  })

  await t.test('setDown: 503 without reaching the provider', async (t) => {
    provider.setDown(true)
    t.teardown(() => provider.setDown(false))
    provider.clearRequests()
    t.equal((await getJson(provider.discoveryUrl)).status, 503)
    t.equal((await getJson(provider.jwksUri)).status, 503)
    t.equal(provider.requests.length, 2, 'requests while down are recorded too')
    provider.setDown(false)
    t.equal((await getJson(provider.discoveryUrl)).status, 200)
  })

  await t.test('setDiscoveryIssuer: the discovery document names another issuer', async (t) => {
    provider.setDiscoveryIssuer('https://evil.example')
    t.teardown(() => provider.setDiscoveryIssuer(null))
    const { status, body } = await getJson(provider.discoveryUrl)
    t.equal(status, 200)
    t.equal(body.issuer, 'https://evil.example')
    t.equal(body.jwks_uri, provider.jwksUri, 'the rest of the document is untouched')
    provider.setDiscoveryIssuer(null)
    t.equal((await getJson(provider.discoveryUrl)).body.issuer, provider.issuer)
  })
})

t.test('defaults and a second algorithm', async (t) => {
  const provider = await startProvider({ resources: { 'https://rs.example.test/': { scopes: 'a b' } }, alg: 'PS256', keys: [generateSigningKey('rsa-1', 'PS256')] })
  t.teardown(() => provider.close())
  const token = await provider.clientCredentialsToken({ resource: 'https://rs.example.test/', scope: 'a' })
  t.match(decodeProtectedHeader(token), { alg: 'PS256', kid: 'rsa-1', typ: 'at+jwt' })
  const claims = decodeJwt(await provider.authorizationCodeToken({ resource: 'https://rs.example.test/', scope: 'a b', acr: 'urn:example:pwd' }))
  t.equal(claims.acr, 'urn:example:pwd')

  const plain = await startProvider()
  t.teardown(() => plain.close())
  t.equal(plain.keys.length, 1)
  t.equal(plain.keys[0]?.alg, 'ES256')
  t.type(plain.keys[0]?.kid, 'string')
  t.same(await publishedKids(plain.jwksUri), [plain.keys[0]?.kid])
  await plain.close()
  await plain.close()
  await t.rejects(fetch(plain.discoveryUrl), 'closed means closed, and close() twice is harmless')
})
