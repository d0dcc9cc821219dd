import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose'
import * as oauth from 'oauth4webapi'
import t, { type Test } from 'tap'
import jwtSecurity, { Authenticated, RedisDpopReplayStore, type DpopMode, type DpopReplayStore, type TrustedIssuer } from '../../lib/index.js'
import { ACCOUNT_ID, CLIENT_ID, startProvider, type ProviderHandle } from '../helpers/oidc-provider.js'
import { startRedis } from '../helpers/redis-server.js'
import { systemTestSkip } from '../helpers/system-tests.js'

// DPoP (RFC 9449) end to end: a real OpenID Provider (oidc-provider on 127.0.0.1) binds its JWT
// access tokens to a real client's key (oauth4webapi, which also signs the proofs), and the plugin,
// listening on 127.0.0.1, checks them over real HTTP. The app is configured with the public origin
// clients call (https://api.example.test), as behind a proxy that ends TLS: the client's fetch
// sends each request to the loopback address, while its proofs name the public URL. Nothing leaves
// 127.0.0.1.

const PUBLIC_ORIGIN = 'https://api.example.test'
const ORDERS = 'https://orders.example.test/'
const RESOURCES = { [ORDERS]: { scopes: 'read:orders write:orders' } }
const ALGS = 'algs="ES256 EdDSA Ed25519"'
const BEARER_BARE = 'Bearer realm="api"'
const BEARER_INVALID_TOKEN = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'
const DPOP_BARE = `DPoP realm="api", ${ALGS}`
const DPOP_INVALID_PROOF = `DPoP realm="api", error="invalid_dpop_proof", error_description="The DPoP proof is invalid", ${ALGS}`
const DPOP_INVALID_TOKEN = `DPoP realm="api", error="invalid_token", error_description="The access token is invalid", ${ALGS}`
const wait = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

interface Listening {
  readonly app: FastifyInstance
  /** Where the app really listens: http://127.0.0.1:<port>. */
  readonly origin: string
}

/** A response as it came over the wire. */
interface Answer {
  readonly status: number
  /** Each WWW-Authenticate header line, in order. */
  readonly challenges: string[]
  readonly retryAfter: string | null
  readonly body: string
  readonly json: () => any
  /** The DPoP header the request carried. */
  readonly proof: string | null
  /** The challenges as oauth4webapi parsed them, when it threw WWWAuthenticateChallengeError. */
  readonly parsed?: oauth.WWWAuthenticateChallenge[]
}

/** One HTTP request to the app on 127.0.0.1, with `headers` as given (no keep-alive, no pooling). */
async function send (server: Listening, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer & { rawHeaders: string[] }> {
  const { port } = new URL(server.origin)
  return await new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (incoming) => {
      const chunks: Buffer[] = []
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
      incoming.on('error', reject)
      incoming.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({
          status: incoming.statusCode as number,
          challenges: incoming.headersDistinct['www-authenticate'] ?? [],
          retryAfter: incoming.headers['retry-after'] ?? null,
          body: text,
          json: () => JSON.parse(text),
          proof: headers.dpop ?? null,
          rawHeaders: incoming.rawHeaders
        })
      })
    })
    outgoing.on('error', reject)
    outgoing.end(body)
  })
}

/**
 * oauth4webapi's fetch for the resource server: the client believes it calls PUBLIC_ORIGIN; the
 * request goes to the app's loopback address, as a proxy in front of it would forward it.
 */
function throughProxy (server: Listening, seen: { answer?: Answer }) {
  return async (url: string, init: oauth.CustomFetchOptions<string, unknown>): Promise<Response> => {
    const target = new URL(url)
    if (target.origin !== PUBLIC_ORIGIN) throw new Error(`the client called ${target.origin}, not the public origin`)
    const answer = await send(server, init.method, target.pathname + target.search, init.headers, init.body === null || init.body === undefined ? undefined : String(init.body))
    seen.answer = answer
    const headers = new Headers()
    for (let index = 0; index < answer.rawHeaders.length; index += 2) headers.append(answer.rawHeaders[index] as string, answer.rawHeaders[index + 1] as string)
    return new Response(answer.body, { status: answer.status, headers })
  }
}

