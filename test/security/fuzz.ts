// Property-based fuzzing of the request path through app.inject, with fast-check.
//
// Three apps are built once and reused by every run: `default` ({ secret }, HS512), `strict` (HS256,
// issuer, audience, typ, leeway 30, maxTokenAge 1 h, maxTokenLength 8192) and `chain` (a PolicyChain
// of the header policy and the cookie policy), each with the clock frozen at NOW_MS (the plugin's
// `now` option, as in the catalogue tests). Each app mints a pool of genuine tokens at start-up.
// Every run sends one request (GET /protected or GET /public) built from random header values,
// random cookies, or mutations of the genuine tokens, and checks every invariant below. A run that
// breaks one throws, and fast-check shrinks it to a counterexample.
//
// The invariants, for every run:
// - I1 no status >= 500; /protected answers 200, 400, 401 or 403, /public answers 200;
// - I2 authenticated only when the presented token is, as a string, a genuine token of that app
//   (for the one property that signs odd payloads with the app's own key, I2 becomes: never
//   authenticated when the documented claim rules refuse the payload; see documentedRefusal);
// - I3 the identity (request.authenticatedUserid, returned by both routes) is the sub of that token;
// - I4 the body is one of the fixed bodies of docs/errors.md (or the route's own { userid }), and
//   holds no 8-character substring of the request's credentials, nor any header or payload JSON
//   value of 6 characters or more decoded from them;
// - I5 no unhandledRejection or uncaughtException while the run was in flight;
// - I6 WWW-Authenticate is one of the fixed challenges on a 400 or 401 of /protected, absent
//   otherwise, and its quoted strings hold only RFC 6750 characters (%x20-21 / %x23-5B / %x5D-7E);
// - I7 no Set-Cookie (no route logs anyone in, and the cookie policy does not reissue).
//
// Replays are deterministic in their choices (the seed drives every mutation, and the secrets are
// derived from the seed), but each token carries a random jti, so the exact bytes differ between
// processes: a failure report prints the literal request as well as fast-check's seed and path.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import fc from 'fast-check'
import jwtSecurity, { Authenticated, JwtCookiePolicy, JwtHeaderPolicy, PolicyChain, type JwtSecurityOptions } from '../../lib/index.js'
import { AUDIENCE, b64u, CHALLENGE, EXPECTED, ISSUER, LEEWAY, NOW_MS, SESSION_COOKIE, signatureBytes } from './helpers.js'

// ---------------------------------------------------------------------------------------------
// The apps
// ---------------------------------------------------------------------------------------------

export type AppName = 'default' | 'strict' | 'chain'
export const APP_NAMES: readonly AppName[] = ['default', 'strict', 'chain']

export interface FuzzApp {
  readonly name: AppName
  readonly app: FastifyInstance
  readonly secret: Buffer
  /** The one algorithm the app accepts. */
  readonly alg: 'HS256' | 'HS512'
  /** True when the app reads the session cookie (the chain). */
  readonly cookie: boolean
  /** Every token the app minted, in minting order. */
  readonly tokens: readonly string[]
  /** Token → its sub, for the tokens the app minted. */
  readonly genuine: ReadonlyMap<string, string>
}

export interface FuzzFixture {
  readonly seed: number
  readonly apps: Readonly<Record<AppName, FuzzApp>>
  /** Every response body a correct app may send: the fixed error bodies and `{ userid }` for each genuine sub. */
  readonly vocabulary: readonly string[]
  /** unhandledRejection and uncaughtException events seen since the fixture was created. */
  readonly crashes: string[]
  /** Counts: requests, authenticated runs (the genuine path is exercised), statuses, and `request.authFailure` reasons (how deep the inputs went). */
  readonly stats: FuzzStats
  close (): Promise<void>
}

export interface FuzzStats {
  requests: number
  authenticated: number
  byStatus: Record<number, number>
  reasons: Record<string, number>
}

export interface FuzzOptions {
  /** How many runs this property makes. */
  readonly runs: number
  /** fast-check's seed. */
  readonly seed: number
}

export interface PropertyOutcome {
  readonly name: string
  readonly runs: number
  readonly failed: boolean
  /** fast-check's seed, path and shrunk counterexample, and the violated invariants; empty when it passed. */
  readonly report: string
}

/** A secret derived from the seed, of `bytes` bytes, that the plugin accepts (no `{`, PEM or ssh- prefix). */
function derivedSecret (label: string, seed: number, bytes: number): Buffer {
  for (let counter = 0; ; counter++) {
    const secret = createHash('sha512').update(`fuzz:${label}:${seed}:${counter}`).digest().subarray(0, bytes)
    if (!/^(\{|-----BEGIN|ssh-)/.test(secret.toString('latin1').trimStart()) && new Set(secret).size >= 10) return Buffer.from(secret)
  }
}

/** The subs and extra claims of the genuine tokens; the sub 42 is minted as a number. */
const MINTED: ReadonlyArray<[string | number, Record<string, unknown>]> = [
  ['alice', { roles: ['view'] }],
  ['bob', {}],
  [42, { permissions: ['edit', 'view'] }],
  ['ünïcødé ✓ 😀', { profile: { name: 'Ada', tags: ['a', 'b'] } }],
  ['user:0123456789abcdef', { note: 'a "quoted" \\ value' }],
  ['x'.repeat(1024), { roles: ['admin'] }]
]

const protectedHandler = async (request: FastifyRequest) => ({ userid: request.authenticatedUserid })

async function buildApp (name: AppName, seed: number, stats: FuzzStats): Promise<FuzzApp> {
  const strict = name === 'strict'
  const secret = derivedSecret(name, seed, strict ? 32 : 64)
  const options: JwtSecurityOptions = strict
    ? { secret, algorithm: 'HS256', issuer: ISSUER, audience: AUDIENCE, typ: 'JWT', leeway: LEEWAY, maxTokenAge: '1h', maxTokenLength: 8192, expiresIn: '15m' }
    : name === 'chain'
      ? { secret, policy: new PolicyChain([new JwtHeaderPolicy(), new JwtCookiePolicy({ secure: true })]) }
      : { secret }
  const app = Fastify()
  await app.register(jwtSecurity, { ...options, now: () => NOW_MS })
  app.addHook('onResponse', async (request) => {
    const reason = request.authFailure?.reason ?? (request.isAuthenticated ? 'authenticated' : 'no credential')
    stats.reasons[reason] = (stats.reasons[reason] ?? 0) + 1
  })
  app.get('/protected', { config: { permission: Authenticated } }, protectedHandler)
  app.get('/public', protectedHandler)
  if (name === 'chain') {
    app.post('/login', async (request, reply) => {
      const { userid, claims } = request.body as { userid: string, claims: Record<string, unknown> }
      await reply.remember(userid, claims)
      return { ok: true }
    })
  }
  await app.ready()
  const tokens: string[] = []
  const genuine = new Map<string, string>()
  for (const [sub, claims] of MINTED) {
    const token = await app.createJwtToken(sub, claims)
    tokens.push(token)
    genuine.set(token, String(sub))
  }
  if (name === 'chain') {
    // Session cookies minted by reply.remember(): they carry auth_time and csrf.
    for (const userid of ['carol', 'dave-the-cookie-user']) {
      const response = await app.inject({ method: 'POST', url: '/login', payload: { userid, claims: { roles: ['view'] } } })
      const token = response.cookies.find((cookie) => cookie.name === SESSION_COOKIE)?.value
      if (token === undefined) throw new Error('the chain app set no session cookie')
      tokens.push(token)
      genuine.set(token, userid)
    }
  }
  return { name, app, secret, alg: strict ? 'HS256' : 'HS512', cookie: name === 'chain', tokens, genuine }
}

/** Builds the three apps, mints their genuine tokens, and listens for unhandled rejections and exceptions until close(). */
export async function createFuzzFixture (seed: number): Promise<FuzzFixture> {
  const crashes: string[] = []
  const onRejection = (reason: unknown) => { crashes.push(`unhandledRejection: ${describeError(reason)}`) }
  const onException = (error: unknown) => { crashes.push(`uncaughtException: ${describeError(error)}`) }
  process.on('unhandledRejection', onRejection)
  process.on('uncaughtException', onException)
  const stats: FuzzStats = { requests: 0, authenticated: 0, byStatus: {}, reasons: {} }
  const built: FuzzApp[] = []
  try {
    for (const name of APP_NAMES) built.push(await buildApp(name, seed, stats))
  } catch (error) {
    await Promise.all(built.map((entry) => entry.app.close()))
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
    throw error
  }
  const apps = Object.fromEntries(built.map((entry) => [entry.name, entry])) as Record<AppName, FuzzApp>
  const vocabulary = new Set<string>(Object.values(EXPECTED).map((expected) => JSON.stringify(expected.body)))
  vocabulary.add(JSON.stringify({ userid: null }))
  for (const entry of built) for (const sub of entry.genuine.values()) vocabulary.add(JSON.stringify({ userid: sub }))
  for (const challenge of Object.values(CHALLENGE)) vocabulary.add(challenge)
  return {
    seed,
    apps,
    vocabulary: [...vocabulary],
    crashes,
    stats,
    async close () {
      await Promise.all(built.map((entry) => entry.app.close()))
      // Let a late rejection surface before the listeners go.
      await nextTurn()
      process.off('unhandledRejection', onRejection)
      process.off('uncaughtException', onException)
    }
  }
}

function describeError (error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error)
}

