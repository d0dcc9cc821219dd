import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose'
import * as oauth from 'oauth4webapi'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import jwtSecurity, { errors, type DpopOptions } from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { DpopClient } from '../helpers/dpop-client.js'

// A single-page app in Debian's Chromium, driven by playwright-core, that holds a WebCrypto key it
// cannot export and uses DPoP-bound tokens (RFC 9449) the plugin mints: the page signs its proofs
// with oauth4webapi's browser build, served by the app itself. `npm test` installs Chromium first
// (scripts/system-deps.js); without it this test fails, it never skips.
const CHROMIUM = '/usr/bin/chromium'
// As in test/e2e/browser.test.ts: without the background-networking flags Chromium keeps trying to
// reach Google, which this machine's closed network refuses.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const OAUTH4WEBAPI = fileURLToPath(import.meta.resolve('oauth4webapi'))
const EXPIRES_IN = 900

async function launch (): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install it with "apt-get update && apt-get install -y chromium" (npm test does this when run as root), or skip this test with FJS_SKIP_SYSTEM_TESTS=browser`)
  }
  return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
}

// The origin the app is registered with must be known before it listens: a port is reserved on
// the loopback address, released, and the app then listens on it.
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

// The page: it loads oauth4webapi as a JavaScript module and hands it to the test's scripts.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>DPoP SPA</title></head>
<body><p id="status">loading</p>
<script type="module">
import * as oauth from '/oauth4webapi.js'
globalThis.oauth = oauth
document.getElementById('status').textContent = 'ready'
</script></body></html>`

/** What the app refused, with the plugin's reason (`request.authFailure`, or the error of `request.dpopProof()`). */
interface Refusal {
  readonly method: string
  readonly url: string
  readonly status: number
  readonly reason: string | undefined
}

// The app: the page, the library, a login that binds the token it creates to the proof's key, and
// a protected /me. It listens on 127.0.0.1 only, on the port its dpop.publicOrigin names.
async function startApp (t: Test, dpop: Omit<DpopOptions, 'publicOrigin'> = {}): Promise<{ origin: string, refusals: Refusal[] }> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtSecurity, { secret: SECRET, expiresIn: EXPIRES_IN, dpop: { publicOrigin: origin, ...dpop } })
  const refusals: Refusal[] = []
  const library = await readFile(OAUTH4WEBAPI, 'utf8')

  // The login plays an OAuth token endpoint: its DPoP refusals answer with RFC 9449's bodies, which
  // oauth4webapi reads (docs/dpop.md), and keep the error's DPoP-Nonce header.
  app.setErrorHandler((error, _request, reply) => {
    const oauthError = error instanceof errors.DpopNonceRequiredError ? 'use_dpop_nonce' : error instanceof errors.DpopProofRefusedError ? 'invalid_dpop_proof' : null
    if (oauthError === null) return reply.send(error)
    return reply.code(400).headers((error as { headers?: Record<string, string> }).headers ?? {}).send({ error: oauthError })
  })
  // oauth4webapi sends token requests as forms.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  // The reason of a refusal is not in the response (it is for logs): the app records it, in onSend
  // so that it is recorded before the client has the answer.
  const errorReasons = new WeakMap<object, string | undefined>()
  app.addHook('onError', async (request, _reply, error) => {
    errorReasons.set(request, (error as { reason?: string }).reason)
  })
  app.addHook('onSend', async (request, reply, payload) => {
    const reason = request.authFailure?.reason ?? errorReasons.get(request)
    if (reply.statusCode >= 400) refusals.push({ method: request.method, url: request.url, status: reply.statusCode, reason })
    return payload
  })
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE))
  app.get('/oauth4webapi.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(library))
  app.post('/login', async (request, reply) => {
    const { username } = request.body as { username?: unknown }
    if (typeof username !== 'string' || username === '') return reply.code(400).send({ error: 'invalid_request' })
    // No password: the test is about the binding of the token, not about checking credentials.
    const { jkt } = await request.dpopProof()
    return { access_token: await request.createJwtToken(username, {}, { jkt }), token_type: 'DPoP', expires_in: EXPIRES_IN }
  })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => ({
    userid: request.authenticatedUserid,
    cnf: request.jwtClaims?.cnf ?? null
  }))
  await app.listen({ port, host: '127.0.0.1' })
  return { origin, refusals }
}