/**
 * A resource request by oauth4webapi: `Authorization: DPoP` with a fresh proof of `key` when given,
 * `Authorization: Bearer` otherwise. A 401 with challenges is returned with oauth4webapi's parse of them.
 */
async function call (server: Listening, token: string, path: string, key?: ClientKey): Promise<Answer> {
  const seen: { answer?: Answer } = {}
  try {
    await oauth.protectedResourceRequest(token, 'GET', new URL(path, PUBLIC_ORIGIN), new Headers(), null, {
      DPoP: key?.handle,
      [oauth.customFetch]: throughProxy(server, seen)
    })
    return seen.answer as Answer
  } catch (error) {
    if (!(error instanceof oauth.WWWAuthenticateChallengeError)) throw error
    return { ...seen.answer as Answer, parsed: error.cause }
  }
}

/** A client's DPoP key: oauth4webapi's handle of it, and its RFC 7638 thumbprint computed by jose. */
interface ClientKey {
  readonly handle: oauth.DPoPHandle
  readonly jkt: string
}

async function clientKey (alg: 'ES256' | 'EdDSA'): Promise<ClientKey> {
  const keyPair = await generateKeyPair(alg, { extractable: false })
  return { handle: oauth.DPoP({}, keyPair), jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)) }
}

async function provider (t: Test): Promise<ProviderHandle> {
  const handle = await startProvider({ resources: RESOURCES })
  t.teardown(() => handle.close())
  return handle
}

interface ServerOptions {
  /** The issuer's `dpop` mode; not given: the plugin's default. */
  mode?: DpopMode
  /** The plugin's `dpop.mode`, for its own tokens. */
  ownMode?: DpopMode
  replay?: DpopReplayStore
}