// ---------------------------------------------------------------------------------------------
// One request and its invariants
// ---------------------------------------------------------------------------------------------

/** What one run sends. */
export interface FuzzCase {
  readonly target: AppName
  readonly route: '/protected' | '/public'
  /** One Authorization header, or several (repeated headers). */
  readonly authorization?: string | readonly string[]
  readonly cookie?: string
  /** How the case was made, for the report. */
  readonly recipe: string
  /**
   * Only for tokens signed with the app's own key and algorithm (see {@link signedPayloadCases}):
   * the sub that JSON.parse reads from the payload, and why the documented rules must refuse the
   * token (null when they allow it). Such a token may then be accepted, as `sub`, instead of I2.
   */
  readonly forged?: { readonly sub: string | null, readonly refusal: string | null }
}

const FIXED_BODIES: Readonly<Record<number, readonly string[]>> = (() => {
  const bodies: Record<number, string[]> = {}
  for (const expected of Object.values(EXPECTED)) (bodies[expected.status] ??= []).push(JSON.stringify(expected.body))
  return bodies
})()
const CHALLENGES: ReadonlySet<string> = new Set(Object.values(CHALLENGE))
const RFC6750_QUOTED = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/
const CHALLENGE_SHAPE = /^Bearer realm="([^"]*)"(?:, error="([^"]*)", error_description="([^"]*)")?$/
const ECHO_WINDOW = 8
const ECHO_VALUE = 6

function authorizationValues (request: FuzzCase): readonly string[] {
  const { authorization } = request
  if (authorization === undefined) return []
  return typeof authorization === 'string' ? [authorization] : authorization
}

/**
 * The token an Authorization value presents: after the HTTP parser's trimming of spaces and tabs,
 * the scheme `Bearer` in any case, one or more spaces, then the token. Null for anything else.
 */
export function bearerToken (value: string): string | null {
  // Loops, not /[ \t]+$/: that regular expression is quadratic on a long run of spaces inside the value.
  let start = 0
  let end = value.length
  while (start < end && isOws(value.charCodeAt(start))) start++
  while (end > start && isOws(value.charCodeAt(end - 1))) end--
  if (end - start < 7 || value.slice(start, start + 6).toLowerCase() !== 'bearer' || value.charCodeAt(start + 6) !== 0x20) return null
  start += 7
  while (start < end && value.charCodeAt(start) === 0x20) start++
  return value.slice(start, end)
}

function isOws (code: number): boolean {
  return code === 0x20 || code === 0x09
}

/** The raw values of the session cookie in a Cookie header: the text between `<name>=` and the next `;`, not decoded. */
export function sessionCookieValues (cookie: string): string[] {
  const values: string[] = []
  for (const piece of cookie.split(';')) {
    const pair = piece.replace(/^[ \t]+/, '')
    if (pair.startsWith(`${SESSION_COOKIE}=`)) values.push(pair.slice(SESSION_COOKIE.length + 1))
  }
  return values
}

/** The subs the request may be authenticated as: those of the genuine tokens of `app` it presents, unaltered. */
export function allowedSubs (app: FuzzApp, request: FuzzCase): Set<string> {
  const subs = new Set<string>()
  for (const value of authorizationValues(request)) {
    const token = bearerToken(value)
    const sub = token === null ? undefined : app.genuine.get(token)
    if (sub !== undefined) subs.add(sub)
  }
  if (app.cookie && request.cookie !== undefined) {
    for (const value of sessionCookieValues(request.cookie)) {
      const sub = app.genuine.get(value)
      if (sub !== undefined) subs.add(sub)
    }
  }
  return subs
}

/** The request's credential texts: header values, presented tokens, cookie values, and their percent-decoded forms. */
function inputTexts (request: FuzzCase): string[] {
  const texts = new Set<string>()
  const add = (text: string): void => {
    texts.add(text)
    try {
      texts.add(decodeURIComponent(text))
    } catch {}
  }
  for (const value of authorizationValues(request)) {
    add(value)
    const token = bearerToken(value)
    if (token !== null) add(token)
  }
  if (request.cookie !== undefined) {
    add(request.cookie)
    for (const piece of request.cookie.split(';')) add(piece.slice(piece.indexOf('=') + 1))
  }
  return [...texts]
}

