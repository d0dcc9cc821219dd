// Shared helpers of the security-catalogue tests (../shared/security-catalogue.md).
// Tokens are built by hand, outcomes are asserted by one function, and every case runs in the
// plugin's default configuration and in the strictest one.
import {
  constants, createHmac, randomBytes, sign as cryptoSign, type KeyObject
} from 'node:crypto'
import { connect, type AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyRequest, type LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { JWK } from 'jose'
import { decodeJwt } from 'jose'
import jwtSecurity, {
  Authenticated, JwtCookiePolicy, JwtHeaderPolicy, PolicyChain, type AuthFailure, type JwtCookiePolicyOptions, type JwtSecurityOptions, type KeySpec
} from '../../lib/index.js'
import { rejected } from '../helpers/errors.js'
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js'
import { keyPair } from '../helpers/keys.js'

/** The frozen clock of every app: `now` in milliseconds and in seconds. */
export const NOW_MS = 1_800_000_000_000
export const NOW = NOW_MS / 1000
export const ISSUER = 'https://auth.example'
export const AUDIENCE = 'api'
/** The strict configuration's session lifetime, used as maxTokenAge. */
export const MAX_TOKEN_AGE = 3600
export const LEEWAY = 30
/** The session cookie of the cookie policy (D6 and the cookie variants). */
export const SESSION_COOKIE = '__Host-session'

// ---------------------------------------------------------------------------------------------
// Token builders
// ---------------------------------------------------------------------------------------------

/** A segment: raw JSON text (string), raw bytes (Buffer) or a value to JSON.stringify. */
export type Segment = string | Buffer | object

/** base64url without padding, of raw text, raw bytes or JSON. */
export function b64u (value: Segment): string {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
  return bytes.toString('base64url')
}

/** The signature (raw bytes) of `input` with `alg`; `key` is an HMAC secret or a private key. */
export function signatureBytes (alg: string, key: Buffer | string | KeyObject, input: string): Buffer {
  const data = Buffer.from(input)
  const bits = alg.slice(2)
  switch (alg.slice(0, 2)) {
    case 'HS': return createHmac(`sha${bits}`, key as Buffer | string).update(data).digest()
    case 'RS': return cryptoSign(`sha${bits}`, data, key as KeyObject)
    case 'PS': return cryptoSign(`sha${bits}`, data, { key: key as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 })
    case 'ES': return cryptoSign(`sha${bits}`, data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
    case 'Ed': return cryptoSign(null, data, key as KeyObject)
  }
  throw new Error(`no signer for ${alg}`)
}

/** A compact JWS: `header` and `payload` are encoded as given and signed with `alg` and `key`. */
export function jws (alg: string, key: Buffer | string | KeyObject, header: Segment, payload: Segment): string {
  const input = `${b64u(header)}.${b64u(payload)}`
  return `${input}.${signatureBytes(alg, key, input).toString('base64url')}`
}

/** An unsigned token: `b64u(h).b64u(p).` */
export function unsigned (header: Segment, payload: Segment): string {
  return `${b64u(header)}.${b64u(payload)}.`
}

/** The three segments of a token. */
export function segments (token: string): [string, string, string] {
  return token.split('.') as [string, string, string]
}

// ---------------------------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------------------------

export type Profile = 'default' | 'strict'
export type KeyKind = 'hmac' | 'RS256' | 'ES256' | 'EdDSA'

export interface Config {
  /** The subtest name, e.g. `strict (HS256)`. */
  readonly name: string
  readonly profile: Profile
  /** The one algorithm the app accepts. */
  readonly alg: string
  /** The HMAC secret, or the private key of the asymmetric configurations. */
  readonly key: Buffer | KeyObject
  /** The public key of the asymmetric configurations, else null. */
  readonly publicKey: KeyObject | null
  readonly leeway: number
  readonly maxTokenAge: number | null
  /** The plugin options (without `now`, which the harness adds). */
  readonly options: JwtSecurityOptions
  /** Texts that would reveal the secret or private key if they appeared in a log line. */
  readonly secretForms: readonly string[]
  /** The `kid` of valid tokens (key-set and JWKS configurations), else absent. */
  readonly kid?: string
}

/**
 * A random HMAC secret. The plugin refuses a secret whose text, after leading whitespace, starts with
 * `{`, `-----BEGIN` or `ssh-` ("looks like a key"): about one random secret in 256 starts with 0x7B.
 * That is reported as a plugin defect; the secret is drawn again here so the suite stays deterministic.
 */
export function randomSecret (bytes: number): Buffer {
  for (;;) {
    const secret = randomBytes(bytes)
    if (!/^(\{|-----BEGIN|ssh-)/.test(secret.toString('latin1').trimStart())) return secret
  }
}

const SERVER_KEYS = { RS256: 'rsa', ES256: 'ec256', EdDSA: 'ed25519' } as const

/** The server's key pair for an asymmetric configuration (generated once per process). */
export function serverKeys (kind: Exclude<KeyKind, 'hmac'>) {
  return keyPair(SERVER_KEYS[kind])
}

/**
 * A configuration. `default` is the plugin's default (`{ secret }`, 64 random bytes, so HS512), or
 * for asymmetric keys only `{ algorithm, privateKey }`. `strict` pins HS256 with a 32-byte secret,
 * issuer, audience, typ, leeway 30 s, maxTokenAge 1 h, maxTokenLength 8192 and expiresIn 15 m.
 */
export function makeConfig (profile: Profile, kind: KeyKind = 'hmac'): Config {
  const strictOptions = profile === 'strict'
    ? { issuer: ISSUER, audience: AUDIENCE, typ: 'JWT', leeway: LEEWAY, maxTokenAge: '1h', maxTokenLength: 8192, expiresIn: '15m' }
    : {}
  if (kind === 'hmac') {
    const alg = profile === 'strict' ? 'HS256' : 'HS512'
    const secret = randomSecret(profile === 'strict' ? 32 : 64)
    const options: JwtSecurityOptions = profile === 'strict' ? { secret, algorithm: 'HS256', ...strictOptions } : { secret }
    return {
      name: `${profile} (${alg})`,
      profile,
      alg,
      key: secret,
      publicKey: null,
      leeway: profile === 'strict' ? LEEWAY : 0,
      maxTokenAge: profile === 'strict' ? MAX_TOKEN_AGE : null,
      options,
      secretForms: [secret.toString('hex'), secret.toString('base64'), secret.toString('base64url')]
    }
  }
  const pair = serverKeys(kind)
  const pemBody = pair.privateKey.split('\n')[1] as string
  return {
    name: `${profile} (${kind})`,
    profile,
    alg: kind,
    key: pair.privateKeyObject,
    publicKey: pair.publicKeyObject,
    leeway: profile === 'strict' ? LEEWAY : 0,
    maxTokenAge: profile === 'strict' ? MAX_TOKEN_AGE : null,
    options: { algorithm: kind, privateKey: pair.privateKey, ...strictOptions },
    secretForms: [pemBody]
  }
}

/** The header of a valid token in `config`, with `extra` merged in (undefined removes a member). */
export function header (config: Config, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { alg: config.alg, ...(config.profile === 'strict' ? { typ: 'JWT' } : {}), ...(config.kid === undefined ? {} : { kid: config.kid }), ...extra }
}

/** The claims of a valid token in `config` (sub alice, iat now, exp now + 300), with `extra` merged in. */
export function claims (config: Config, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: 'alice',
    iat: NOW,
    exp: NOW + 300,
    ...(config.profile === 'strict' ? { iss: ISSUER, aud: AUDIENCE } : {}),
    ...extra
  }
}

/** Signs `hdr` and `payload` with the configured key and algorithm, whatever `hdr` says. */
export function signed (config: Config, hdr: Segment, payload: Segment): string {
  return jws(config.alg, config.key, hdr, payload)
}

/** A valid token of `config`, with extra claims and header members. */
export function validToken (config: Config, extraClaims: Record<string, unknown> = {}, extraHeader: Record<string, unknown> = {}): string {
  return signed(config, header(config, extraHeader), claims(config, extraClaims))
}

/** A valid token of `config` exactly `length` characters long (a filler claim and header member set the size). */
export function tokenOfLength (config: Config, length: number): string {
  const base = validToken(config).length
  const estimate = Math.floor((length - base) * 3 / 4)
  for (let filler = Math.max(0, estimate - 64); filler < estimate + 64; filler++) {
    for (let pad = 0; pad < 4; pad++) {
      const token = validToken(config, { filler: 'f'.repeat(filler) }, pad === 0 ? {} : { pad: 'p'.repeat(pad) })
      if (token.length === length) return token
    }
  }
  throw new Error(`no token of ${length} characters`)
}

/** Runs `fn` once per profile, each in its own subtest named after the configuration. */
export async function eachConfig (t: Test, fn: (t: Test, config: Config) => Promise<void>, kind: KeyKind = 'hmac'): Promise<void> {
  for (const profile of ['default', 'strict'] as const) {
    const config = makeConfig(profile, kind)
    await t.test(config.name, (t) => fn(t, config))
  }
}

// ---------------------------------------------------------------------------------------------
// Key sets and remote JWKS
// ---------------------------------------------------------------------------------------------

/** One key of a key-set or JWKS configuration, as the tests sign with it. */
export interface KeyMember {
  readonly kid: string
  readonly alg: string
  /** The HMAC secret or the private key. */
  readonly key: Buffer | KeyObject
  /** The public key, or null for an HMAC secret. */
  readonly publicKey: KeyObject | null
}

/** A configuration with several keys; `alg`, `key` and `kid` are those of its first member (the genuine token's). */
export interface KeySetConfig extends Config {
  readonly kid: string
  readonly members: readonly KeyMember[]
  /** Every algorithm the configuration accepts. */
  readonly algorithms: readonly string[]
}

const STRICT_CLAIM_OPTIONS = { issuer: ISSUER, audience: AUDIENCE, typ: 'JWT', leeway: LEEWAY, maxTokenAge: '1h', maxTokenLength: 8192, expiresIn: '15m' } as const

function asymmetricMember (kid: string, kind: Exclude<KeyKind, 'hmac'>): KeyMember {
  const pair = serverKeys(kind)
  return { kid, alg: kind, key: pair.privateKeyObject, publicKey: pair.publicKeyObject }
}

/**
 * A local key set mixing HMAC and asymmetric keys, where algorithm confusion would hide:
 * `hs` (the secret of the profile: 64 bytes and the default algorithm HS512, or 32 bytes and HS256),
 * `rs` (RS256, public key only, as PEM text), `es` (ES256, public key only, as a JWK) and `ed`
 * (EdDSA, private key as PEM text). The secret comes first, so it signs. `strict` adds the strict
 * claim options of {@link makeConfig}.
 */
export function makeKeySetConfig (profile: Profile): KeySetConfig {
  const strict = profile === 'strict'
  const secret = randomSecret(strict ? 32 : 64)
  const hs: KeyMember = { kid: 'hs', alg: strict ? 'HS256' : 'HS512', key: secret, publicKey: null }
  const members = [hs, asymmetricMember('rs', 'RS256'), asymmetricMember('es', 'ES256'), asymmetricMember('ed', 'EdDSA')]
  const keys: KeySpec[] = [
    strict ? { kid: 'hs', secret, algorithm: 'HS256' } : { kid: 'hs', secret },
    { kid: 'rs', publicKey: serverKeys('RS256').publicKey, algorithm: 'RS256' },
    { kid: 'es', publicKey: serverKeys('ES256').publicKeyObject.export({ format: 'jwk' }) as JWK, algorithm: 'ES256' },
    { kid: 'ed', privateKey: serverKeys('EdDSA').privateKey, algorithm: 'EdDSA' }
  ]
  return {
    name: `${profile} (key set ${members.map((member) => `${member.kid}:${member.alg}`).join(', ')})`,
    profile,
    alg: hs.alg,
    key: secret,
    publicKey: null,
    kid: 'hs',
    leeway: strict ? LEEWAY : 0,
    maxTokenAge: strict ? MAX_TOKEN_AGE : null,
    options: strict ? { keys, ...STRICT_CLAIM_OPTIONS } : { keys },
    secretForms: [secret.toString('hex'), secret.toString('base64'), secret.toString('base64url'), serverKeys('EdDSA').privateKey.split('\n')[1] as string],
    members,
    algorithms: members.map((member) => member.alg)
  }
}

/** Runs `fn` once per profile with the mixed key set of {@link makeKeySetConfig}, each in its own subtest. */
export async function eachKeySetConfig (t: Test, fn: (t: Test, config: KeySetConfig) => Promise<void>): Promise<void> {
  for (const profile of ['default', 'strict'] as const) {
    const config = makeKeySetConfig(profile)
    await t.test(config.name, (t) => fn(t, config))
  }
}

/** The member of `config` whose kid is `kid`. */
export function member (config: KeySetConfig, kid: string): KeyMember {
  const found = config.members.find((candidate) => candidate.kid === kid)
  if (found === undefined) throw new Error(`no key ${kid}`)
  return found
}

/** A token signed by `signer` with its algorithm and kid; `extraHeader` overrides (undefined removes a member). */
export function memberToken (config: Config, signer: KeyMember, extraClaims: Record<string, unknown> = {}, extraHeader: Record<string, unknown> = {}): string {
  return jws(signer.alg, signer.key, header(config, { alg: signer.alg, kid: signer.kid, ...extraHeader }), claims(config, extraClaims))
}

/** Every asymmetric algorithm: what a remote JWKS accepts by default. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const

/** The public JWK of `signer` as an identity provider publishes it; `alg` is left out when `withAlg` is false. */
export function publishedJwk (signer: KeyMember, withAlg = true): JWK {
  const jwk = (signer.publicKey as KeyObject).export({ format: 'jwk' }) as JWK
  return { ...jwk, kid: signer.kid, use: 'sig', ...(withAlg ? { alg: signer.alg } : {}) }
}

/**
 * The remote configuration: an identity provider publishing `idp-rs` (RS256), `idp-es` (ES256)
 * and `idp-ed` (Ed25519, its JWK without `alg`) at `url`, and the plugin registered with
 * `jwks: { url, issuer, timeout: 0.3, cooldown: 0.1, retryDelay: 0.1 }` and the strict claim options.
 */
export function makeJwksConfig (url: string): KeySetConfig {
  const members = [asymmetricMember('idp-rs', 'RS256'), asymmetricMember('idp-es', 'ES256'), asymmetricMember('idp-ed', 'EdDSA')]
  const [rs] = members as [KeyMember]
  return {
    name: 'strict (remote JWKS idp-rs:RS256, idp-es:ES256, idp-ed:EdDSA)',
    profile: 'strict',
    alg: rs.alg,
    key: rs.key,
    publicKey: rs.publicKey,
    kid: rs.kid,
    leeway: LEEWAY,
    maxTokenAge: MAX_TOKEN_AGE,
    options: { jwks: { url, issuer: ISSUER, timeout: 0.3, cooldown: 0.1, retryDelay: 0.1 }, ...STRICT_CLAIM_OPTIONS },
    secretForms: members.map((signer) => serverKeys(signer.alg as Exclude<KeyKind, 'hmac'>).privateKey.split('\n')[1] as string),
    members,
    algorithms: ASYMMETRIC_ALGORITHMS
  }
}

export interface JwksHarness extends Harness {
  readonly config: KeySetConfig
  /** The provider's JWKS endpoint (127.0.0.1, port 0), closed at teardown. */
  readonly server: JwksServer
}

/**
 * A JWKS endpoint serving the provider's keys (or `keys`), and an app verifying with it.
 * `extraKeys` are published after the provider's own.
 */
export async function buildJwksHarness (
  t: Test, setup: { keys?: JWK[], extraKeys?: JWK[] } & HarnessOptions = {}
): Promise<JwksHarness> {
  const server = await startJwksServer([])
  t.teardown(() => server.close())
  const config = makeJwksConfig(server.url)
  server.keys = [...(setup.keys ?? config.members.map((signer) => publishedJwk(signer, signer.alg !== 'EdDSA'))), ...(setup.extraKeys ?? [])]
  const harness = await buildHarness(t, config, setup)
  return { ...harness, config, server }
}

/** The messages of the warn-level lines the app logged from line `from` on. */
export function warnings (harness: Harness, from = 0): string[] {
  return harness.logs.slice(from)
    .map((line) => JSON.parse(line) as { level: number, msg: string })
    .filter((line) => line.level === 40)
    .map((line) => line.msg)
}

// ---------------------------------------------------------------------------------------------
// The app under test
// ---------------------------------------------------------------------------------------------

export interface Harness {
  readonly app: FastifyInstance
  readonly config: Config
  /** Every pino line the app wrote (level trace). */
  readonly logs: string[]
  /** How many times a protected handler ran. */
  readonly runs: { handler: number }
  /** The genuine token of the invariant-3 check. */
  readonly genuine: string
  /** Runs before each genuine-token check (see {@link HarnessOptions}). */
  readonly beforeGenuine?: () => void | Promise<void>
  /** A genuine session cookie (value of {@link SESSION_COOKIE}) for the current clock; checked with the genuine token when set. */
  readonly genuineCookie?: () => string
}

export interface HarnessOptions {
  /** Extra plugin options, merged over the configuration's. */
  options?: Partial<JwtSecurityOptions>
  /** Extra routes. */
  routes?: (app: FastifyInstance, runs: { handler: number }) => void
  /** The genuine token; default `validToken(config)`. */
  genuine?: string
  /** Default true: a trace-level logger that records every line. */
  logger?: boolean
  /** Runs before each genuine-token check (invariant 3), e.g. to bring a JWKS endpoint back. */
  beforeGenuine?: () => void | Promise<void>
  /** A genuine session cookie for the current clock: invariant 3 then also checks that it still works. */
  genuineCookie?: () => string
}

/**
 * The request log serializer SECURITY.md recommends: Fastify's fields, with the path but not the
 * query string, where a client may put a token the plugin refuses (D4).
 */
function withoutQuery (request: FastifyRequest): Record<string, unknown> {
  return { method: request.method, url: request.url.split('?', 1)[0], host: request.host, remoteAddress: request.ip, remotePort: request.socket.remotePort }
}

/**
 * An app with the plugin in `config` and the time frozen at NOW, closed at teardown. Routes:
 * GET /protected and POST /protected (permission system.Authenticated, as a route config and as a
 * preHandler), GET /admin (permission admin) and GET /public (no permission).
 */
export async function buildHarness (t: Test, config: Config, harnessOptions: HarnessOptions = {}): Promise<Harness> {
  const logs: string[] = []
  const runs = { handler: 0 }
  const app = harnessOptions.logger === false
    ? Fastify({ logger: { level: 'silent', serializers: { req: withoutQuery } } })
    : Fastify({ logger: { level: 'trace', serializers: { req: withoutQuery }, stream: { write: (line: string) => { logs.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(jwtSecurity, { ...config.options, now: () => NOW_MS, ...harnessOptions.options } as JwtSecurityOptions)
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  const protectedHandler = async (request: FastifyRequest) => {
    runs.handler++
    return { userid: request.authenticatedUserid }
  }
  app.get('/protected', { config: { permission: Authenticated } }, protectedHandler)
  app.post('/protected', { preHandler: app.permits(Authenticated) }, protectedHandler)
  app.get('/admin', { config: { permission: 'admin' } }, protectedHandler)
  const publicHandler = async (request: FastifyRequest) => ({
    anonymous: request.identity === null,
    userid: request.authenticatedUserid,
    authFailure: request.authFailure,
    body: request.body ?? null
  })
  app.get('/public', publicHandler)
  app.post('/public', publicHandler)
  harnessOptions.routes?.(app, runs)
  await app.ready()
  return {
    app,
    config,
    logs,
    runs,
    genuine: harnessOptions.genuine ?? validToken(config),
    beforeGenuine: harnessOptions.beforeGenuine,
    genuineCookie: harnessOptions.genuineCookie
  }
}

/** A harness whose policy is the header policy first and the cookie policy second (as in D6). */
export async function buildChainHarness (t: Test, config: Config, harnessOptions: HarnessOptions = {}): Promise<Harness> {
  const policy = new PolicyChain([new JwtHeaderPolicy(), new JwtCookiePolicy({ secure: true })])
  return await buildHarness(t, config, { ...harnessOptions, options: { ...harnessOptions.options, policy } })
}

// ---------------------------------------------------------------------------------------------
// Cookie sessions (groups D and E)
// ---------------------------------------------------------------------------------------------

/** The one origin the strict cookie configuration lets send unsafe requests (`csrf.origins`). */
export const APP_ORIGIN = 'https://app.example'

/**
 * The cookie policy of each profile. `default`: JwtCookiePolicy's defaults (`__Host-session`,
 * Secure, HttpOnly, SameSite=Lax, Path=/, no reissue, maxSessionAge 7 days, CSRF on with the
 * request's own origin). `strict`: `__Host-session`, SameSite=Strict, reissue after 5 minutes, an
 * absolute session lifetime of 1 hour (= the strict maxTokenAge) and CSRF with explicit origins.
 */
export function cookiePolicyOptions (profile: Profile): JwtCookiePolicyOptions {
  return profile === 'strict'
    ? { cookieName: SESSION_COOKIE, sameSite: 'strict', reissueTime: '5m', maxSessionAge: '1h', csrf: { origins: [APP_ORIGIN] } }
    : {}
}

export interface CookieHarness extends Harness {
  /** The cookie policy, second in the chain after the header policy. */
  readonly policy: JwtCookiePolicy
  /** The app's clock in milliseconds (starts at NOW_MS); move it to cross reissue boundaries. */
  readonly clock: { now: number }
  /** The app's expiresIn, in seconds. */
  readonly expiresIn: number
  /** The SameSite attribute as it appears in Set-Cookie. */
  readonly sameSite: 'Lax' | 'Strict' | 'None'
  /** An origin the CSRF check accepts: the configured one, else the request's own (`http://localhost` under inject). */
  readonly origin: string
  /** State the state-changing route (POST /transfer) changed. */
  readonly state: { transfers: number }
}

export interface CookieHarnessOptions extends HarnessOptions {
  /** Options merged over the profile's {@link cookiePolicyOptions}. */
  cookie?: JwtCookiePolicyOptions
}

/**
 * An app whose policy is the header policy then the cookie policy of the profile (merged with
 * `cookie`), with a movable clock. The genuine Bearer token lives long enough for every clock move
 * the tests make (default: 8 days; strict: 2 hours, its iat staying within maxTokenAge for an hour),
 * and invariant 3 also checks a session cookie made for the current time. Routes, besides those of
 * {@link buildHarness}: POST /login (`remember(body.userid ?? 'alice', body.claims ?? {})`, answers
 * the CSRF token), POST /login-catch (the same, answering the code remember() threw), POST /logout
 * (`forget()`), POST, PUT, PATCH and DELETE /transfer (Authenticated; change `state`), GET /transfer
 * (Authenticated; changes nothing), GET /twice (Authenticated; resolves the cookie identity a second
 * time in the handler), and PUT, PATCH and DELETE /public.
 */
export async function buildCookieHarness (t: Test, config: Config, harnessOptions: CookieHarnessOptions = {}): Promise<CookieHarness> {
  const clock = { now: NOW_MS }
  const cookieOptions = { ...cookiePolicyOptions(config.profile), ...harnessOptions.cookie }
  const policy = new JwtCookiePolicy(cookieOptions)
  const state = { transfers: 0 }
  const nowSeconds = () => Math.floor(clock.now / 1000)
  const harness = await buildHarness(t, config, {
    genuine: validToken(config, { exp: NOW + (config.profile === 'strict' ? 7200 : 8 * 86400) }),
    genuineCookie: () => validToken(config, { iat: nowSeconds(), exp: nowSeconds() + 300, auth_time: nowSeconds() }),
    ...harnessOptions,
    options: { now: () => clock.now, ...harnessOptions.options, policy: new PolicyChain([new JwtHeaderPolicy(), policy]) },
    routes: (app, runs) => {
      type Login = { userid?: string, claims?: Record<string, unknown> } | null
      app.post('/login', async (request, reply) => {
        const body = request.body as Login
        await reply.remember(body?.userid ?? 'alice', body?.claims ?? {})
        return { ok: true, csrfToken: policy.csrfToken(request) }
      })
      app.post('/login-catch', async (request, reply) => {
        const body = request.body as Login
        try {
          await reply.remember(body?.userid ?? 'alice', body?.claims ?? {})
        } catch (error) {
          return { thrown: (error as { code?: string }).code }
        }
        return { thrown: null }
      })
      app.post('/logout', async (_request, reply) => {
        await reply.forget()
        return { ok: true }
      })
      app.route({
        method: ['POST', 'PUT', 'PATCH', 'DELETE'],
        url: '/transfer',
        config: { permission: Authenticated },
        handler: async (request) => {
          runs.handler++
          state.transfers++
          return { userid: request.authenticatedUserid }
        }
      })
      app.route({
        method: ['PUT', 'PATCH', 'DELETE'],
        url: '/public',
        handler: async (request) => ({
          anonymous: request.identity === null,
          userid: request.authenticatedUserid,
          authFailure: request.authFailure,
          body: request.body ?? null
        })
      })
      app.get('/transfer', { config: { permission: Authenticated } }, async (request) => {
        runs.handler++
        return { userid: request.authenticatedUserid }
      })
      app.get('/twice', { config: { permission: Authenticated } }, async (request) => {
        runs.handler++
        await policy.identity(request)
        return { userid: request.authenticatedUserid }
      })
      harnessOptions.routes?.(app, runs)
    }
  })
  const created = decodeJwt(await harness.app.createJwtToken('probe'))
  const sameSite = cookieOptions.sameSite ?? 'lax'
  return {
    ...harness,
    policy,
    clock,
    expiresIn: (created.exp as number) - (created.iat as number),
    sameSite: sameSite === 'strict' ? 'Strict' : sameSite === 'none' ? 'None' : 'Lax',
    origin: cookieOptions.csrf === false ? APP_ORIGIN : cookieOptions.csrf?.origins?.[0] ?? 'http://localhost',
    state
  }
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

/**
 * The catalogue's outcome labels; `R401-expired` is R401 with the "expired" description; `R403-csrf`
 * is R403 for a cookie-authenticated unsafe request that failed the CSRF check (E11); OK is acceptance.
 */
export type Outcome = 'R401' | 'R401-expired' | 'R401-bare' | 'R400' | 'R403' | 'R403-csrf' | 'OK'

export const CHALLENGE = {
  bare: 'Bearer realm="api"',
  invalidToken: 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"',
  expired: 'Bearer realm="api", error="invalid_token", error_description="The access token expired"',
  invalidRequest: 'Bearer realm="api", error="invalid_request", error_description="The authorization request is malformed"'
} as const

/** The exact response of each refusing outcome (status, challenge, body), from docs/errors.md. */
export const EXPECTED: Readonly<Record<Exclude<Outcome, 'OK'>, { status: number, challenge: string | undefined, body: object }>> = {
  R401: {
    status: 401,
    challenge: CHALLENGE.invalidToken,
    body: { statusCode: 401, code: 'FST_JWT_SECURITY_INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid' }
  },
  'R401-expired': {
    status: 401,
    challenge: CHALLENGE.expired,
    body: { statusCode: 401, code: 'FST_JWT_SECURITY_TOKEN_EXPIRED', error: 'Unauthorized', message: 'The access token expired' }
  },
  'R401-bare': {
    status: 401,
    challenge: CHALLENGE.bare,
    body: { statusCode: 401, code: 'FST_JWT_SECURITY_NO_CREDENTIALS', error: 'Unauthorized', message: 'Authentication is required' }
  },
  R400: {
    status: 400,
    challenge: CHALLENGE.invalidRequest,
    body: { statusCode: 400, code: 'FST_JWT_SECURITY_INVALID_REQUEST', error: 'Bad Request', message: 'The authorization request is malformed' }
  },
  R403: {
    status: 403,
    challenge: undefined,
    body: { statusCode: 403, code: 'FST_JWT_SECURITY_FORBIDDEN', error: 'Forbidden', message: 'You do not have permission to perform this action' }
  },
  'R403-csrf': {
    status: 403,
    challenge: undefined,
    body: { statusCode: 403, code: 'FST_JWT_SECURITY_CSRF_FAILED', error: 'Forbidden', message: 'The request failed the cross-site request forgery check' }
  }
}

/** The methods an {@link Attempt} may use (PUT, PATCH and DELETE routes exist in the cookie harness only). */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** What a request presents: a token (sent as `Bearer <token>`) or the parts of a request. */
export type Attempt = string | {
  authorization?: string
  headers?: Record<string, string>
  cookies?: Record<string, string>
  /** Default `/protected`. */
  url?: string
  /** Default `/public`, with the same query string as `url`. */
  publicUrl?: string
  method?: HttpMethod
  payload?: string
}

interface NormalAttempt {
  headers: Record<string, string>
  cookies: Record<string, string>
  url: string
  publicUrl: string
  method: HttpMethod
  payload: string | undefined
  token: string | undefined
}

function normalise (attempt: Attempt): NormalAttempt {
  if (typeof attempt === 'string') {
    return { headers: { authorization: `Bearer ${attempt}` }, cookies: {}, url: '/protected', publicUrl: '/public', method: 'GET', payload: undefined, token: attempt }
  }
  const headers = { ...attempt.headers }
  if (attempt.authorization !== undefined) headers.authorization = attempt.authorization
  const url = attempt.url ?? '/protected'
  const query = url.includes('?') ? url.slice(url.indexOf('?')) : ''
  const authorization = headers.authorization
  const cookieToken = attempt.cookies?.[SESSION_COOKIE] ?? new RegExp(`(?:^|;)\\s*${SESSION_COOKIE}=([^;]*)`).exec(headers.cookie ?? '')?.[1]
  return {
    headers,
    cookies: attempt.cookies ?? {},
    url,
    publicUrl: attempt.publicUrl ?? `/public${query}`,
    method: attempt.method ?? 'GET',
    payload: attempt.payload,
    token: authorization === undefined ? cookieToken : authorization.replace(/^\S+ +/, '')
  }
}

/** Words of library or stack-trace text that must never reach a client. */
const LIBRARY_TEXT = /claim|JWS|JWT|JOSE|jose|KeyObject|ERR_|Error:|stack|\bat \S+ \(/

/** String values (4+ characters) of the decodable header and payload of `token`: what must never be echoed. */
export function echoCandidates (token: string | undefined): string[] {
  if (token === undefined) return []
  const found = new Set<string>()
  if (token.length >= 8) found.add(token)
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      if (value.length >= 4) found.add(value)
    } else if (typeof value === 'object' && value !== null) {
      for (const item of Object.values(value)) visit(item)
    }
  }
  for (const part of token.split('.').slice(0, 2)) {
    if (part.length >= 8) found.add(part)
    try {
      visit(JSON.parse(Buffer.from(part, 'base64url').toString('utf8')))
    } catch {}
  }
  return [...found]
}

/**
 * Sends `attempt` to a protected route and the same credentials to a public route, and asserts
 * everything the catalogue's `outcome` label means, with the invariants:
 * - status, WWW-Authenticate and body exactly as in docs/errors.md; the handler did not run; no Set-Cookie;
 * - the body and headers echo no token, claim value or library message;
 * - on the public route: `request.identity === null` and `request.authFailure` as the label implies;
 * - the logs name the reason and never contain the token, the Authorization or Cookie value, or the secret;
 * - (invariant 3) the genuine token, and the harness's genuine session cookie if it has one, still work afterwards.
 * `R403-csrf` expects the same 403 on the public route (the CSRF check runs on every route).
 * For OK, `checks` can add the Set-Cookie values expected and the clean-logs check.
 * Returns the `authFailure` the public route saw.
 */
export async function expectOutcome (
  t: Test, harness: Harness, attempt: Attempt, outcome: Outcome, name: string, userid = 'alice', checks: OutcomeChecks = {}
): Promise<AuthFailure | null> {
  const request = normalise(attempt)
  const { app, runs, logs } = harness
  const firstLine = logs.length
  const runsBefore = runs.handler
  const inject = (url: string) => app.inject({
    method: request.method,
    url,
    headers: request.headers,
    cookies: request.cookies,
    ...(request.payload === undefined ? {} : { payload: request.payload })
  })
  const response = await inject(request.url)
  const publicResponse = await inject(request.publicUrl)

  if (outcome === 'R403-csrf') {
    // The CSRF check runs while the identity is resolved (onRequest), on every route: a public
    // route that the same cookie would authenticate refuses the same request the same way.
    const expected = EXPECTED[outcome]
    for (const [where, answer] of [['protected', response], ['public', publicResponse]] as const) {
      t.equal(answer.statusCode, expected.status, `${name}: status ${expected.status} (${where} route)`)
      t.equal(answer.headers['www-authenticate'], expected.challenge, `${name}: no WWW-Authenticate (${where} route)`)
      t.strictSame(answer.json(), expected.body, `${name}: generic body (${where} route)`)
      t.equal(answer.headers['set-cookie'], undefined, `${name}: no Set-Cookie (${where} route)`)
      assertNoEcho(t, answer, request, name)
    }
    t.equal(runs.handler, runsBefore, `${name}: the handler did not run`)
    const lines = logs.slice(firstLine)
    assertCleanLogs(t, lines, request, harness.config, name, false)
    t.ok(lines.some((line) => line.includes('"msg":"CSRF check failed"')), `${name}: the CSRF refusal is logged`)
    await expectGenuineWorks(t, harness, name)
    return null
  }

  const publicBody = publicResponse.json() as { anonymous: boolean, userid: string | null, authFailure: AuthFailure | null }
  const failure = publicBody.authFailure
  t.equal(publicResponse.statusCode, 200, `${name}: a public route never refuses`)

  if (outcome === 'OK') {
    t.equal(response.statusCode, 200, `${name}: accepted`)
    t.strictSame(response.json(), { userid }, `${name}: the handler ran for ${userid}`)
    t.equal(runs.handler, runsBefore + 1, `${name}: the handler ran once`)
    t.equal(publicBody.anonymous, false, `${name}: identified on the public route`)
    t.equal(failure, null, `${name}: no authFailure`)
    const issued: string[] = []
    if (checks.setCookie !== undefined) {
      for (const [where, answer] of [['protected', response], ['public', publicResponse]] as const) {
        const cookies = setCookieList(answer)
        issued.push(...cookies)
        if (typeof checks.setCookie === 'function') checks.setCookie(cookies, where)
        else t.strictSame(cookies, checks.setCookie, `${name}: Set-Cookie on the ${where} route`)
      }
    }
    if (checks.cleanLogs === true) {
      // Neither the presented token nor a reissued one may reach the logs.
      assertCleanLogs(t, logs.slice(firstLine), request, harness.config, name, false, issued.map((cookie) => cookie.slice(cookie.indexOf('=') + 1).split(';')[0] as string))
    }
    return failure
  }

  const expected = EXPECTED[outcome]
  t.equal(response.statusCode, expected.status, `${name}: status ${expected.status}`)
  t.equal(response.headers['www-authenticate'], expected.challenge, `${name}: WWW-Authenticate`)
  t.strictSame(response.json(), expected.body, `${name}: generic body`)
  t.equal(runs.handler, runsBefore, `${name}: the handler did not run`)
  t.equal(response.headers['set-cookie'], undefined, `${name}: no Set-Cookie`)
  t.equal(publicResponse.headers['set-cookie'], undefined, `${name}: no Set-Cookie on the public route`)
  assertNoEcho(t, response, request, name)

  if (outcome === 'R403') {
    t.equal(publicBody.anonymous, false, `${name}: the identity is valid`)
    t.equal(failure, null, `${name}: no authFailure`)
  } else {
    t.equal(publicBody.anonymous, true, `${name}: anonymous on the public route (request.identity === null)`)
    t.equal(publicBody.userid, null, `${name}: no userid on the public route`)
    if (outcome === 'R401-bare') {
      t.equal(failure, null, `${name}: no credential, no authFailure`)
    } else if (outcome === 'R400') {
      t.equal(failure?.error, 'invalid_request', `${name}: authFailure invalid_request`)
    } else {
      t.equal(failure?.error, 'invalid_token', `${name}: authFailure invalid_token`)
      if (outcome === 'R401-expired') t.equal(failure?.reason, 'token_expired', `${name}: reason token_expired`)
      else t.not(failure?.reason, 'token_expired', `${name}: not an expiry`)
    }
  }

  const lines = logs.slice(firstLine)
  assertCleanLogs(t, lines, request, harness.config, name, outcome !== 'R403')
  if (failure !== null) {
    t.ok(lines.some((line) => line.includes('"msg":"credential rejected"') && line.includes(`"reason":"${failure.reason}"`)),
      `${name}: the reason ${failure.reason} is logged`)
  }
  await expectGenuineWorks(t, harness, name)
  return failure
}

/** Extra checks of {@link expectOutcome} for an accepted request (refusals always assert no Set-Cookie and clean logs). */
export interface OutcomeChecks {
  /**
   * The Set-Cookie values the protected and the public responses must each carry, exactly (`[]`:
   * none), or a function that checks them. Default: not checked.
   */
  setCookie?: readonly string[] | ((cookies: string[], route: 'protected' | 'public') => void)
  /** Also assert that the logs hold no token (presented or reissued), Authorization or Cookie value, or secret. */
  cleanLogs?: boolean
}

/** The Set-Cookie values of a response, as an array. */
export function setCookieList (response: LightMyRequestResponse): string[] {
  const value = response.headers['set-cookie']
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

/**
 * Asserts that the log lines from `from` on hold none of `values` (8 characters or more), nor the
 * configuration's secret: for requests made outside {@link expectOutcome}.
 */
export function expectCleanLogs (t: Test, harness: Harness, from: number, values: readonly string[], name: string): void {
  const forbidden = new Set<string>(harness.config.secretForms)
  for (const value of values) if (value.length >= 8) forbidden.add(value)
  const lines = harness.logs.slice(from)
  const leaked = [...forbidden].filter((value) => lines.some((line) => line.includes(value) || line.includes(JSON.stringify(value).slice(1, -1))))
  t.strictSame(leaked.map((value) => value.slice(0, 24)), [], `${name}: no token, header, claim value or secret in the logs`)
}

function assertNoEcho (t: Test, response: LightMyRequestResponse, request: NormalAttempt, name: string): void {
  const exposed = `${response.body}\n${response.headers['www-authenticate'] ?? ''}`
  const echoed = echoCandidates(request.token).filter((value) => exposed.includes(value))
  t.strictSame(echoed, [], `${name}: no token or claim value echoed`)
  const { message, error } = response.json() as { message?: unknown, error?: unknown }
  t.notMatch(`${String(message)} ${String(error)} ${response.headers['www-authenticate'] ?? ''}`, LIBRARY_TEXT, `${name}: no library message`)
  const challenge = response.headers['www-authenticate']
  if (typeof challenge === 'string') {
    for (const quoted of challenge.match(/"[^"]*"/g) ?? []) {
      t.match(quoted.slice(1, -1), /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/, `${name}: RFC 6750 characters in the challenge`)
    }
  }
}

function assertCleanLogs (t: Test, lines: string[], request: NormalAttempt, config: Config, name: string, claimValues: boolean, extra: readonly string[] = []): void {
  const forbidden = new Set<string>(config.secretForms)
  for (const value of extra) if (value.length >= 8) forbidden.add(value)
  for (const field of ['authorization', 'cookie']) {
    const value = request.headers[field]
    if (value !== undefined && value.length >= 8) forbidden.add(value)
  }
  for (const value of Object.values(request.cookies)) if (value.length >= 8) forbidden.add(value)
  if (request.token !== undefined && request.token.length >= 8) forbidden.add(request.token)
  if (claimValues) {
    // G3: the debug line names the refused token's alg, kid, typ and iss; every other value stays out.
    const described = describedInLogs(request.token)
    for (const value of echoCandidates(request.token)) if (!described.has(value)) forbidden.add(value)
  }
  // pino escapes control characters: compare against the JSON-escaped forms too.
  const leaked = [...forbidden].filter((value) => lines.some((line) => line.includes(value) || line.includes(JSON.stringify(value).slice(1, -1))))
  t.strictSame(leaked.map((value) => value.slice(0, 24)), [], `${name}: no token, header, claim value or secret in the logs`)
}

function describedInLogs (token: string | undefined): Set<string> {
  const described = new Set<string>()
  const [header, payload] = (token ?? '').split('.')
  const add = (part: string | undefined, names: string[]): void => {
    try {
      const json = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
      for (const name of names) if (typeof json[name] === 'string') described.add(json[name] as string)
    } catch {}
  }
  add(header, ['alg', 'kid', 'typ'])
  add(payload, ['iss'])
  return described
}

/** Invariant 3: the genuine token still works. */
export async function expectGenuineWorks (t: Test, harness: Harness, name: string): Promise<void> {
  await harness.beforeGenuine?.()
  const response = await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${harness.genuine}` } })
  t.equal(response.statusCode, 200, `${name}: the genuine token still works afterwards`)
  if (harness.genuineCookie !== undefined) {
    const session = await harness.app.inject({ url: '/protected', cookies: { [SESSION_COOKIE]: harness.genuineCookie() } })
    t.equal(session.statusCode, 200, `${name}: a genuine session cookie still works afterwards`)
  }
}

/**
 * CFG: registering the plugin with `options` makes `ready()` reject with `code`, and a message
 * that names the option (`message`).
 */
export async function expectCfg (t: Test, options: Partial<JwtSecurityOptions>, code: string, message: RegExp, name: string): Promise<void> {
  const app = Fastify()
  app.register(jwtSecurity, options as JwtSecurityOptions)
  let error: Error & { code?: string }
  try {
    error = await rejected(app.ready())
  } catch {
    t.fail(`${name}: the configuration was accepted`)
    await app.close()
    return
  }
  t.equal(error.code, code, `${name}: refused at register with ${code}`)
  t.match(error.message, message, `${name}: the message names the problem`)
}

// ---------------------------------------------------------------------------------------------
// Instrumentation and real servers
// ---------------------------------------------------------------------------------------------

/** How many times the methods `[target, name]` were called, together, while `fn` ran; they are restored afterwards. */
export async function countCalls (methods: Array<[object, string]>, fn: () => Promise<unknown>): Promise<number> {
  let count = 0
  const restore: Array<() => void> = []
  for (const [target, name] of methods) {
    const record = target as Record<string, unknown>
    const own = Object.prototype.hasOwnProperty.call(target, name)
    const original = record[name] as (...args: unknown[]) => unknown
    Object.defineProperty(target, name, {
      configurable: true,
      writable: true,
      value: function (this: unknown, ...args: unknown[]) {
        count++
        return original.apply(this, args)
      }
    })
    restore.push(() => {
      if (own) Object.defineProperty(target, name, { configurable: true, writable: true, value: original })
      else delete record[name]
    })
  }
  try {
    await fn()
  } finally {
    for (const undo of restore.reverse()) undo()
  }
  return count
}

/** The work done for one request to /protected: JSON.parse calls and signature verifications (crypto.subtle.verify). */
export async function workFor (harness: Harness, authorization: string, cookies: Record<string, string> = {}): Promise<{ parses: number, verifies: number }> {
  let verifies = 0
  const parses = await countCalls([[JSON, 'parse']], async () => {
    verifies = await countCalls([[globalThis.crypto.subtle, 'verify']], () => harness.app.inject({ url: '/protected', headers: { authorization }, cookies }))
  })
  return { parses, verifies }
}

/** A header policy that counts its identity() calls: the default transport, observable. */
export class CountingHeaderPolicy extends JwtHeaderPolicy {
  calls = 0

  override identity (request: FastifyRequest) {
    this.calls++
    return super.identity(request)
  }
}

/** Listens on 127.0.0.1, port 0; the app is closed at teardown by its harness. */
export async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as AddressInfo).port
}

/** A GET over a real connection with the given headers (name, value, name, value…); the status and the raw response. */
export async function httpGet (port: number, path: string, rawHeaders: string[]): Promise<{ status: number, response: string }> {
  const lines = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close']
  for (let index = 0; index < rawHeaders.length; index += 2) lines.push(`${rawHeaders[index] as string}: ${rawHeaders[index + 1] as string}`)
  const response = await rawHttp(port, `${lines.join('\r\n')}\r\n\r\n`)
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(response)?.[1] ?? 0), response }
}

/**
 * Sends raw request bytes (with `Connection: close`) over a socket and returns the raw response
 * text. Not end(): Node's server drops a half-closed request before an async answer is ready. A
 * reset after the answer (the server closes while the client still writes) is not an error.
 */
export async function rawHttp (port: number, bytes: string): Promise<string> {
  return await new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => { socket.write(bytes, 'latin1') })
    socket.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    socket.on('error', () => {})
    socket.on('close', () => { resolve(Buffer.concat(chunks).toString('latin1')) })
  })
}