/** The plugin as the orders API, trusting `idp`, listening on 127.0.0.1 with a free port. */
async function resourceServer (t: Test, idp: ProviderHandle, options: ServerOptions = {}): Promise<Listening> {
  const issuer: TrustedIssuer = { issuer: idp.issuer, audience: ORDERS, profile: 'rfc9068', allowHttpLoopback: true }
  if (options.mode !== undefined) issuer.dpop = options.mode
  const app = Fastify()
  await app.register(jwtSecurity, {
    issuers: [issuer],
    dpop: {
      publicOrigin: PUBLIC_ORIGIN,
      ...(options.ownMode === undefined ? {} : { mode: options.ownMode }),
      ...(options.replay === undefined ? {} : { replay: options.replay })
    }
  })
  app.get('/me', { preHandler: app.permits(Authenticated) }, async (request) => ({ userid: request.authenticatedUserid, claims: request.jwtClaims }))
  // No permission: what the plugin made of the credentials, refused or not.
  app.get('/why', async (request) => ({ failure: request.authFailure, claims: request.jwtClaims }))
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, origin: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` }
}

/** What the provider's token says of its binding: the proof key's thumbprint, or nothing. */
const cnfOf = (token: string): unknown => decodeJwt(token).cnf

for (const alg of ['ES256', 'EdDSA'] as const) {
  t.test(`a DPoP-bound token of the provider with proofs of an ${alg} key, made by oauth4webapi, is accepted`, async (t) => {
    const idp = await provider(t)
    const server = await resourceServer(t, idp)
    const key = await clientKey(alg)
    const token = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders', dpop: key.handle })
    t.same(cnfOf(token), { jkt: key.jkt }, 'the provider bound the token to the client\'s key')

    const me = await call(server, token, '/me', key)
    t.equal(me.status, 200, 'accepted', { body: me.body })
    t.equal(me.json().userid, CLIENT_ID)
    t.equal(me.json().claims.cnf.jkt, key.jkt, 'request.jwtClaims.cnf.jkt is the client key\'s thumbprint')
    t.equal(me.json().claims.aud, ORDERS)
    t.equal(decodeProtectedHeader(me.proof as string).alg, alg === 'ES256' ? 'ES256' : 'Ed25519', 'oauth4webapi names Ed25519 proofs by the fully-specified alg')
    t.match(decodeJwt(me.proof as string), { htm: 'GET', htu: `${PUBLIC_ORIGIN}/me` }, 'the proof names the public URL, not 127.0.0.1')
    t.same(me.challenges, [])

    const why = await call(server, token, '/why?page=2', key)
    t.equal(why.status, 200)
    t.equal(why.json().failure, null, 'no failure recorded')
    t.equal(decodeJwt(why.proof as string).htu, `${PUBLIC_ORIGIN}/why`, 'htu without the query, which the plugin strips as well')
    t.equal(why.json().claims.cnf.jkt, key.jkt)
  })
}

t.test('the htu is the public origin, never the address the app listens on', async (t) => {
  const idp = await provider(t)
  const server = await resourceServer(t, idp)
  const key = await clientKey('ES256')
  const token = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders', dpop: key.handle })
  // A client that calls the loopback address itself, with global fetch: its proof names that URL,
  // and its Host header agrees with it. The app still expects the public one.
  const direct = await oauth.protectedResourceRequest(token, 'GET', new URL('/why', server.origin), new Headers(), null, {
    DPoP: key.handle,
    [oauth.allowInsecureRequests]: true
  })
  t.equal(direct.status, 200)
  t.same(await direct.json(), { failure: { error: 'invalid_dpop_proof', reason: 'dpop_url_mismatch' }, claims: null })
  t.equal((await call(server, token, '/why', key)).json().failure, null, 'through the proxy, with the public URL, the same client gets in')
})

t.test('an authorization-code login bound to the client\'s key is accepted with its proofs', async (t) => {
  const idp = await provider(t)
  const server = await resourceServer(t, idp, { mode: 'required' })
  const key = await clientKey('EdDSA')
  const token = await idp.authorizationCodeToken({ resource: ORDERS, scope: 'read:orders', dpop: key.handle })
  t.same(cnfOf(token), { jkt: key.jkt })
  const me = await call(server, token, '/me', key)
  t.equal(me.status, 200, 'accepted', { body: me.body })
  t.equal(me.json().userid, ACCOUNT_ID)
  t.equal(me.json().claims.cnf.jkt, key.jkt)
})

t.test('the downgrade (RFC 9449 §7.2): the bound token sent as Bearer is refused', async (t) => {
  const idp = await provider(t)
  const server = await resourceServer(t, idp)
  const key = await clientKey('ES256')
  const token = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders', dpop: key.handle })
  t.equal((await call(server, token, '/me', key)).status, 200, 'with its proof it works')

  const me = await call(server, token, '/me')
  t.equal(me.status, 401)
  t.equal(me.proof, null, 'oauth4webapi sent no proof: Authorization: Bearer')
  t.same(me.challenges, [BEARER_INVALID_TOKEN, DPOP_BARE], 'the token is refused on the Bearer challenge; DPoP is offered')
  t.same(me.parsed?.map((challenge) => [challenge.scheme, challenge.parameters.error]), [['bearer', 'invalid_token'], ['dpop', undefined]], 'as oauth4webapi reads them')
  t.equal(me.json().code, 'FST_JWT_SECURITY_INVALID_TOKEN')
  const why = await call(server, token, '/why')
  t.same(why.json(), { failure: { error: 'invalid_token', reason: 'dpop_bound_token', claim: 'cnf' }, claims: null })

  // Without oauth4webapi: the bare header a thief would copy, with the scheme in any case.
  const lower = await send(server, 'GET', '/why', { authorization: `bearer ${token}` })
  t.equal(lower.json().failure.reason, 'dpop_bound_token')
})

t.test('a stolen token is useless without its key: a proof of another key is refused', async (t) => {
  const idp = await provider(t)
  const server = await resourceServer(t, idp)
  const owner = await clientKey('ES256')
  const thief = await clientKey('EdDSA')
  const token = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders', dpop: owner.handle })

  const me = await call(server, token, '/me', thief)
  t.equal(me.status, 401)
  t.not(me.proof, null)
  t.same(me.challenges, [DPOP_INVALID_PROOF, BEARER_BARE], 'the error on the DPoP challenge, Bearer offered bare')
  t.same(me.parsed?.map((challenge) => challenge.scheme), ['dpop', 'bearer'])
  t.match(me.parsed?.[0]?.parameters, { realm: 'api', error: 'invalid_dpop_proof', algs: 'ES256 EdDSA Ed25519' })
  t.equal(me.json().code, 'FST_JWT_SECURITY_INVALID_DPOP_PROOF')
  const why = await call(server, token, '/why', thief)
  t.same(why.json(), { failure: { error: 'invalid_dpop_proof', reason: 'dpop_key_mismatch' }, claims: null })

  // The thief's own token from the provider does not help: it is bound to the thief's key, and
  // the owner's proof with the thief's token is refused just the same.
  const thiefToken = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders', dpop: thief.handle })
  t.equal((await call(server, thiefToken, '/why', owner)).json().failure.reason, 'dpop_key_mismatch')
  t.equal((await call(server, token, '/me', owner)).status, 200, 'the owner still gets in')
})

t.test('issuer mode required: the provider\'s unbound token is refused as Bearer; allowed: accepted', async (t) => {
  const idp = await provider(t)
  const required = await resourceServer(t, idp, { mode: 'required' })
  const allowed = await resourceServer(t, idp, { mode: 'allowed' })
  const key = await clientKey('ES256')
  const unbound = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  t.equal(cnfOf(unbound), undefined, 'a token request without a proof gets an unbound token')
  const bound = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders', dpop: key.handle })

  const refused = await call(required, unbound, '/me')
  t.equal(refused.status, 401)
  t.same(refused.challenges, [BEARER_INVALID_TOKEN, DPOP_BARE], 'the DPoP scheme is offered')
  t.equal(refused.json().code, 'FST_JWT_SECURITY_INVALID_TOKEN')
  t.same((await call(required, unbound, '/why')).json(), { failure: { error: 'invalid_token', reason: 'dpop_required' }, claims: null })
  // An unbound token cannot be turned into a DPoP one by adding a proof.
  const withProof = await call(required, unbound, '/me', key)
  t.equal(withProof.status, 401)
  t.same(withProof.challenges, [DPOP_INVALID_TOKEN], 'no Bearer challenge: the app has no tokens of its own, and the issuer\'s must be bound')
  t.same((await call(required, unbound, '/why', key)).json().failure, { error: 'invalid_token', reason: 'dpop_token_unbound', claim: 'cnf' })
  t.equal((await call(required, bound, '/me', key)).status, 200, 'the bound token with its proof is accepted')

  const accepted = await call(allowed, unbound, '/me')
  t.equal(accepted.status, 200, 'accepted as Bearer', { body: accepted.body })
  t.equal(accepted.json().claims.cnf, undefined)
  t.equal((await call(allowed, unbound, '/why')).json().failure, null)
  t.equal((await call(allowed, bound, '/me', key)).status, 200, 'bound tokens with proofs are accepted as well')
  t.equal((await call(allowed, bound, '/me')).status, 401, 'and still refused as Bearer')
})

t.test('when no token may be a bearer token, a request without credentials is offered DPoP alone', async (t) => {
  const idp = await provider(t)
  const server = await resourceServer(t, idp, { mode: 'required', ownMode: 'required' })
  const anonymous = await send(server, 'GET', '/me', {})
  t.equal(anonymous.status, 401)
  t.same(anonymous.challenges, [DPOP_BARE])
  const key = await clientKey('ES256')
  const bound = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders', dpop: key.handle })
  t.equal((await call(server, bound, '/me', key)).status, 200)
  const unbound = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  const refused = await call(server, unbound, '/me')
  t.equal(refused.status, 401)
  t.same(refused.challenges, [BEARER_INVALID_TOKEN, DPOP_BARE], 'the refusal is said on the scheme the request used')
  t.equal((await call(server, unbound, '/why')).json().failure.reason, 'dpop_required')
})

t.test('two instances share one Redis: a proof accepted by A is refused by B; Redis down: 503 on both, back: works', { skip: systemTestSkip('redis') }, async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const idp = await provider(t)
  const a = await resourceServer(t, idp, { replay: new RedisDpopReplayStore({ url: redis.url, timeout: 0.5 }) })
  const b = await resourceServer(t, idp, { replay: new RedisDpopReplayStore({ url: redis.url, timeout: 0.5 }) })
  const key = await clientKey('ES256')
  const token = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders', dpop: key.handle })
  const replayed = (server: Listening, path: string, proof: string | null) =>
    send(server, 'GET', path, { authorization: `DPoP ${token}`, dpop: proof as string })

  const first = await call(a, token, '/why', key)
  t.same(first.json().failure, null, 'A accepts the proof')
  t.equal(first.json().claims.cnf.jkt, key.jkt)
  const onB = await replayed(b, '/why', first.proof)
  t.same(onB.json(), { failure: { error: 'invalid_dpop_proof', reason: 'dpop_proof_replayed' }, claims: null }, 'B refuses the very same request')
  t.same((await replayed(a, '/why', first.proof)).json().failure?.reason, 'dpop_proof_replayed', 'and so does A')

  const accepted = await call(a, token, '/me', key)
  t.equal(accepted.status, 200)
  const refused = await replayed(b, '/me', accepted.proof)
  t.equal(refused.status, 401)
  t.same(refused.challenges, [DPOP_INVALID_PROOF, BEARER_BARE])
  t.equal(refused.json().code, 'FST_JWT_SECURITY_INVALID_DPOP_PROOF')
  const fresh = await call(b, token, '/me', key)
  t.equal(fresh.status, 200, 'a fresh proof is accepted by B')

  const client = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  await client.connect()
  const jti = decodeJwt(fresh.proof as string).jti as string
  const ttl = await client.ttl(`fastify-jwt-security:dpop:${key.jkt}:${jti}`)
  client.disconnect()
  t.ok(ttl > 60 && ttl <= 71, `the jti is kept in Redis for the proof's lifetime (${ttl} s)`)

  await redis.kill()
  for (const server of [a, b]) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const started = Date.now()
      const down = await call(server, token, '/me', key)
      const elapsed = Date.now() - started
      t.equal(down.status, 503, 'fail closed')
      t.equal(down.json().code, 'FST_JWT_SECURITY_DPOP_REPLAY_UNAVAILABLE')
      t.equal(down.retryAfter, '5')
      t.same(down.challenges, [])
      t.ok(elapsed < 1500, `answered in ${elapsed} ms`)
    }
  }
  const unbound = await idp.clientCredentialsToken({ resource: ORDERS, scope: 'read:orders' })
  t.equal((await call(a, unbound, '/me')).status, 200, 'a bearer token needs no replay check: served while Redis is down')

  await redis.start()
  for (const server of [a, b]) {
    let status = 503
    for (let attempt = 0; attempt < 60 && status === 503; attempt++) {
      await wait(100)
      status = (await call(server, token, '/me', key)).status
    }
    t.equal(status, 200, 'back by itself once Redis is')
  }
  const again = await call(a, token, '/why', key)
  t.same(again.json().failure, null)
  t.equal((await replayed(b, '/why', again.proof)).json().failure?.reason, 'dpop_proof_replayed', 'replays are refused across instances again')
})