/** String and number values (6+ characters) of every JSON object or array that a base64url run of the texts decodes to. */
function decodedValues (texts: readonly string[]): Set<string> {
  const values = new Set<string>()
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === 'string') {
      if (value.length >= ECHO_VALUE) values.add(value)
    } else if (typeof value === 'number') {
      const text = String(value)
      if (text.length >= ECHO_VALUE) values.add(text)
    } else if (typeof value === 'object' && value !== null && depth < 64) {
      for (const item of Object.values(value)) visit(item, depth + 1)
    }
  }
  for (const text of texts) {
    for (const run of text.match(/[A-Za-z0-9_-]{4,}/g) ?? []) {
      const decoded = Buffer.from(run, 'base64url').toString('utf8')
      if (!/^\s*[[{]/.test(decoded)) continue
      try {
        visit(JSON.parse(decoded), 0)
      } catch {}
    }
  }
  return values
}

/** The input bytes an exposed text echoes: its 8-character windows found in the input, unless they belong to a fixed text. */
function echoes (exposed: string, texts: readonly string[], values: ReadonlySet<string>, vocabulary: readonly string[]): string[] {
  const found = new Set<string>()
  for (let index = 0; index + ECHO_WINDOW <= exposed.length; index++) {
    const window = exposed.slice(index, index + ECHO_WINDOW)
    if (vocabulary.some((text) => text.includes(window))) continue
    if (texts.some((text) => text.includes(window))) found.add(window)
  }
  for (const value of values) {
    if (exposed.includes(value) && !vocabulary.some((text) => text.includes(value))) found.add(value)
  }
  return [...found]
}

function clip (value: unknown, max = 600): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value)
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`
}

/** Sends `request` to its app and throws an Error listing every invariant it breaks. */
export async function exercise (fixture: FuzzFixture, request: FuzzCase): Promise<void> {
  const app = fixture.apps[request.target]
  const headers: Record<string, string | string[]> = {}
  if (request.authorization !== undefined) headers.authorization = typeof request.authorization === 'string' ? request.authorization : [...request.authorization]
  if (request.cookie !== undefined) headers.cookie = request.cookie
  const crashesBefore = fixture.crashes.length
  const violations: string[] = []
  let status = 0
  let body = ''
  let challenge: unknown
  let setCookie: unknown
  try {
    const response = await app.app.inject({ method: 'GET', url: request.route, headers })
    status = response.statusCode
    body = response.body
    challenge = response.headers['www-authenticate']
    setCookie = response.headers['set-cookie']
  } catch (error) {
    violations.push(`I1 app.inject rejected: ${describeError(error)}`)
  }
  // A rejection nobody handles is reported after the microtasks of the request: give it a turn.
  await nextTurn()
  fixture.stats.requests++
  fixture.stats.byStatus[status] = (fixture.stats.byStatus[status] ?? 0) + 1

  if (fixture.crashes.length > crashesBefore) violations.push(`I5 ${fixture.crashes.slice(crashesBefore).join('; ')}`)
  if (status >= 500) violations.push(`I1 status ${status}`)
  const statuses = request.route === '/protected' ? [200, 400, 401, 403] : [200]
  if (status !== 0 && !statuses.includes(status)) violations.push(`I1 status ${status} on ${request.route}`)

  let userid: unknown = null
  if (status === 200) {
    try {
      userid = (JSON.parse(body) as { userid?: unknown }).userid ?? null
    } catch {
      violations.push('I4 a 200 body that is not JSON')
    }
  }
  const allowed = allowedSubs(app, request)
  const { forged } = request
  let vocabulary = fixture.vocabulary
  if (forged !== undefined && forged.refusal === null && forged.sub !== null) {
    allowed.add(forged.sub)
    vocabulary = [...vocabulary, JSON.stringify({ userid: forged.sub })]
  }
  if (userid !== null) {
    fixture.stats.authenticated++
    if (forged?.refusal != null && allowed.size === 0) violations.push(`I2 accepted a token signed with the app's key although ${forged.refusal}`)
    else if (allowed.size === 0) violations.push(`I2 authenticated as ${clip(userid)} without presenting a genuine token of the ${app.name} app`)
    else if (typeof userid !== 'string' || !allowed.has(userid)) violations.push(`I3 authenticated as ${clip(userid)}, not as ${clip([...allowed])}`)
  }
  if (request.route === '/protected' && status === 200 && userid === null) violations.push('I2 /protected answered 200 to an anonymous request')

  // I4: the body.
  if (status === 200) {
    if (body !== JSON.stringify({ userid })) violations.push(`I4 unexpected 200 body ${clip(body)}`)
  } else if (status !== 0 && !(FIXED_BODIES[status] ?? []).includes(body)) {
    violations.push(`I4 body is not a fixed text of status ${status}: ${clip(body)}`)
  }
  const texts = inputTexts(request)
  const values = decodedValues(texts)
  const echoedInBody = echoes(body, texts, values, vocabulary)
  if (echoedInBody.length > 0) violations.push(`I4 the body echoes the input: ${clip(echoedInBody.slice(0, 5))}`)

  // I6: the challenge.
  const wantsChallenge = request.route === '/protected' && (status === 400 || status === 401)
  if (challenge === undefined) {
    if (wantsChallenge) violations.push(`I6 no WWW-Authenticate on a ${status}`)
  } else if (typeof challenge !== 'string') {
    violations.push(`I6 WWW-Authenticate is not one string: ${clip(challenge)}`)
  } else {
    if (!wantsChallenge) violations.push(`I6 WWW-Authenticate on a ${status} of ${request.route}`)
    const shape = CHALLENGE_SHAPE.exec(challenge)
    const quoted = shape === null ? [] : shape.slice(1).filter((part): part is string => part !== undefined)
    if (shape === null || !quoted.every((part) => RFC6750_QUOTED.test(part))) violations.push(`I6 WWW-Authenticate outside RFC 6750: ${clip(challenge)}`)
    if (!CHALLENGES.has(challenge)) violations.push(`I6 WWW-Authenticate is not a fixed challenge: ${clip(challenge)}`)
    const echoedInChallenge = echoes(challenge, texts, values, vocabulary)
    if (echoedInChallenge.length > 0) violations.push(`I4 WWW-Authenticate echoes the input: ${clip(echoedInChallenge.slice(0, 5))}`)
  }
  if (setCookie !== undefined) violations.push(`I7 Set-Cookie ${clip(setCookie)}`)

  if (violations.length > 0) {
    throw new Error([
      `app ${request.target} (${app.alg}${app.cookie ? ', header + cookie chain' : ''}), GET ${request.route}`,
      `recipe: ${request.recipe}`,
      `authorization: ${request.authorization === undefined ? '(none)' : clip(request.authorization, 2000)}`,
      `cookie: ${request.cookie === undefined ? '(none)' : clip(request.cookie, 2000)}`,
      ...(forged === undefined ? [] : [`signed with the app's own key; model: sub ${clip(forged.sub)}, ${forged.refusal === null ? 'may be accepted' : `must be refused: ${forged.refusal}`}`]),
      `observed: status ${status}, WWW-Authenticate ${clip(challenge)}, body ${clip(body, 2000)}`,
      ...violations.map((violation) => `violated ${violation}`)
    ].join('\n'))
  }
}

// ---------------------------------------------------------------------------------------------
// Token mutations
// ---------------------------------------------------------------------------------------------

/** One edit of a token's text. Positions and indices are taken modulo the token's size. */
export type TokenMutation =
  | { kind: 'bitflip', segment: number, bit: number }
  | { kind: 'charflip', position: number, bit: number }
  | { kind: 'replace', position: number, text: string }
  | { kind: 'insert', position: number, text: string }
  | { kind: 'delete', position: number, count: number }
  | { kind: 'case', position: number }
  | { kind: 'truncate', keep: number }
  | { kind: 'swap', a: number, b: number }
  | { kind: 'duplicate', segment: number, at: number }
  | { kind: 'drop', segment: number }
  | { kind: 'extra', at: number, text: string }
  | { kind: 'pad', segment: number, text: string }
  | { kind: 'concat', separator: string }
  | { kind: 'grow', length: number, how: 'signature' | 'payload' | 'header' | 'repeat' | 'spaces' }

/** Where a token comes from: the target's own pool (`own`) or another app's, and which one. */
export interface TokenSource {
  readonly from: 'own' | AppName
  readonly index: number
}

const WHITESPACE = [' ', '\t', '\n', '\r', '\r\n', '\v', '\f', '\u00a0', '\u1680', '\u2028', '\u2029', '\u200b', '\u3000', '\ufeff']
const ODD_CHARS = ['=', '==', '%3D', '.', '..', '+', '/', '"', "'", ',', ';', '\\', '\u0000', '%', '%00', '\ud800', '\udfff', 'é', '😀', 'Ａ', '\u0301']
const LENGTHS = [8191, 8192, 8193, 8194, 8195, 8196, 16384, 65536, 65537]

const textArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...WHITESPACE) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_CHARS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 4 }) }
)

const lengthArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...LENGTHS) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 100_000 }) }
)

export const tokenMutationArb: fc.Arbitrary<TokenMutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('bitflip' as const), segment: fc.nat(2), bit: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('charflip' as const), position: fc.nat(), bit: fc.oneof(fc.nat(6), fc.nat(15)) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('replace' as const), position: fc.nat(), text: textArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('insert' as const), position: fc.nat(), text: textArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), position: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('case' as const), position: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('swap' as const), a: fc.nat(3), b: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), segment: fc.nat(3), at: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), segment: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('extra' as const), at: fc.nat(4), text: fc.oneof(fc.constant(''), fc.base64String({ maxLength: 12 }), textArb) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pad' as const), segment: fc.nat(3), text: fc.constantFrom('=', '==', '===', '%3D', '= ') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('concat' as const), separator: fc.constantFrom('', '.', ' ', ',', '..', '\t') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('grow' as const), length: lengthArb, how: fc.constantFrom('signature' as const, 'payload' as const, 'header' as const, 'repeat' as const, 'spaces' as const) }) }
)

export const tokenSourceArb: fc.Arbitrary<TokenSource> = fc.record({
  from: fc.oneof({ weight: 8, arbitrary: fc.constant('own' as const) }, { weight: 1, arbitrary: fc.constantFrom(...APP_NAMES) }),
  index: fc.nat()
})

/** The genuine token a source names, for requests to `target`. */
function sourceToken (fixture: FuzzFixture, target: AppName, source: TokenSource): string {
  const pool = fixture.apps[source.from === 'own' ? target : source.from].tokens
  return pool[source.index % pool.length] as string
}

function toggleCase (char: string): string {
  const upper = char.toUpperCase()
  return upper === char ? char.toLowerCase() : upper
}

/** Re-encodes the JSON text of a segment with a filler member of about `bytes` bytes. */
function withFiller (segment: string, bytes: number): string {
  const text = Buffer.from(segment, 'base64url').toString('utf8')
  const filler = `"fill":"${'f'.repeat(Math.max(0, bytes))}"`
  const grown = text.startsWith('{') ? `{${filler}${text.length > 2 ? ',' : ''}${text.slice(1)}` : `{${filler}}`
  return b64u(grown)
}

export function applyMutation (token: string, mutation: TokenMutation): string {
  const parts = token.split('.')
  const at = (position: number, extra = 0): number => position % (token.length + extra)
  switch (mutation.kind) {
    case 'bitflip': {
      const index = mutation.segment % parts.length
      const bytes = Buffer.from(parts[index] as string, 'base64url')
      if (bytes.length === 0) return token
      const bit = mutation.bit % (bytes.length * 8)
      bytes[bit >> 3] = (bytes[bit >> 3] as number) ^ (1 << (bit & 7))
      parts[index] = bytes.toString('base64url')
      return parts.join('.')
    }
    case 'charflip': {
      if (token.length === 0) return token
      const position = at(mutation.position)
      return token.slice(0, position) + String.fromCharCode(token.charCodeAt(position) ^ (1 << mutation.bit)) + token.slice(position + 1)
    }
    case 'replace': {
      if (token.length === 0) return mutation.text
      const position = at(mutation.position)
      return token.slice(0, position) + mutation.text + token.slice(position + 1)
    }
    case 'insert': {
      const position = at(mutation.position, 1)
      return token.slice(0, position) + mutation.text + token.slice(position)
    }
    case 'delete': {
      if (token.length === 0) return token
      const position = at(mutation.position)
      return token.slice(0, position) + token.slice(position + mutation.count)
    }
    case 'case': {
      if (token.length === 0) return token
      const position = at(mutation.position)
      return token.slice(0, position) + toggleCase(token.charAt(position)) + token.slice(position + 1)
    }
    case 'truncate':
      return token.slice(0, mutation.keep % (token.length + 1))
    case 'swap': {
      const a = mutation.a % parts.length
      const b = mutation.b % parts.length
      const first = parts[a] as string
      parts[a] = parts[b] as string
      parts[b] = first
      return parts.join('.')
    }
    case 'duplicate': {
      const segment = parts[mutation.segment % parts.length] as string
      parts.splice(mutation.at % (parts.length + 1), 0, segment)
      return parts.join('.')
    }
    case 'drop':
      parts.splice(mutation.segment % parts.length, 1)
      return parts.join('.')
    case 'extra':
      parts.splice(mutation.at % (parts.length + 1), 0, mutation.text)
      return parts.join('.')
    case 'pad': {
      const index = mutation.segment % parts.length
      parts[index] = `${parts[index] as string}${mutation.text}`
      return parts.join('.')
    }
    case 'concat':
      return `${token}${mutation.separator}${token}`
    case 'grow': {
      const missing = mutation.length - token.length
      switch (mutation.how) {
        case 'signature': return missing <= 0 ? token.slice(0, mutation.length) : token + 'A'.repeat(missing)
        case 'spaces': return missing <= 0 ? token : token + ' \t'.repeat(Math.ceil(missing / 2)).slice(0, missing)
        case 'repeat': return `${token}.`.repeat(Math.ceil(mutation.length / (token.length + 1))).slice(0, mutation.length)
        case 'payload':
        case 'header': {
          const index = mutation.how === 'header' ? 0 : Math.min(1, parts.length - 1)
          parts[index] = withFiller(parts[index] as string, Math.floor(missing * 3 / 4))
          return parts.join('.')
        }
      }
    }
  }
}

export interface MutatedToken {
  readonly source: TokenSource
  readonly mutations: readonly TokenMutation[]
}

export const mutatedTokenArb: fc.Arbitrary<MutatedToken> = fc.record({
  source: tokenSourceArb,
  mutations: fc.array(tokenMutationArb, { minLength: 0, maxLength: 3 })
})

function buildMutated (fixture: FuzzFixture, target: AppName, recipe: MutatedToken): string {
  let token = sourceToken(fixture, target, recipe.source)
  for (const mutation of recipe.mutations) token = applyMutation(token, mutation)
  return token
}

function describeMutated (recipe: MutatedToken): string {
  return `token ${recipe.source.from}[${recipe.source.index}] ${recipe.mutations.length === 0 ? 'unaltered' : JSON.stringify(recipe.mutations)}`
}

// ---------------------------------------------------------------------------------------------
// JSON-level mutations of the header and payload, and re-signing
// ---------------------------------------------------------------------------------------------

/** Raw JSON texts of odd values: types, numbers JSON.parse bends (1e999, -0), escapes, and some that are not JSON at all. */
const RAW_VALUES = [
  '1e999', '-1e999', '-0', '-0.0', '0e0', '1E400', '1800000000', '1800000000.5', '"1800000000"', '9007199254740993', '1e21',
  '253402300799', '253402300800', '-1', '0.5', 'null', 'true', 'false', '[]', '{}', '[1800000000]', '["alice"]', '[["api"]]',
  '{"sub":"mallory"}', '{"__proto__":{"admin":true}}', '"alice"', '"mallory"', '"\\u0061lice"', '"al\\u0000ice"', '"\\ud800"',
  '"system.Everyone"', '"system.Authenticated"', '""', '" "', `"${'x'.repeat(1025)}"`, '"HS256"', '"HS512"', '"none"', '"api"',
  '"https://auth.example"', '["api","other"]', '"JWT"', '"jwt"', '["exp"]', '["b64"]', 'NaN', 'Infinity', 'undefined', "'x'",
  '01', '.5', '+1', '0x10', '"\\x41"', '"unterminated', `"${'y'.repeat(4000)}"`, `"${'z'.repeat(6200)}"`, '{"a":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}'
]
/** Raw JSON keys: claim and header names, escaped spellings, prototype names. */
const RAW_KEYS = [
  '"sub"', '"\\u0073ub"', '"__proto__"', '"\\u005f_proto__"', '"constructor"', '"prototype"', '"exp"', '"iat"', '"nbf"', '"iss"',
  '"aud"', '"jti"', '"alg"', '"\\u0061lg"', '"typ"', '"kid"', '"crit"', '"b64"', '"jwk"', '"jku"', '"x5u"', '"roles"', '"permissions"',
  '"auth_time"', '"csrf"', '"toString"', '"hasOwnProperty"', '""', '"SUB"', '"sub "', '"s\\u0000ub"'
]
const CLAIM_NAMES = RAW_KEYS.map((key) => JSON.parse(key) as string)

const oddValueArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.constantFrom(...RAW_VALUES.filter(isJson).map((text) => JSON.parse(text) as unknown)) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer().map((value) => String(value)) }
)

function isJson (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

export type JsonEdit =
  | { kind: 'set', key: string, value: unknown }
  | { kind: 'delete', key: string }
  | { kind: 'member', key: string, value: string, where: 'start' | 'end' }
  | { kind: 'text', position: number, text: string }
  | { kind: 'wrap', how: 'array' | 'string' | 'nested' }
  | { kind: 'replace', value: unknown }

const jsonEditArb: fc.Arbitrary<JsonEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...CLAIM_NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }), value: oddValueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...CLAIM_NAMES) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('member' as const),
      key: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...RAW_KEYS) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }).map((key) => JSON.stringify(key)) }),
      value: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...RAW_VALUES) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value) ?? 'null') }),
      where: fc.constantFrom('start' as const, 'end' as const)
    })
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('text' as const), position: fc.nat(), text: fc.oneof(textArb, fc.constantFrom(',', ':', '}', '{', '"', '\\', '\\u', ',,', '/*x*/', '\ufeff')) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrap' as const), how: fc.constantFrom('array' as const, 'string' as const, 'nested' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('replace' as const), value: fc.jsonValue({ maxDepth: 3 }) }) }
)

function applyJsonEdit (text: string, edit: JsonEdit): string {
  switch (edit.kind) {
    case 'set':
    case 'delete': {
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        return text
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return text
      if (edit.kind === 'delete') {
        delete (value as Record<string, unknown>)[edit.key]
      } else {
        // defineProperty, so that "__proto__" becomes an own member rather than the prototype.
        Object.defineProperty(value, edit.key, { value: edit.value, enumerable: true, writable: true, configurable: true })
      }
      return JSON.stringify(value)
    }
    case 'member': {
      const member = `${edit.key}:${edit.value}`
      const open = text.indexOf('{')
      const close = text.lastIndexOf('}')
      if (open === -1 || close === -1 || close < open) return `{${member}}`
      const empty = text.slice(open + 1, close).trim() === ''
      return edit.where === 'start'
        ? `${text.slice(0, open + 1)}${member}${empty ? '' : ','}${text.slice(open + 1)}`
        : `${text.slice(0, close)}${empty ? '' : ','}${member}${text.slice(close)}`
    }
    case 'text': {
      const position = edit.position % (text.length + 1)
      return text.slice(0, position) + edit.text + text.slice(position)
    }
    case 'wrap':
      return edit.how === 'array' ? `[${text}]` : edit.how === 'string' ? JSON.stringify(text) : `{"payload":${text}}`
    case 'replace':
      return JSON.stringify(edit.value) ?? 'null'
  }
}

/** How the edited token is signed: never with the target's own key and algorithm together. */
export type Finish =
  | { kind: 'keep' }
  | { kind: 'random-key', key: Uint8Array, alg: string }
  | { kind: 'empty-key', alg: string }
  | { kind: 'app-key', app: AppName, alg: string }
  | { kind: 'asymmetric', alg: 'RS256' | 'ES256' | 'EdDSA' }
  | { kind: 'none', alg: string, signature: 'empty' | 'keep' | 'random' }

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const

const finishArb: fc.Arbitrary<Finish> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'keep' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('random-key' as const), key: fc.uint8Array({ maxLength: 80 }), alg: fc.constantFrom(...HMAC_ALGS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('empty-key' as const), alg: fc.constantFrom(...HMAC_ALGS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('app-key' as const), app: fc.constantFrom(...APP_NAMES), alg: fc.constantFrom(...HMAC_ALGS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('asymmetric' as const), alg: fc.constantFrom('RS256' as const, 'ES256' as const, 'EdDSA' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('none' as const),
      alg: fc.oneof(fc.constantFrom('none', 'None', 'NONE', 'nOnE', 'none ', ' none', 'none\u0000'), fc.mixedCase(fc.constant('none'))),
      signature: fc.constantFrom('empty' as const, 'keep' as const, 'random' as const)
    })
  }
)

const attackerKeys = new Map<string, KeyObject>()
function attackerKey (alg: 'RS256' | 'ES256' | 'EdDSA'): KeyObject {
  let key = attackerKeys.get(alg)
  if (key === undefined) {
    key = alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
      : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : generateKeyPairSync('ed25519').privateKey
    attackerKeys.set(alg, key)
  }
  return key
}

/** Sets the header's alg (when the header is a JSON object), leaving other edits in place. */
function withAlg (headerSegment: string, alg: string): string {
  return b64u(applyJsonEdit(Buffer.from(headerSegment, 'base64url').toString('utf8'), { kind: 'set', key: 'alg', value: alg }))
}

export interface ClaimsRecipe {
  readonly source: TokenSource
  /** 0: the header, 1: the payload, 2: both (the same edits). */
  readonly segment: 0 | 1 | 2
  readonly edits: readonly JsonEdit[]
  readonly finish: Finish
}

export const claimsRecipeArb: fc.Arbitrary<ClaimsRecipe> = fc.record({
  source: tokenSourceArb,
  segment: fc.constantFrom(0 as const, 1 as const, 1 as const, 2 as const),
  edits: fc.array(jsonEditArb, { minLength: 0, maxLength: 4 }),
  finish: finishArb
})

function buildClaimsToken (fixture: FuzzFixture, target: AppName, recipe: ClaimsRecipe): string {
  const token = sourceToken(fixture, target, recipe.source)
  const [h, p, s] = token.split('.') as [string, string, string]
  const edit = (segment: string): string => {
    let text = Buffer.from(segment, 'base64url').toString('utf8')
    for (const jsonEdit of recipe.edits) text = applyJsonEdit(text, jsonEdit)
    return b64u(text)
  }
  let header = recipe.segment === 1 ? h : edit(h)
  const payload = recipe.segment === 0 ? p : edit(p)
  const { finish } = recipe
  const own = fixture.apps[target]
  switch (finish.kind) {
    case 'keep':
      return `${header}.${payload}.${s}`
    case 'none': {
      header = withAlg(header, finish.alg)
      const signature = finish.signature === 'empty' ? '' : finish.signature === 'keep' ? s : b64u(createHash('sha256').update(header).digest())
      return `${header}.${payload}.${signature}`
    }
    case 'asymmetric': {
      header = withAlg(header, finish.alg)
      const input = `${header}.${payload}`
      return `${input}.${signatureBytes(finish.alg, attackerKey(finish.alg), input).toString('base64url')}`
    }
    default: {
      let key: Buffer
      let alg: string = finish.alg
      if (finish.kind === 'random-key') key = Buffer.from(finish.key)
      else if (finish.kind === 'empty-key') key = Buffer.alloc(0)
      else key = fixture.apps[finish.app].secret
      // Never the target's own secret with its own algorithm: that would mint a token, not forge one.
      if (key.equals(own.secret) && alg === own.alg) alg = own.alg === 'HS256' ? 'HS512' : 'HS256'
      header = withAlg(header, alg)
      const input = `${header}.${payload}`
      return `${input}.${signatureBytes(alg, key, input).toString('base64url')}`
    }
  }
}