/** A request the page sent, as it left the browser. */
interface SentRequest {
  readonly method: string
  readonly url: string
  readonly authorization: string | undefined
  readonly dpop: string | undefined
}

// A browser context whose every request is checked: only 127.0.0.1 is reached, anything else is
// aborted and recorded (each test asserts that nothing was).
async function openPage (t: Test, browser: Browser): Promise<{ context: BrowserContext, page: Page, sent: SentRequest[], blocked: string[] }> {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const sent: SentRequest[] = []
  const blocked: string[] = []
  await context.route('**/*', async (route) => {
    const request = route.request()
    const url = new URL(request.url())
    if (url.hostname !== '127.0.0.1') {
      blocked.push(request.url())
      return await route.abort('blockedbyclient')
    }
    const headers = await request.allHeaders()
    sent.push({ method: request.method(), url: request.url(), authorization: headers.authorization, dpop: headers.dpop })
    return await route.continue()
  })
  const page = await context.newPage()
  return { context, page, sent, blocked }
}

async function loadSpa (page: Page, origin: string): Promise<void> {
  const response = await page.goto(`${origin}/`)
  if (response?.status() !== 200) throw new Error(`the page answered ${response?.status()}`)
  await page.waitForSelector('#status:has-text("ready")')
}

/** The page's globals: the tests compile without DOM types, so they are reached through globalThis. */
interface PageGlobals {
  oauth: typeof oauth
  crypto: typeof globalThis.crypto
  spa: { keyPair: oauth.CryptoKeyPair, dpop: oauth.DPoPHandle, token: string }
}

interface NodeResponse { status: number, wwwAuthenticate: string | null, body: Record<string, unknown> }