function describeClaims (recipe: ClaimsRecipe): string {
  const finish = recipe.finish.kind === 'random-key'
    ? { ...recipe.finish, key: Buffer.from(recipe.finish.key).toString('hex') }
    : recipe.finish
  return `token ${recipe.source.from}[${recipe.source.index}], segment ${['header', 'payload', 'both'][recipe.segment] as string}, edits ${JSON.stringify(recipe.edits)}, finish ${JSON.stringify(finish)}`
}

// ---------------------------------------------------------------------------------------------
// Authorization header values
// ---------------------------------------------------------------------------------------------

const SCHEMES = [
  'Bearer', 'bearer', 'BEARER', 'bEaReR', 'Bearer:', 'BearerX', 'Bearer,', 'Bearer"', 'Bear', 'Bearerr', 'Basic', 'JWT', 'Token', 'Digest',
  '', 'B', 'Bearer\u0000', 'Ｂearer', 'Beaｒer', 'Bearer\u200b', 'bearer\u0131', 'BEARER\u017f', 'Bearer;', 'Bearer='
]
const SEPARATORS = ['', ' ', ' ', ' ', '  ', '   ', '\t', ' \t', '\t ', '\u00a0', '\n', '\r\n', '\r', ', ', ',', '=', ':', '\u0000', '\u3000', '\u2028', '\v', '\f']
const SUFFIXES = ['', '', '', '', ' ', '\t', ' extra', ',', ', Bearer x', '\u0000', '"', ' realm="x"', '\r\n', ';', '  ', '\n']
const PREFIXES = ['', '', '', '', ' ', '\t', '\u00a0', ',', '\ufeff']
const TOKENISH = ['', '.', '..', '...', 'a.b.c', 'null', 'undefined', '[object Object]', 'token="x"', '""', '%00', '__proto__', 'e30.e30.', 'e30.e30.e30', 'eyJhbGciOiJub25lIn0.e30.']

const b64urlishArb: fc.Arbitrary<string> = fc.array(
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''), '=', '+', '/'), maxLength: 40 }),
  { minLength: 1, maxLength: 5 }
).map((segments) => segments.join('.'))

/** A token part: a genuine token of some app (maybe mutated), random text, or near-JWT text. */
type TokenPart =
  | { kind: 'mutated', recipe: MutatedToken }
  | { kind: 'text', text: string }

const tokenPartArb: fc.Arbitrary<TokenPart> = fc.oneof(
  { weight: 4, arbitrary: mutatedTokenArb.map((recipe) => ({ kind: 'mutated' as const, recipe })) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }).map((text) => ({ kind: 'text' as const, text })) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 50 }).map((text) => ({ kind: 'text' as const, text })) },
  { weight: 2, arbitrary: b64urlishArb.map((text) => ({ kind: 'text' as const, text })) },
  { weight: 1, arbitrary: fc.constantFrom(...TOKENISH).map((text) => ({ kind: 'text' as const, text })) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'ABCxyz019-_.=+/ \t'.split('')), maxLength: 200 }).map((text) => ({ kind: 'text' as const, text })) }
)

interface HeaderRecipe {
  readonly shape: 'composed' | 'random'
  readonly prefix: string
  readonly scheme: string
  readonly separator: string
  readonly token: TokenPart
  readonly suffix: string
  readonly random: string
}

const headerRecipeArb: fc.Arbitrary<HeaderRecipe> = fc.record({
  shape: fc.oneof({ weight: 4, arbitrary: fc.constant('composed' as const) }, { weight: 1, arbitrary: fc.constant('random' as const) }),
  prefix: fc.constantFrom(...PREFIXES),
  scheme: fc.oneof(
    { weight: 6, arbitrary: fc.constant('Bearer') },
    { weight: 6, arbitrary: fc.constantFrom(...SCHEMES) },
    { weight: 2, arbitrary: fc.mixedCase(fc.constant('bearer')) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) }
  ),
  separator: fc.oneof({ weight: 3, arbitrary: fc.constant(' ') }, { weight: 2, arbitrary: fc.constantFrom(...SEPARATORS) }),
  token: tokenPartArb,
  suffix: fc.constantFrom(...SUFFIXES),
  random: fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'binary-ascii', maxLength: 100 }), fc.string({ maxLength: 100 }))
})

function buildHeader (fixture: FuzzFixture, target: AppName, recipe: HeaderRecipe): string {
  if (recipe.shape === 'random') return recipe.random
  const token = recipe.token.kind === 'text' ? recipe.token.text : buildMutated(fixture, target, recipe.token.recipe)
  return `${recipe.prefix}${recipe.scheme}${recipe.separator}${token}${recipe.suffix}`
}

function describeHeader (recipe: HeaderRecipe): string {
  if (recipe.shape === 'random') return 'random header'
  const token = recipe.token.kind === 'text' ? 'random token text' : describeMutated(recipe.token.recipe)
  return `header ${JSON.stringify(recipe.prefix)} + ${JSON.stringify(recipe.scheme)} + ${JSON.stringify(recipe.separator)} + ${token} + ${JSON.stringify(recipe.suffix)}`
}

const targetArb: fc.Arbitrary<AppName> = fc.constantFrom(...APP_NAMES)
const routeArb: fc.Arbitrary<'/protected' | '/public'> = fc.oneof(
  { weight: 4, arbitrary: fc.constant('/protected' as const) },
  { weight: 1, arbitrary: fc.constant('/public' as const) }
)

// ---------------------------------------------------------------------------------------------
// Cookies
// ---------------------------------------------------------------------------------------------

type CookieEncoding =
  | { kind: 'raw' }
  | { kind: 'percent-all' }
  | { kind: 'percent-one', position: number, lower: boolean }
  | { kind: 'quoted' }
  | { kind: 'around', before: string, after: string }

type CookiePiece =
  | { kind: 'session', name: string, token: MutatedToken, encoding: CookieEncoding }
  | { kind: 'csrf', value: string }
  | { kind: 'other', name: string, value: string }
  | { kind: 'raw', text: string }

const cookieEncodingArb: fc.Arbitrary<CookieEncoding> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'raw' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'percent-all' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('percent-one' as const), position: fc.nat(), lower: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'quoted' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('around' as const), before: fc.constantFrom('', ' ', '  ', '\t', '"'), after: fc.constantFrom('', ' ', '\t', '"', '=', ',') }) }
)

const SESSION_NAMES = [SESSION_COOKIE, SESSION_COOKIE, SESSION_COOKIE, SESSION_COOKIE, '__host-session', '__Host-Session', `${SESSION_COOKIE} `, ` ${SESSION_COOKIE}`, '__Host-session-csrf', 'session', `${SESSION_COOKIE}\t`]

const cookiePieceArb: fc.Arbitrary<CookiePiece> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('session' as const),
      name: fc.constantFrom(...SESSION_NAMES),
      token: fc.record({ source: tokenSourceArb, mutations: fc.array(tokenMutationArb, { maxLength: 2 }) }),
      encoding: cookieEncodingArb
    })
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('csrf' as const), value: fc.base64String({ maxLength: 44 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('other' as const), name: fc.constantFrom('theme', 'a', 'sid', '__Secure-x', 'x y', ''), value: fc.string({ maxLength: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw' as const), text: fc.string({ unit: 'binary', maxLength: 60 }) }) }
)

function encodeCookieValue (value: string, encoding: CookieEncoding): string {
  switch (encoding.kind) {
    case 'raw': return value
    case 'percent-all': return [...Buffer.from(value)].map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('')
    case 'percent-one': {
      if (value.length === 0) return value
      const position = encoding.position % value.length
      const hex = value.charCodeAt(position).toString(16).padStart(2, '0')
      return `${value.slice(0, position)}%${encoding.lower ? hex : hex.toUpperCase()}${value.slice(position + 1)}`
    }
    case 'quoted': return `"${value}"`
    case 'around': return `${encoding.before}${value}${encoding.after}`
  }
}

interface CookieRecipe {
  readonly pieces: readonly CookiePiece[]
  readonly separator: string
  readonly authorization: 'none' | 'basic' | 'genuine' | 'garbage' | 'empty-bearer'
}

const cookieRecipeArb: fc.Arbitrary<CookieRecipe> = fc.record({
  pieces: fc.array(cookiePieceArb, { minLength: 1, maxLength: 4 }),
  separator: fc.constantFrom('; ', '; ', ';', ' ; ', ';  ', ';\t', ', '),
  authorization: fc.oneof(
    { weight: 6, arbitrary: fc.constant('none' as const) },
    { weight: 1, arbitrary: fc.constantFrom('basic' as const, 'genuine' as const, 'garbage' as const, 'empty-bearer' as const) }
  )
})

function cookiePieceText (fixture: FuzzFixture, target: AppName, piece: CookiePiece): string {
  switch (piece.kind) {
    case 'session': return `${piece.name}=${encodeCookieValue(buildMutated(fixture, target, piece.token), piece.encoding)}`
    case 'csrf': return `${SESSION_COOKIE}-csrf=${piece.value}`
    case 'other': return `${piece.name}=${piece.value}`
    case 'raw': return piece.text
  }
}

function buildCookie (fixture: FuzzFixture, target: AppName, recipe: CookieRecipe): string {
  return recipe.pieces.map((piece) => cookiePieceText(fixture, target, piece)).join(recipe.separator)
}

function cookieAuthorization (fixture: FuzzFixture, target: AppName, recipe: CookieRecipe): string | undefined {
  switch (recipe.authorization) {
    case 'none': return undefined
    case 'basic': return 'Basic dXNlcjpwYXNz'
    case 'genuine': return `Bearer ${fixture.apps[target].tokens[0] as string}`
    case 'garbage': return 'Bearer not.a.token'
    case 'empty-bearer': return 'Bearer '
  }
}

function describeCookie (recipe: CookieRecipe): string {
  return `cookie pieces ${JSON.stringify(recipe.pieces)} joined by ${JSON.stringify(recipe.separator)}, authorization ${recipe.authorization}`
}

// ---------------------------------------------------------------------------------------------
// Payloads signed with the app's own key (the model of the documented claim rules)
// ---------------------------------------------------------------------------------------------

// Tokens forged with a wrong key never get their payload parsed: the signature is checked first.
// To reach the claim rules with odd JSON, these tokens are signed with the app's own secret and
// algorithm, and the oracle is the documented rules (docs/errors.md, claim_invalid and friends)
// applied to what JSON.parse reads: a token they refuse must not authenticate, and an accepted one
// is the payload's sub.

const MAX_NUMERIC_DATE = 253402300799
const MAX_SESSION_AGE = 7 * 86400
const MAX_TOKEN_AGE = 3600

function isNumericDate (value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value <= MAX_NUMERIC_DATE
}

function hasProtoKey (value: unknown, depth = 0): boolean {
  if (typeof value !== 'object' || value === null || depth > 256) return false
  if (!Array.isArray(value) && Object.prototype.hasOwnProperty.call(value, '__proto__')) return true
  return Object.values(value).some((item) => hasProtoKey(item, depth + 1))
}

/** Why the documented rules refuse `payloadText` in `app` (null: they allow it), and the sub JSON.parse reads. */
export function documentedRefusal (app: FuzzApp, token: string, payloadText: string, transport: 'header' | 'cookie'): { sub: string | null, refusal: string | null } {
  let payload: unknown
  try {
    payload = JSON.parse(payloadText)
  } catch {
    return { sub: null, refusal: 'the payload is not JSON' }
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return { sub: null, refusal: 'the payload is not an object' }
  const claims = payload as Record<string, unknown>
  const sub = typeof claims.sub === 'string' ? claims.sub : null
  const refuse = (refusal: string) => ({ sub, refusal })
  if (token.length > 8192) return refuse('the token is longer than maxTokenLength')
  if (sub === null || sub.length === 0 || sub.length > 1024) return refuse('sub is not a string of 1 to 1024 characters')
  if (sub === 'system.Everyone' || sub === 'system.Authenticated') return refuse('sub is a system principal')
  if (hasProtoKey(claims)) return refuse('an object in the claims has a __proto__ key')
  const leeway = app.name === 'strict' ? LEEWAY : 0
  const now = NOW_MS / 1000
  const { exp, iat, nbf } = claims
  if (!isNumericDate(exp)) return refuse('exp is missing or not a number from 0 to 253402300799')
  if (!isNumericDate(iat)) return refuse('iat is missing or not a number from 0 to 253402300799')
  if (nbf !== undefined && !isNumericDate(nbf)) return refuse('nbf is not a number from 0 to 253402300799')
  if (exp <= now - leeway) return refuse('exp has passed')
  if (iat > now + leeway) return refuse('iat is in the future')
  if (nbf !== undefined && nbf > now + leeway) return refuse('nbf is in the future')
  for (const name of ['jti', 'iss']) if (claims[name] !== undefined && typeof claims[name] !== 'string') return refuse(`${name} is not a string`)
  const { aud, iss } = claims
  if (aud !== undefined && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((item) => typeof item === 'string'))) return refuse('aud is not a string or an array of strings')
  if (app.name === 'strict') {
    if (iss !== ISSUER) return refuse('iss is not the issuer')
    if (aud !== AUDIENCE && !(Array.isArray(aud) && aud.includes(AUDIENCE))) return refuse('aud does not name the audience')
    if (now - iat > MAX_TOKEN_AGE + leeway) return refuse('iat is older than maxTokenAge')
  }
  if (transport === 'cookie' && app.cookie) {
    const authTime = claims.auth_time ?? iat
    if (typeof authTime !== 'number' || !Number.isFinite(authTime)) return refuse('auth_time is not a number')
    if (authTime + MAX_SESSION_AGE <= now) return refuse('the session is older than maxSessionAge')
  }
  return { sub, refusal: null }
}

export interface SignedRecipe {
  readonly index: number
  readonly edits: readonly JsonEdit[]
  readonly transport: 'header' | 'cookie'
}

const signedRecipeArb: fc.Arbitrary<SignedRecipe> = fc.record({
  index: fc.nat(),
  edits: fc.array(jsonEditArb, { minLength: 1, maxLength: 3 }),
  transport: fc.constantFrom('header' as const, 'header' as const, 'cookie' as const)
})

function buildSigned (fixture: FuzzFixture, target: AppName, recipe: SignedRecipe): { token: string, payloadText: string } {
  const app = fixture.apps[target]
  const [h, p] = (app.tokens[recipe.index % app.tokens.length] as string).split('.') as [string, string, string]
  let payloadText = Buffer.from(p, 'base64url').toString('utf8')
  for (const edit of recipe.edits) payloadText = applyJsonEdit(payloadText, edit)
  const input = `${h}.${b64u(payloadText)}`
  return { token: `${input}.${signatureBytes(app.alg, app.secret, input).toString('base64url')}`, payloadText }
}

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

/** Random Authorization headers: scheme variants (case, spaces, tabs), random and unicode text, and genuine tokens inside them; sometimes repeated. */
export function authorizationHeaderCases (fixture: FuzzFixture): fc.Arbitrary<FuzzCase> {
  return fc.record({
    target: targetArb,
    route: routeArb,
    headers: fc.oneof({ weight: 12, arbitrary: fc.array(headerRecipeArb, { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(headerRecipeArb, { minLength: 2, maxLength: 3 }) })
  }).map(({ target, route, headers }) => {
    const values = headers.map((recipe) => buildHeader(fixture, target, recipe))
    return {
      target,
      route,
      authorization: values.length === 1 ? values[0] as string : values,
      recipe: headers.map(describeHeader).join(' | ')
    }
  })
}

/** Genuine tokens with bit flips, character edits, segment swaps, padding, whitespace, unicode and growth past maxTokenLength, as `Bearer <token>`. */
export function tokenMutationCases (fixture: FuzzFixture): fc.Arbitrary<FuzzCase> {
  return fc.record({
    target: targetArb,
    route: routeArb,
    recipe: fc.record({ source: tokenSourceArb, mutations: fc.array(tokenMutationArb, { minLength: 1, maxLength: 4 }) })
  }).map(({ target, route, recipe }) => ({
    target,
    route,
    authorization: `Bearer ${buildMutated(fixture, target, recipe)}`,
    recipe: describeMutated(recipe)
  }))
}

/** Header and payload JSON re-encoded with odd types and keys, kept with the old signature or re-signed with wrong keys or alg none. */
export function claimsCases (fixture: FuzzFixture): fc.Arbitrary<FuzzCase> {
  return fc.record({
    target: targetArb,
    route: routeArb,
    recipe: claimsRecipeArb,
    transport: fc.constantFrom('header' as const, 'header' as const, 'header' as const, 'cookie' as const)
  }).map(({ target, route, recipe, transport }) => {
    const token = buildClaimsToken(fixture, target, recipe)
    return transport === 'header'
      ? { target, route, authorization: `Bearer ${token}`, recipe: describeClaims(recipe) }
      : { target, route, cookie: `${SESSION_COOKIE}=${token}`, recipe: `cookie, ${describeClaims(recipe)}` }
  })
}

/** Cookie headers: random pairs, and session cookies holding genuine or mutated tokens, percent-encoded, quoted or spaced. */
export function cookieCases (fixture: FuzzFixture): fc.Arbitrary<FuzzCase> {
  return fc.record({
    target: fc.oneof({ weight: 3, arbitrary: fc.constant('chain' as const) }, { weight: 1, arbitrary: targetArb }),
    route: routeArb,
    recipe: fc.oneof(
      { weight: 6, arbitrary: cookieRecipeArb },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text): CookieRecipe => ({ pieces: [{ kind: 'raw', text }], separator: '; ', authorization: 'none' })) }
    )
  }).map(({ target, route, recipe }) => {
    const authorization = cookieAuthorization(fixture, target, recipe)
    return {
      target,
      route,
      cookie: buildCookie(fixture, target, recipe),
      ...(authorization === undefined ? {} : { authorization }),
      recipe: describeCookie(recipe)
    }
  })
}

/**
 * Payload JSON with odd types and keys, signed with the app's own key and algorithm, so that it
 * reaches the claim rules. Here the oracle is {@link documentedRefusal} rather than I2.
 */
export function signedPayloadCases (fixture: FuzzFixture): fc.Arbitrary<FuzzCase> {
  return fc.record({ target: targetArb, route: routeArb, recipe: signedRecipeArb }).map(({ target, route, recipe }) => {
    const { token, payloadText } = buildSigned(fixture, target, recipe)
    const forged = documentedRefusal(fixture.apps[target], token, payloadText, recipe.transport)
    const description = `signed with the ${target} key: token own[${recipe.index}], payload edits ${JSON.stringify(recipe.edits)}, ${recipe.transport}`
    return recipe.transport === 'header'
      ? { target, route, authorization: `Bearer ${token}`, recipe: description, forged }
      : { target, route, cookie: `${SESSION_COOKIE}=${token}`, recipe: description, forged }
  })
}

export type CaseFactory = (fixture: FuzzFixture) => fc.Arbitrary<FuzzCase>

/** The properties and their share of the runs. */
export const PROPERTIES: ReadonlyArray<{ name: string, share: number, cases: CaseFactory }> = [
  { name: 'random Authorization headers', share: 0.2, cases: authorizationHeaderCases },
  { name: 'mutations of genuine tokens', share: 0.3, cases: tokenMutationCases },
  { name: 'JSON re-encoding and re-signing with wrong keys', share: 0.2, cases: claimsCases },
  { name: 'cookies', share: 0.15, cases: cookieCases },
  { name: "odd payloads signed with the app's own key", share: 0.15, cases: signedPayloadCases }
]

/** `total` runs split between the properties by share; the parts add up to `total`. */
export function splitRuns (total: number): number[] {
  const parts = PROPERTIES.map((property) => Math.floor(total * property.share))
  let rest = total - parts.reduce((sum, part) => sum + part, 0)
  for (let index = 0; rest > 0; index = (index + 1) % parts.length, rest--) parts[index] = (parts[index] as number) + 1
  return parts
}

/** Runs one property for `runs` runs with `seed`; never throws for a failing run, it reports it. */
export async function checkProperty (fixture: FuzzFixture, name: string, cases: CaseFactory, { runs, seed }: FuzzOptions): Promise<PropertyOutcome> {
  if (runs <= 0) return { name, runs: 0, failed: false, report: '' }
  const details = await fc.check(fc.asyncProperty(cases(fixture), (request) => exercise(fixture, request)), { numRuns: runs, seed })
  if (!details.failed) return { name, runs: details.numRuns, failed: false, report: '' }
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
  const report = [
    `property "${name}" failed after ${details.numRuns} runs and ${details.numShrinks} shrinks`,
    `replay: seed ${details.seed}, path ${JSON.stringify(details.counterexamplePath)}`,
    error,
    `counterexample: ${clip(fc.stringify(details.counterexample), 4000)}`
  ].join('\n')
  return { name, runs: details.numRuns, failed: true, report }
}

export const fuzzAuthorizationHeaders = (fixture: FuzzFixture, options: FuzzOptions) => checkProperty(fixture, 'random Authorization headers', authorizationHeaderCases, options)
export const fuzzTokenMutations = (fixture: FuzzFixture, options: FuzzOptions) => checkProperty(fixture, 'mutations of genuine tokens', tokenMutationCases, options)
export const fuzzClaims = (fixture: FuzzFixture, options: FuzzOptions) => checkProperty(fixture, 'JSON re-encoding and re-signing with wrong keys', claimsCases, options)
export const fuzzCookies = (fixture: FuzzFixture, options: FuzzOptions) => checkProperty(fixture, 'cookies', cookieCases, options)
export const fuzzSignedPayloads = (fixture: FuzzFixture, options: FuzzOptions) => checkProperty(fixture, "odd payloads signed with the app's own key", signedPayloadCases, options)