async function nodeRequest (url: string, init: RequestInit): Promise<NodeResponse> {
  const response = await fetch(url, { ...init, redirect: 'error' })
  return { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate'), body: await response.json() as Record<string, unknown> }
}

const lastRefusal = (refusals: Refusal[]) => refusals.at(-1)

t.test('a DPoP-bound token in a browser SPA whose key cannot be exported', async (t) => {
  const { origin, refusals } = await startApp(t)
  const browser = await launch()
  t.teardown(() => browser.close())
  const { page, sent, blocked } = await openPage(t, browser)
  await loadSpa(page, origin)

  // The SPA: a non-extractable P-256 key, a token request to /login with a proof of it, then /me
  // with the DPoP-bound token and a fresh proof. oauth4webapi signs every proof.
  const spa = await page.evaluate(async ({ origin, username }) => {
    const { oauth, crypto } = globalThis as unknown as PageGlobals
    const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as oauth.CryptoKeyPair
    const client: oauth.Client = { client_id: 'spa' }
    const as: oauth.AuthorizationServer = { issuer: origin, token_endpoint: `${origin}/login` }
    const dpop = oauth.DPoP(client, keyPair)
    // http://127.0.0.1 is a secure context for the browser; oauth4webapi still wants HTTPS unless told.
    const options = { DPoP: dpop, [oauth.allowInsecureRequests]: true }
    const tokenResponse = await oauth.clientCredentialsGrantRequest(as, client, oauth.None(), new URLSearchParams({ username }), options)
    const tokens = await oauth.processClientCredentialsResponse(as, client, tokenResponse)
    const me = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL('/me', origin), new Headers(), null, options)
    ;(globalThis as unknown as PageGlobals).spa = { keyPair, dpop, token: tokens.access_token }

    // What a script running in the page (an XSS payload) can get of the key: not its private part.
    let exportError: string | null = null
    try {
      await crypto.subtle.exportKey('jwk', keyPair.privateKey)
    } catch (error) {
      exportError = (error as Error).name
    }
    let pkcs8Error: string | null = null
    try {
      await crypto.subtle.exportKey('pkcs8', keyPair.privateKey)
    } catch (error) {
      pkcs8Error = (error as Error).name
    }
    return {
      secureContext: (globalThis as unknown as { isSecureContext: boolean }).isSecureContext,
      token: tokens.access_token,
      tokenType: tokens.token_type,
      expiresIn: tokens.expires_in,
      me: { status: me.status, body: await me.json() as { userid: string, cnf: { jkt: string } | null } },
      privateKey: { type: keyPair.privateKey.type, extractable: keyPair.privateKey.extractable, usages: keyPair.privateKey.usages },
      exportError,
      pkcs8Error,
      publicJwk: await crypto.subtle.exportKey('jwk', keyPair.publicKey) as JWK,
      thumbprint: await dpop.calculateThumbprint()
    }
  }, { origin, username: 'alice' })

  t.equal(spa.secureContext, true, 'the page on http://127.0.0.1 is a secure context (WebCrypto is available)')
  t.equal(spa.tokenType, 'dpop', 'the token endpoint answered token_type DPoP')
  t.equal(spa.expiresIn, EXPIRES_IN)
  t.equal(spa.me.status, 200, 'the page reached /me with its DPoP-bound token')
  t.equal(spa.me.body.userid, 'alice')
  t.same(spa.privateKey, { type: 'private', extractable: false, usages: ['sign'] }, 'the private key is non-extractable')
  t.equal(spa.exportError, 'InvalidAccessError', 'exportKey("jwk", privateKey) throws in the page')
  t.equal(spa.pkcs8Error, 'InvalidAccessError', 'exportKey("pkcs8", privateKey) throws in the page')
  t.notOk('d' in spa.publicJwk, 'the exported public JWK holds no private member')

  // The binding: cnf.jkt is the RFC 7638 thumbprint of the page's public key, computed in Node.
  const thumbprint = await calculateJwkThumbprint(spa.publicJwk)
  t.same(spa.me.body.cnf, { jkt: thumbprint }, '/me sees cnf.jkt = the thumbprint of the page\'s key')
  t.equal(spa.thumbprint, thumbprint, 'oauth4webapi in the page computes the same thumbprint')
  t.same(decodeJwt(spa.token).cnf, { jkt: thumbprint }, 'the token carries cnf.jkt')

  // What left the browser: a proof without ath on /login, one with ath on /me, each of the page's key.
  const login = sent.find((request) => request.method === 'POST' && request.url === `${origin}/login`)
  const resource = sent.find((request) => request.method === 'GET' && request.url === `${origin}/me`)
  if (login?.dpop === undefined || resource?.dpop === undefined) throw new Error('the page sent no proofs')
  t.equal(login.authorization, undefined, 'the token request carries no Authorization')
  t.equal(resource.authorization, `DPoP ${spa.token}`, 'the resource request uses the DPoP scheme')
  for (const [name, proof, htm, htu] of [['login', login.dpop, 'POST', `${origin}/login`], ['resource', resource.dpop, 'GET', `${origin}/me`]] as const) {
    const header = decodeProtectedHeader(proof)
    t.equal(header.typ, 'dpop+jwt', `the ${name} proof's typ`)
    t.equal(header.alg, 'ES256', `the ${name} proof's alg`)
    const { kty, crv, x, y } = spa.publicJwk
    t.same(header.jwk, { kty, crv, x, y }, `the ${name} proof carries the page's public key, its public members only`)
    const claims = decodeJwt(proof)
    t.equal(claims.htm, htm, `the ${name} proof's htm`)
    t.equal(claims.htu, htu, `the ${name} proof's htu names the registered origin`)
  }
  t.notOk('ath' in decodeJwt(login.dpop), 'the token request proof has no ath')
  t.ok(typeof decodeJwt(resource.dpop).ath === 'string', 'the resource request proof has ath')
  t.same(refusals, [], 'the app refused nothing so far')

  // The token copied out of the page and sent from Node as a bearer token: refused.
  const bearer = await nodeRequest(`${origin}/me`, { headers: { authorization: `Bearer ${spa.token}` } })
  t.equal(bearer.status, 401, 'the stolen token as Bearer is refused')
  t.match(bearer.wwwAuthenticate, /error="invalid_token"/)
  t.same(lastRefusal(refusals), { method: 'GET', url: '/me', status: 401, reason: 'dpop_bound_token' })

  // The token with a proof of another key (oauth4webapi in Node, over HTTP): refused.
  const thief = await DpopClient.create()
  t.not(thief.jkt, thumbprint)
  const stolen = await oauth.protectedResourceRequest(spa.token, 'GET', new URL('/me', origin), new Headers(), null, {
    DPoP: thief.handle,
    [oauth.allowInsecureRequests]: true
  }).then(() => null, (error: unknown) => error)
  t.ok(stolen instanceof oauth.WWWAuthenticateChallengeError, 'the proof of another key is answered with a challenge')
  const challenge = stolen as oauth.WWWAuthenticateChallengeError
  t.equal(challenge.response.status, 401)
  t.ok(challenge.cause.some((item) => item.scheme === 'dpop' && item.parameters.error === 'invalid_dpop_proof'), 'a DPoP challenge with invalid_dpop_proof')
  t.same(lastRefusal(refusals), { method: 'GET', url: '/me', status: 401, reason: 'dpop_key_mismatch' })

  // The page's proof for /me, with its token, replayed from Node: refused.
  const replayed = await nodeRequest(`${origin}/me`, { headers: { authorization: `DPoP ${spa.token}`, dpop: resource.dpop } })
  t.equal(replayed.status, 401, 'the replayed proof is refused')
  t.match(replayed.wwwAuthenticate, /error="invalid_dpop_proof"/)
  t.same(lastRefusal(refusals), { method: 'GET', url: '/me', status: 401, reason: 'dpop_proof_replayed' })

  // The page's login proof replayed from Node to get a token of its own: refused (400).
  const relogin = await nodeRequest(`${origin}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: login.dpop },
    body: new URLSearchParams({ username: 'mallory', client_id: 'spa' }).toString()
  })
  t.equal(relogin.status, 400, 'the replayed login proof is refused')
  t.equal(relogin.body.error, 'invalid_dpop_proof')
  t.same(lastRefusal(refusals), { method: 'POST', url: '/login', status: 400, reason: 'dpop_proof_replayed' })
  t.notOk('access_token' in relogin.body)

  // The page itself goes on working: every request carries a fresh proof.
  const again = await page.evaluate(async ({ origin }) => {
    const { oauth, spa } = globalThis as unknown as PageGlobals
    const me = await oauth.protectedResourceRequest(spa.token, 'GET', new URL('/me', origin), new Headers(), null, { DPoP: spa.dpop, [oauth.allowInsecureRequests]: true })
    return { status: me.status, body: await me.json() as { userid: string } }
  }, { origin })
  t.equal(again.status, 200, 'the page\'s next request, with a new proof, succeeds')
  t.equal(again.body.userid, 'alice')
  const proofs = sent.filter((request) => request.url === `${origin}/me`).map((request) => request.dpop)
  t.equal(proofs.length, 2)
  t.not(proofs[0], proofs[1], 'each request had its own proof')
  t.equal(refusals.length, 4, 'the app refused exactly the four requests from Node')
  t.same(blocked, [], 'the browser asked for nothing but 127.0.0.1')
})

// A nonce secret of 32 bytes, as DPoP nonces require; any instance with it hands out the same nonces.
const NONCE_SECRET = 'n4Vq8Zr2Kx6Tm1Wp9Ls3Hd7Jc5Fb0Ye-'

/** The IndexedDB calls the page makes, typed for the test (no DOM types). */
interface IdbRequest<T> { result: T, error: unknown, onsuccess: (() => void) | null, onerror: (() => void) | null }
interface IdbStore { put (value: unknown, key: string): IdbRequest<unknown>, get (key: string): IdbRequest<unknown> }
interface IdbDatabase { createObjectStore (name: string): IdbStore, transaction (name: string, mode?: string): { objectStore (name: string): IdbStore } }
interface IdbGlobals { indexedDB: { open (name: string, version?: number): IdbRequest<IdbDatabase> & { onupgradeneeded: (() => void) | null } } }

t.test('DPoP nonces: oauth4webapi in the page retries once with the server\'s nonce, before and after a reload', async (t) => {
  const { origin, refusals } = await startApp(t, { nonce: { secret: NONCE_SECRET } })
  const browser = await launch()
  t.teardown(() => browser.close())
  const { page, sent, blocked } = await openPage(t, browser)
  await loadSpa(page, origin)

  // The token request, with a new key and no nonce yet: refused with the nonce to use, then retried
  // once. The key pair and the token are kept in IndexedDB, which stores a non-extractable key as is.
  const login = await page.evaluate(async ({ origin }) => {
    const { oauth, crypto, indexedDB } = globalThis as unknown as PageGlobals & IdbGlobals
    const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as oauth.CryptoKeyPair
    const client: oauth.Client = { client_id: 'spa' }
    const as: oauth.AuthorizationServer = { issuer: origin, token_endpoint: `${origin}/login` }
    const dpop = oauth.DPoP(client, keyPair)
    const options = { DPoP: dpop, [oauth.allowInsecureRequests]: true }
    const requestToken = async () => await oauth.processClientCredentialsResponse(as, client,
      await oauth.clientCredentialsGrantRequest(as, client, oauth.None(), new URLSearchParams({ username: 'bob' }), options))
    let refusal: { status: number, error: string, nonceError: boolean } | null = null
    let tokens: oauth.TokenEndpointResponse
    try {
      tokens = await requestToken()
    } catch (error) {
      if (!(error instanceof oauth.ResponseBodyError)) throw error
      refusal = { status: error.status, error: error.error, nonceError: oauth.isDPoPNonceError(error) }
      // oauth4webapi kept the nonce of the refusal's DPoP-Nonce header: the retry's proof carries it.
      if (!refusal.nonceError) throw error
      tokens = await requestToken()
    }

    const open = indexedDB.open('spa', 1)
    open.onupgradeneeded = () => { open.result.createObjectStore('keys') }
    const db = await new Promise<IdbDatabase>((resolve, reject) => {
      open.onsuccess = () => resolve(open.result)
      open.onerror = () => reject(open.error)
    })
    const put = db.transaction('keys', 'readwrite').objectStore('keys').put({ keyPair, token: tokens.access_token }, 'session')
    await new Promise((resolve, reject) => {
      put.onsuccess = () => resolve(null)
      put.onerror = () => reject(put.error)
    })
    return { refusal, token: tokens.access_token, tokenType: tokens.token_type, thumbprint: await dpop.calculateThumbprint() }
  }, { origin })

  t.equal(login.tokenType, 'dpop', 'the retried token request got a DPoP token')
  t.same(decodeJwt(login.token).cnf, { jkt: login.thumbprint }, 'bound to the page\'s key')
  t.equal(login.refusal?.status, 400, 'the first token request was refused with a 400')
  t.equal(login.refusal?.error, 'use_dpop_nonce')
  t.ok(login.refusal?.nonceError, 'oauth4webapi\'s isDPoPNonceError recognizes the refusal (RFC 9449 §8)')
  const logins = sent.filter((request) => request.method === 'POST' && request.url === `${origin}/login`)
  t.equal(logins.length, 2, 'the page sent the token request twice: once without a nonce, once with it')
  const [first, second] = logins.map((request) => decodeJwt(request.dpop as string))
  t.notOk('nonce' in (first ?? {}), 'the first proof has no nonce')
  t.ok(typeof second?.nonce === 'string', 'the retry\'s proof carries the server\'s nonce')
  t.same(refusals, [{ method: 'POST', url: '/login', status: 400, reason: 'dpop_nonce_missing' }])

  // A reload: the key pair and the token come back from IndexedDB, still non-extractable, with a new
  // DPoP handle that knows no nonce. /me answers 401 use_dpop_nonce with the nonce, and the page
  // retries once.
  await page.reload()
  await page.waitForSelector('#status:has-text("ready")')
  const me = await page.evaluate(async ({ origin }) => {
    const { oauth, crypto, indexedDB } = globalThis as unknown as PageGlobals & IdbGlobals
    const open = indexedDB.open('spa', 1)
    const db = await new Promise<IdbDatabase>((resolve, reject) => {
      open.onsuccess = () => resolve(open.result)
      open.onerror = () => reject(open.error)
    })
    const get = db.transaction('keys').objectStore('keys').get('session')
    const { keyPair, token } = await new Promise<{ keyPair: oauth.CryptoKeyPair, token: string }>((resolve, reject) => {
      get.onsuccess = () => resolve(get.result as { keyPair: oauth.CryptoKeyPair, token: string })
      get.onerror = () => reject(get.error)
    })
    let exportError: string | null = null
    try {
      await crypto.subtle.exportKey('jwk', keyPair.privateKey)
    } catch (error) {
      exportError = (error as Error).name
    }
    const client: oauth.Client = { client_id: 'spa' }
    const options = { DPoP: oauth.DPoP(client, keyPair), [oauth.allowInsecureRequests]: true }
    const call = async () => await oauth.protectedResourceRequest(token, 'GET', new URL('/me', origin), new Headers(), null, options)
    let challenge: { status: number, nonceError: boolean, nonce: string | null } | null = null
    let response: Response
    try {
      response = await call()
    } catch (error) {
      if (!(error instanceof oauth.WWWAuthenticateChallengeError)) throw error
      challenge = { status: error.response.status, nonceError: oauth.isDPoPNonceError(error), nonce: error.response.headers.get('dpop-nonce') }
      if (!challenge.nonceError) throw error
      response = await call()
    }
    return { exportError, extractable: keyPair.privateKey.extractable, challenge, status: response.status, body: await response.json() as { userid: string, cnf: unknown } }
  }, { origin })

  t.equal(me.exportError, 'InvalidAccessError', 'the key from IndexedDB still cannot be exported')
  t.equal(me.extractable, false)
  t.equal(me.challenge?.status, 401, 'the first /me after the reload was refused')
  t.equal(me.challenge?.nonceError, true, 'with a use_dpop_nonce challenge that oauth4webapi recognizes')
  t.ok(typeof me.challenge?.nonce === 'string' && me.challenge.nonce.length > 0, 'the DPoP-Nonce header is readable by the page')
  t.equal(me.status, 200, 'the retry succeeded')
  t.same(me.body, { userid: 'bob', cnf: { jkt: login.thumbprint } })
  const calls = sent.filter((request) => request.url === `${origin}/me`).map((request) => decodeJwt(request.dpop as string))
  t.equal(calls.length, 2, 'the page called /me twice')
  t.notOk('nonce' in (calls[0] ?? {}), 'the first proof has no nonce')
  t.equal(calls[1]?.nonce, me.challenge?.nonce, 'the retry\'s proof carries the nonce of the challenge')
  t.same(refusals.slice(1), [{ method: 'GET', url: '/me', status: 401, reason: 'dpop_nonce_missing' }])
  t.same(blocked, [], 'the browser asked for nothing but 127.0.0.1')
})
