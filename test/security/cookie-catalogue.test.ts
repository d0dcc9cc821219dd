// Catalogue groups D (the cookie parts: D6, D7) and E (cookie sessions: E1–E8, E10, E11), through
// app.inject, in the default configuration ({ secret } and JwtCookiePolicy's defaults) and in the
// strict one (the strict token options and the strict cookie policy of helpers.ts). The policy is a
// PolicyChain of the header policy and the cookie policy, so that the genuine Bearer token of
// invariant 3, D6, E8 and E10's Bearer replay can be sent to the same app. Time is frozen with the
// plugin's `now` option and moved explicitly across the reissue boundaries.
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import jwtSecurity, { JwtCookiePolicy, MemoryRevocationStore, type JwtCookiePolicyOptions } from '../../lib/index.js'
import { rejected } from '../helpers/errors.js'
import {
  APP_ORIGIN, b64u, buildCookieHarness, cookiePolicyOptions, eachConfig, expectCleanLogs, expectOutcome, NOW, NOW_MS, SESSION_COOKIE,
  segments, setCookieList, validToken, type Attempt, type Config, type CookieHarness
} from './helpers.js'

const COOKIE = SESSION_COOKIE
const CSRF_COOKIE = `${COOKIE}-csrf`
const EPOCH = 'Thu, 01 Jan 1970 00:00:00 GMT'
/** E5's expected clearing cookie, verbatim from the catalogue. */
const CATALOGUE_CLEARING = '__Host-session=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax'
/** The csrf claim of hand-made session tokens (what remember() would have put there). */
const CSRF_CLAIM = 'c5rfT0kenOfAHandMadeSessionForTheCatalogue0'
const EVIL = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

// ---------------------------------------------------------------------------------------------
// Helpers of this file
// ---------------------------------------------------------------------------------------------

/** The app's clock, in seconds. */
function seconds (h: CookieHarness): number {
  return Math.floor(h.clock.now / 1000)
}

/** Moves the app's clock to `second` (seconds since the epoch). */
function at (h: CookieHarness, second: number): void {
  h.clock.now = second * 1000
}

/** The exact Set-Cookie of a session cookie set at `now` for a token expiring at `exp`. */
function sessionSetCookie (h: CookieHarness, value: string, now: number, exp: number): string {
  return `${COOKIE}=${value}; Max-Age=${exp - now}; Path=/; Expires=${new Date(exp * 1000).toUTCString()}; HttpOnly; Secure; SameSite=${h.sameSite}`
}

/** The exact Set-Cookie of the readable CSRF companion cookie. */
function csrfSetCookie (h: CookieHarness, value: string, now: number, exp: number): string {
  return `${CSRF_COOKIE}=${value}; Max-Age=${exp - now}; Path=/; Expires=${new Date(exp * 1000).toUTCString()}; Secure; SameSite=${h.sameSite}`
}

/** The exact clearing cookies of forget(): the session cookie and its CSRF companion. */
function clearingCookies (h: CookieHarness): string[] {
  return [
    `${COOKIE}=; Max-Age=0; Path=/; Expires=${EPOCH}; HttpOnly; Secure; SameSite=${h.sameSite}`,
    `${CSRF_COOKIE}=; Max-Age=0; Path=/; Expires=${EPOCH}; Secure; SameSite=${h.sameSite}`
  ]
}

/** The value a Set-Cookie string gives cookie `name`, or undefined. */
function valueIn (cookie: string | undefined, name: string): string | undefined {
  return cookie?.startsWith(`${name}=`) === true ? cookie.slice(name.length + 1, cookie.indexOf(';')) : undefined
}

/** The attributes of a Set-Cookie string, without its name and value. */
function attributes (cookie: string | undefined): string[] {
  return (cookie ?? '').split('; ').slice(1)
}

/** The attributes that must match between remember(), reissue and forget(): all but Max-Age and Expires. */
function scope (cookie: string | undefined): string[] {
  return attributes(cookie).filter((attribute) => !/^(Max-Age|Expires)=/.test(attribute))
}

/** The names of the cookies a list of Set-Cookie strings sets. */
function names (cookies: string[]): string[] {
  return cookies.map((cookie) => cookie.slice(0, cookie.indexOf('=')))
}

/** A segment with its middle character changed. */
function flip (segment: string): string {
  const index = Math.floor(segment.length / 2)
  return `${segment.slice(0, index)}${segment[index] === 'A' ? 'B' : 'A'}${segment.slice(index + 1)}`
}

/** A hand-made session token of `config` (sub alice, iat now, exp now + 300, the csrf claim), with `extra` claims. */
function craftedSession (config: Config, extra: Record<string, unknown>): string {
  return validToken(config, { csrf: CSRF_CLAIM, ...extra })
}

/** Logs `userid` in (POST /login) and returns the cookies set. */
async function login (h: CookieHarness, userid = 'alice', cookies: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const response = await h.app.inject({ method: 'POST', url: '/login', payload: { userid }, cookies, headers })
  const list = setCookieList(response)
  return { response, cookies: list, session: valueIn(list[0], COOKIE) as string, csrf: valueIn(list[1], CSRF_COOKIE) as string }
}

/**
 * The Set-Cookie check of a reissue: exactly one session cookie, with the policy's attributes, for
 * a fresh token (iat now, exp `exp`, a new jti) that copies sub, auth_time (iat when the previous
 * token had none) and csrf, and its CSRF companion cookie with the same token. Reissued tokens are
 * pushed on `tokens`.
 */
function reissue (t: Test, h: CookieHarness, name: string, previous: string, exp: number, tokens: string[] = []): SetCookieCheck {
  const before = decodeJwt(previous)
  const csrf = typeof before.csrf === 'string' ? before.csrf : null
  return (cookies, where) => {
    const now = seconds(h)
    t.strictSame(names(cookies), csrf === null ? [COOKIE] : [COOKIE, CSRF_COOKIE],
      `${name}: exactly one session cookie${csrf === null ? '' : ' and its CSRF companion'} (${where} route)`)
    const value = valueIn(cookies[0], COOKIE) ?? ''
    t.equal(cookies[0], sessionSetCookie(h, value, now, exp), `${name}: the reissued session cookie, exactly (${where} route)`)
    if (csrf !== null) t.equal(cookies[1], csrfSetCookie(h, csrf, now, exp), `${name}: the CSRF companion keeps the session's token (${where} route)`)
    const claims = decodeJwt(value)
    t.strictSame(
      { sub: claims.sub, iat: claims.iat, exp: claims.exp, auth_time: claims.auth_time, csrf: claims.csrf },
      { sub: before.sub, iat: now, exp, auth_time: before.auth_time ?? before.iat, csrf: before.csrf },
      `${name}: fresh iat and exp; sub, auth_time and csrf copied (${where} route)`)
    t.not(claims.jti, before.jti, `${name}: a new jti (${where} route)`)
    tokens.push(value)
  }
}

/** A Set-Cookie check of {@link expectOutcome} (see OutcomeChecks). */
type SetCookieCheck = (cookies: string[], route: 'protected' | 'public') => void

interface Variant {
  readonly label: string
  readonly cookie: JwtCookiePolicyOptions
}

/**
 * The cookie policies a reissue case runs with. Strict: its own (reissueTime 5 min). Default: the
 * policy's defaults, which do not reissue (reissueTime null), and the defaults with reissueTime
 * 15 min, so that the catalogue's reissue outcomes are also checked with the default token settings.
 */
function variants (config: Config): Variant[] {
  if (config.profile === 'strict') return [{ label: 'strict cookie policy (reissueTime 5m, maxSessionAge 1h)', cookie: {} }]
  return [
    { label: 'cookie policy defaults (no reissueTime)', cookie: {} },
    { label: 'cookie policy defaults + reissueTime 15m', cookie: { reissueTime: '15m' } }
  ]
}

/** CFG: registering the plugin with the profile's token options and this cookie policy makes ready() reject. */
async function expectCookieCfg (t: Test, config: Config, cookie: object, message: RegExp, name: string): Promise<void> {
  const app = Fastify()
  // The policy is built inside a plugin, as an app would build it from its settings at start-up.
  app.register(async (instance) => {
    await instance.register(jwtSecurity, { ...config.options, policy: new JwtCookiePolicy({ ...cookiePolicyOptions(config.profile), ...cookie }) })
  })
  const error = await rejected(app.ready())
  t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', `${name}: CFG (ready() rejects)`)
  t.match(error.message, message, `${name}: the message names the option`)
}

// ---------------------------------------------------------------------------------------------
// D. Transport: the cookie parts
// ---------------------------------------------------------------------------------------------

t.test('D6 token both in the header and in the cookie: (a) the header wins, (b) R401, (c) R400; never the cookie', async (t) => {
  await eachConfig(t, async (t, config) => {
    const h = await buildCookieHarness(t, config)
    // A session of another user, old enough to be reissued when reissue is on: were it read, a Set-Cookie would show it.
    const age = (h.policy.reissueTime ?? 900) + 1
    const cookie = craftedSession(config, { sub: 'cookie-user', iat: NOW - age, exp: NOW + 200, auth_time: NOW - age })
    const cookies = { [COOKIE]: cookie }
    const tokens: string[] = []
    await expectOutcome(t, h, { cookies }, 'OK', 'control: the cookie alone is a valid session', 'cookie-user', {
      setCookie: h.policy.reissueTime === null ? [] : reissue(t, h, 'control', cookie, NOW + h.expiresIn, tokens)
    })
    await expectOutcome(t, h, { authorization: `Bearer ${h.genuine}`, cookies }, 'OK', '(a) valid header (alice) and valid cookie (cookie-user): the header wins', 'alice',
      { setCookie: [], cleanLogs: true })
    const [hh, hp, hs] = segments(h.genuine)
    const invalid: Array<[string, string, 'R401' | 'R401-expired']> = [
      ['one character of the signature changed', `${hh}.${hp}.${flip(hs)}`, 'R401'],
      [`expired (exp = now - ${config.leeway} - 1)`, validToken(config, { exp: NOW - config.leeway - 1 }), 'R401-expired'],
      ['alg none', `${b64u({ alg: 'none' })}.${hp}.`, 'R401'],
      ['garbage x.y.z', 'x.y.z', 'R401']
    ]
    for (const [name, token, outcome] of invalid) {
      await expectOutcome(t, h, { authorization: `Bearer ${token}`, cookies }, outcome, `(b) invalid Bearer token (${name}) with a valid cookie`)
    }
    for (const authorization of ['Bearer a b', 'Bearer', `Bearer ${h.genuine} extra`]) {
      await expectOutcome(t, h, { authorization, cookies }, 'R400', `(c) malformed header ${JSON.stringify(authorization.slice(0, 12))} with a valid cookie`)
    }
  })
})

t.test('D7 cookie tampering: R401 on a protected route, ANON on a public one, no reissue', async (t) => {
  await eachConfig(t, async (t, config) => {
    const h = await buildCookieHarness(t, config)
    const { session } = await login(h)
    // Past reissueTime (strict), so that a reissue would show if a tampered cookie were accepted.
    const age = (h.policy.reissueTime ?? 900) + 1
    at(h, NOW + age)
    const [sh, sp, ss] = segments(session)
    const header = decodeProtectedHeader(session)
    const otherHmac = config.alg === 'HS256' ? 'HS512' : 'HS256'
    const cases: Array<[string, string]> = [
      ['payload: sub changed to "admin" and re-encoded', `${sh}.${b64u({ ...decodeJwt<Record<string, unknown>>(session), sub: 'admin' })}.${ss}`],
      ['payload: one character changed', `${sh}.${flip(sp)}.${ss}`],
      ['signature: one character changed', `${sh}.${sp}.${flip(ss)}`],
      ['signature: removed', `${sh}.${sp}.`],
      [`header: alg changed to ${otherHmac}`, `${b64u({ ...header, alg: otherHmac })}.${sp}.${ss}`],
      ['header: alg changed to none', `${b64u({ ...header, alg: 'none' })}.${sp}.${ss}`],
      ['header: alg none and no signature', `${b64u({ ...header, alg: 'none' })}.${sp}.`],
      ['header: one character changed', `${flip(sh)}.${sp}.${ss}`]
    ]
    for (const [name, value] of cases) {
      t.not(value, session)
      await expectOutcome(t, h, { cookies: { [COOKIE]: value } }, 'R401', `${name} (session cookie)`)
    }
    await expectOutcome(t, h, { cookies: { [COOKIE]: session } }, 'OK', 'the untouched session still works', 'alice', {
      setCookie: h.policy.reissueTime === null ? [] : reissue(t, h, 'the untouched session', session, NOW + age + h.expiresIn)
    })
  })
})

// ---------------------------------------------------------------------------------------------
// E. Cookie sessions
// ---------------------------------------------------------------------------------------------

t.test('E1 reissue only for valid tokens: expired, tampered or unknown-user sessions get no Set-Cookie', async (t) => {
  await eachConfig(t, async (t, config) => {
    for (const variant of variants(config)) {
      await t.test(variant.label, async (t) => {
        const h = await buildCookieHarness(t, config, {
          cookie: variant.cookie,
          options: { callback: (userid: string) => userid === 'deleted-user' ? null : [] }
        })
        // Every session here is past reissueTime: a valid one is reissued (the control at the end).
        const age = (h.policy.reissueTime ?? 900) + 60
        const old = { iat: NOW - age, auth_time: NOW - age }
        const [vh, vp, vs] = segments(craftedSession(config, { ...old, exp: NOW + 200 }))
        const cases: Array<[string, string, 'R401' | 'R401-expired', string]> = [
          [`expired, signature valid (exp = now - leeway - 1, leeway ${config.leeway} s)`, craftedSession(config, { ...old, exp: NOW - config.leeway - 1 }), 'R401-expired', 'token_expired'],
          [`expired at the boundary (exp = now - leeway, leeway ${config.leeway} s)`, craftedSession(config, { ...old, exp: NOW - config.leeway }), 'R401-expired', 'token_expired'],
          ['tampered: one character of the signature changed', `${vh}.${vp}.${flip(vs)}`, 'R401', 'signature_invalid'],
          ['tampered: sub changed to admin', `${vh}.${b64u({ ...decodeJwt<Record<string, unknown>>(`${vh}.${vp}.${vs}`), sub: 'admin' })}.${vs}`, 'R401', 'signature_invalid'],
          ['valid, but its sub no longer resolves to a user (callback answers null)', craftedSession(config, { ...old, exp: NOW + 200, sub: 'deleted-user' }), 'R401', 'identity_rejected']
        ]
        for (const [name, value, outcome, reason] of cases) {
          const failure = await expectOutcome(t, h, { cookies: { [COOKIE]: value } }, outcome, name)
          t.equal(failure?.reason, reason, `${name}: reason ${reason}`)
        }
        const valid = `${vh}.${vp}.${vs}`
        await expectOutcome(t, h, { cookies: { [COOKIE]: valid } }, 'OK', 'control: the same session, untouched and valid', 'alice', {
          setCookie: h.policy.reissueTime === null ? [] : reissue(t, h, 'control', valid, NOW + h.expiresIn)
        })
      })
    }
  })
})

t.test('E2 reissue timing: younger than reissueTime, older, already reissued in this request', async (t) => {
  await eachConfig(t, async (t, config) => {
    for (const variant of variants(config)) {
      await t.test(variant.label, async (t) => {
        const h = await buildCookieHarness(t, config, { cookie: variant.cookie })
        const { session } = await login(h)
        const cookies = { [COOKIE]: session }
        const reissueTime = h.policy.reissueTime
        if (reissueTime === null) {
          // JwtCookiePolicy's default: no sliding reissue at any age; the session ends at its exp.
          for (const age of [1, 899, 901, h.expiresIn - 1]) {
            at(h, NOW + age)
            await expectOutcome(t, h, { cookies }, 'OK', `age ${age} s, reissue off (the default): no Set-Cookie`, 'alice', { setCookie: [], cleanLogs: true })
          }
          const twice = await h.app.inject({ url: '/twice', cookies })
          t.equal(twice.statusCode, 200)
          t.strictSame(setCookieList(twice), [], 'identity resolved twice in one request: still no Set-Cookie')
          return
        }
        at(h, NOW + reissueTime - 1)
        await expectOutcome(t, h, { cookies }, 'OK', `younger than reissueTime (age ${reissueTime - 1} s): no Set-Cookie`, 'alice', { setCookie: [], cleanLogs: true })
        const now = NOW + reissueTime + 1
        at(h, now)
        const exp = Math.min(now + h.expiresIn, NOW + h.policy.maxSessionAge)
        const tokens: string[] = []
        await expectOutcome(t, h, { cookies }, 'OK', `older than reissueTime (age ${reissueTime + 1} s): exactly one Set-Cookie, fresh iat/exp`, 'alice', {
          setCookie: reissue(t, h, 'older than reissueTime', session, exp, tokens),
          cleanLogs: true
        })
        // Already reissued in this request: the handler resolves the cookie identity a second time
        // (as Pyramid's identify() called twice), and the response still carries one reissue.
        const twice = await h.app.inject({ url: '/twice', cookies })
        t.equal(twice.statusCode, 200)
        t.strictSame(twice.json(), { userid: 'alice' })
        reissue(t, h, 'identity resolved twice in one request', session, exp, tokens)(setCookieList(twice), 'protected')
        // The reissued token is young again: presenting it gives no second reissue.
        at(h, now + 1)
        await expectOutcome(t, h, { cookies: { [COOKIE]: tokens[0] as string } }, 'OK', 'the reissued session, presented next: no second reissue', 'alice', {
          setCookie: [],
          cleanLogs: true
        })
      })
    }
    // Pyramid: "It's nonsensical to set the timeout value lower than the reissue_time value": CFG.
    const expiresIn = config.profile === 'strict' ? 900 : 3600
    for (const reissueTime of [expiresIn, expiresIn + 60]) {
      await expectCookieCfg(t, config, { reissueTime }, /"reissueTime": must be shorter than expiresIn/, `reissueTime ${reissueTime} s with expiresIn ${expiresIn} s`)
    }
  })
})

t.test('E3 sliding reissue never extends the absolute lifetime (auth_time + maxSessionAge)', async (t) => {
  await eachConfig(t, async (t, config) => {
    for (const variant of variants(config)) {
      await t.test(variant.label, async (t) => {
        const h = await buildCookieHarness(t, config, { cookie: variant.cookie })
        const max = h.policy.maxSessionAge
        const reissueTime = h.policy.reissueTime
        const age = (reissueTime ?? 900) + 1
        // The catalogue's input: auth_time = now - absoluteMax - 1, a fresh iat, exp in the future.
        for (const [label, authTime] of [['auth_time = now - maxSessionAge - 1', NOW - max - 1], ['auth_time = now - maxSessionAge', NOW - max]] as const) {
          for (const iat of [NOW, NOW - age]) {
            const value = craftedSession(config, { auth_time: authTime, iat, exp: NOW + 300 })
            const failure = await expectOutcome(t, h, { cookies: { [COOKIE]: value } }, 'R401', `${label}, iat = now - ${NOW - iat}, exp = now + 300`)
            t.strictSame(failure, { error: 'invalid_token', reason: 'session_expired', claim: 'auth_time' }, `${label}: session_expired`)
          }
        }
        // Accepted while the session lasts; a reissue gets exp = min(now + expiresIn, auth_time + maxSessionAge).
        const left: Array<[string, number]> = [['600 s of the session left', 600], ['1 s of the session left', 1], ['the session just started', max - age]]
        for (const [label, remaining] of left) {
          const authTime = NOW - max + remaining
          const value = craftedSession(config, { auth_time: authTime, iat: NOW - age, exp: NOW + 100 })
          const exp = Math.min(NOW + h.expiresIn, authTime + max)
          await expectOutcome(t, h, { cookies: { [COOKIE]: value } }, 'OK', `${label}: ${reissueTime === null ? 'accepted, no reissue' : `reissued with exp = now + ${exp - NOW}`}`, 'alice', {
            setCookie: reissueTime === null ? [] : reissue(t, h, label, value, exp)
          })
        }
        if (reissueTime === null) return
        // A real session kept active past maxSessionAge: each reissue keeps auth_time, and none passes the cap.
        at(h, NOW)
        let { session } = await login(h)
        const step = reissueTime + Math.floor((h.expiresIn - reissueTime) / 2)
        const problems: string[] = []
        let last = NOW
        let reissues = 0
        while (last + step < NOW + max) {
          last += step
          at(h, last)
          const response = await h.app.inject({ url: '/protected', cookies: { [COOKIE]: session } })
          const cookies = setCookieList(response)
          const value = valueIn(cookies[0], COOKIE)
          if (response.statusCode !== 200 || value === undefined) {
            problems.push(`at now + ${last - NOW}: ${response.statusCode}, no reissue`)
            break
          }
          const claims = decodeJwt(value)
          const exp = Math.min(last + h.expiresIn, NOW + max)
          if (claims.auth_time !== NOW || claims.exp !== exp || cookies[0] !== sessionSetCookie(h, value, last, exp)) {
            problems.push(`at now + ${last - NOW}: auth_time ${String(claims.auth_time)}, exp ${String(claims.exp)}, ${cookies[0]?.split('; ').slice(1).join('; ')}`)
          }
          session = value
          reissues++
        }
        t.strictSame(problems, [], `${reissues} reissues over maxSessionAge: auth_time copied, exp = min(now + expiresIn, auth_time + maxSessionAge)`)
        at(h, NOW + max - 1)
        await expectOutcome(t, h, { cookies: { [COOKIE]: session } }, 'OK', 'the last second of the session', 'alice', {
          setCookie: NOW + max - 1 - last >= reissueTime ? reissue(t, h, 'the last second', session, NOW + max) : []
        })
        at(h, NOW + max)
        // With a leeway the token's exp (capped at auth_time + maxSessionAge) is still within it, and the session cap refuses it.
        await expectOutcome(t, h, { cookies: { [COOKIE]: session } }, config.leeway > 0 ? 'R401' : 'R401-expired', 'at auth_time + maxSessionAge: refused, no reissue')
      })
    }
  })
})

t.test('E4 forget() or remember(otherUser) in a request with a pending reissue', async (t) => {
  await eachConfig(t, async (t, config) => {
    for (const variant of variants(config)) {
      await t.test(variant.label, async (t) => {
        const h = await buildCookieHarness(t, config, { cookie: variant.cookie })
        const from = h.logs.length
        const { session, csrf } = await login(h)
        const now = NOW + (h.policy.reissueTime ?? 900) + 1
        at(h, now)
        const cookies = { [COOKIE]: session }
        const headers = { 'x-csrf-token': csrf, origin: h.origin }
        const out = await h.app.inject({ method: 'POST', url: '/logout', cookies, headers })
        t.equal(out.statusCode, 200, 'forget(): 200')
        t.strictSame(setCookieList(out), clearingCookies(h), 'forget(): only the clearing cookies, the reissue is cancelled')
        const other = await h.app.inject({ method: 'POST', url: '/login', payload: { userid: 'bob' }, cookies, headers })
        t.equal(other.statusCode, 200, 'remember(bob): 200')
        const list = setCookieList(other)
        t.strictSame(names(list), [COOKIE, CSRF_COOKIE], 'remember(bob): one session cookie and its companion, never two for one name')
        const value = valueIn(list[0], COOKIE) as string
        const newCsrf = valueIn(list[1], CSRF_COOKIE) as string
        const exp = now + Math.min(h.expiresIn, h.policy.maxSessionAge)
        t.equal(list[0], sessionSetCookie(h, value, now, exp), 'remember(bob): the new session cookie, exactly')
        t.equal(list[1], csrfSetCookie(h, newCsrf, now, exp), 'remember(bob): its CSRF companion, exactly')
        const claims = decodeJwt(value)
        t.match(claims, { sub: 'bob', iat: now, exp, auth_time: now, csrf: newCsrf }, 'a new session for bob, not a reissue of alice\'s')
        t.not(claims.jti, decodeJwt(session).jti)
        t.not(newCsrf, csrf, 'a new CSRF token')
        t.equal(other.json().csrfToken, newCsrf)
        expectCleanLogs(t, h, from, [session, csrf, value, newCsrf], 'forget and remember')
        await expectOutcome(t, h, { cookies: { [COOKIE]: value } }, 'OK', 'the new session is bob\'s, and young', 'bob', { setCookie: [], cleanLogs: true })
      })
    }
  })
})

t.test('E5 forget() clears the cookie with the attributes remember() set it with', async (t) => {
  await eachConfig(t, async (t, config) => {
    const h = await buildCookieHarness(t, config)
    const from = h.logs.length
    const { cookies: remembered, session, csrf } = await login(h)
    const out = await h.app.inject({ method: 'POST', url: '/logout', cookies: { [COOKIE]: session }, headers: { 'x-csrf-token': csrf, origin: h.origin } })
    t.equal(out.statusCode, 200)
    const cleared = setCookieList(out)
    t.strictSame(cleared, clearingCookies(h), 'exactly the clearing cookies')
    if (h.sameSite === 'Lax') t.equal(cleared[0], CATALOGUE_CLEARING, 'the catalogue\'s clearing cookie, verbatim')
    else t.equal(cleared[0], CATALOGUE_CLEARING.replace('SameSite=Lax', `SameSite=${h.sameSite}`), `the catalogue's clearing cookie with SameSite=${h.sameSite}, as remember() set it`)
    t.equal(out.headers['cache-control'], 'no-store')
    t.strictSame(scope(cleared[0]), scope(remembered[0]), 'the same Path, Domain (none), Secure, HttpOnly and SameSite as remember()')
    t.strictSame(scope(cleared[1]), scope(remembered[1]), 'the CSRF companion too')
    t.notOk([...remembered, ...cleared].some((cookie) => /; Domain=/i.test(cookie)), 'no Domain: __Host- cookies are host-only')
    const anonymous = await h.app.inject({ method: 'POST', url: '/logout' })
    t.strictSame(setCookieList(anonymous), clearingCookies(h), 'forget() without a session sends the same clearing cookies')
    expectCleanLogs(t, h, from, [session, csrf], 'login and logout')
  })
})

t.test('E6 cookie attributes on remember() and on reissue', async (t) => {
  await eachConfig(t, async (t, config) => {
    for (const variant of variants(config)) {
      await t.test(variant.label, async (t) => {
        const h = await buildCookieHarness(t, config, { cookie: variant.cookie })
        const { response, cookies: remembered, session, csrf } = await login(h)
        const lifetime = Math.min(h.expiresIn, h.policy.maxSessionAge)
        t.strictSame(remembered, [sessionSetCookie(h, session, NOW, NOW + lifetime), csrfSetCookie(h, csrf, NOW, NOW + lifetime)],
          `remember(): HttpOnly, Secure, SameSite=${h.sameSite}, Path=/, no Domain, Max-Age ${lifetime}`)
        t.equal(response.headers['cache-control'], 'no-store')
        const claims = decodeJwt(session)
        t.equal((claims.exp as number) - seconds(h), lifetime, 'Max-Age equals the token\'s remaining lifetime')
        const reissueTime = h.policy.reissueTime
        if (reissueTime === null) return
        const now = NOW + reissueTime + 1
        at(h, now)
        const tokens: string[] = []
        await expectOutcome(t, h, { cookies: { [COOKIE]: session } }, 'OK', 'reissue', 'alice', {
          setCookie: (cookies, where) => {
            reissue(t, h, 'reissue', session, now + lifetime, tokens)(cookies, where)
            t.strictSame(attributes(cookies[0]).filter((a) => !a.startsWith('Expires=')), attributes(remembered[0]).filter((a) => !a.startsWith('Expires=')),
              `reissue uses remember()'s attributes, Max-Age included (${where} route)`)
            t.strictSame(attributes(cookies[1]).filter((a) => !a.startsWith('Expires=')), attributes(remembered[1]).filter((a) => !a.startsWith('Expires=')),
              `and so does its CSRF companion (${where} route)`)
          }
        })
      })
    }
  })
})

t.test('E6 secure: auto follows the connection; behind a TLS proxy only with trustProxy', async (t) => {
  await eachConfig(t, async (t, config) => {
    for (const trustProxy of [false, true]) {
      const app = Fastify({ trustProxy })
      t.teardown(() => app.close())
      await app.register(jwtSecurity, {
        ...config.options,
        now: () => NOW_MS,
        policy: new JwtCookiePolicy({ ...cookiePolicyOptions(config.profile), cookieName: 'session', secure: 'auto' })
      })
      app.post('/login', async (_request, reply) => { await reply.remember('alice'); return { ok: true } })
      const plain = setCookieList(await app.inject({ method: 'POST', url: '/login' }))
      t.notOk(attributes(plain[0]).includes('Secure'), `trustProxy ${trustProxy}: plain http, no Secure`)
      const proxied = setCookieList(await app.inject({ method: 'POST', url: '/login', headers: { 'x-forwarded-proto': 'https' } }))
      t.equal(attributes(proxied[0]).includes('Secure'), trustProxy,
        `trustProxy ${trustProxy}: X-Forwarded-Proto https ${trustProxy ? 'gives' : 'does not give'} Secure (the catalogue's verified note)`)
    }
  })
})

t.test('E6 CFG: cookie options browsers would ignore, or that send the session in the clear', async (t) => {
  await eachConfig(t, async (t, config) => {
    const prefix = /"cookieName": __Host- cookies need secure: true, no domains, no hostDomain and path "\/"/
    const cases: Array<[string, object, RegExp]> = [
      ['sameSite none without secure', { cookieName: 'session', sameSite: 'none', secure: false }, /"sameSite": 'none' needs secure: true/],
      ['sameSite none with secure auto', { cookieName: 'session', sameSite: 'none', secure: 'auto' }, /"sameSite": 'none' needs secure: true/],
      ['__Host- name with a domain', { domains: ['example.org'] }, prefix],
      ['__Host- name with path /app', { path: '/app' }, prefix],
      ['__Host- name with secure false', { secure: false }, prefix],
      ['__Host- name with secure auto', { secure: 'auto' }, prefix],
      ['__Secure- name with secure auto', { cookieName: '__Secure-session', secure: 'auto' }, /"cookieName": __Secure- cookies need secure: true/],
      ['a __Host- CSRF cookie with a domain', { cookieName: 'session', domains: ['example.org'], csrf: { cookieName: '__Host-csrf' } }, /"csrf.cookieName": __Host- cookies need/]
    ]
    for (const [name, cookie, message] of cases) await expectCookieCfg(t, config, cookie, message, name)
    const environment = process.env.NODE_ENV
    t.teardown(() => { process.env.NODE_ENV = environment })
    process.env.NODE_ENV = 'production'
    await expectCookieCfg(t, config, { cookieName: 'session', secure: false }, /"secure": false is refused when NODE_ENV is production/, 'secure false in production')
    process.env.NODE_ENV = environment
    // The profile's own policy registers.
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(jwtSecurity, { ...config.options, policy: new JwtCookiePolicy(cookiePolicyOptions(config.profile)) })
    await app.ready()
    t.pass('the profile\'s cookie policy is accepted')
  })
})

t.test('E7 cookie too large: remember() throws at issue time, and no cookie is sent', async (t) => {
  await eachConfig(t, async (t, config) => {
    const h = await buildCookieHarness(t, config)
    const from = h.logs.length
    const attempt = (size: number, url = '/login') => h.app.inject({ method: 'POST', url, payload: { claims: { blob: 'x'.repeat(size) } } })
    // The largest claim that still fits, by bisection: its cookie is at most 4096 bytes, one byte more is refused.
    let fits = 0
    let refused = 4096
    t.equal((await attempt(fits)).statusCode, 200)
    t.equal((await attempt(refused)).statusCode, 500)
    while (refused - fits > 1) {
      const middle = Math.floor((fits + refused) / 2)
      if ((await attempt(middle)).statusCode === 200) fits = middle
      else refused = middle
    }
    const largest = setCookieList(await attempt(fits))
    const bytes = Buffer.byteLength(largest[0] as string)
    t.ok(bytes <= 4096 && bytes > 4090, `the largest session cookie issued is ${bytes} bytes (name, value and attributes)`)
    const over = await attempt(refused)
    t.equal(over.statusCode, 500)
    const size = Number(/^The session cookie would be (\d+) bytes/.exec((over.json() as { message: string }).message)?.[1])
    t.ok(size > 4096, `one more byte of claims: ${size} bytes, refused`)
    t.strictSame(over.json(), {
      statusCode: 500,
      code: 'FST_JWT_SECURITY_COOKIE_TOO_LARGE',
      error: 'Internal Server Error',
      message: `The session cookie would be ${size} bytes; browsers drop cookies over 4096 bytes`
    }, 'a fixed body')
    t.equal(over.headers['set-cookie'], undefined, 'no cookie at all: neither the session nor its CSRF companion')
    const handled = await attempt(refused, '/login-catch')
    t.strictSame(handled.json(), { thrown: 'FST_JWT_SECURITY_COOKIE_TOO_LARGE' }, 'remember() throws to the handler')
    t.equal(handled.headers['set-cookie'], undefined, 'and sets nothing')
    expectCleanLogs(t, h, from, [valueIn(largest[0], COOKIE) as string], 'oversized sessions')
  })
})

t.test('E8 no cookie reissue for header-authenticated requests', async (t) => {
  await eachConfig(t, async (t, config) => {
    for (const variant of variants(config)) {
      await t.test(variant.label, async (t) => {
        const h = await buildCookieHarness(t, config, { cookie: variant.cookie })
        const age = (h.policy.reissueTime ?? 900) + 100
        const old = validToken(config, { iat: NOW - age, exp: NOW + 200 })
        await expectOutcome(t, h, old, 'OK', `a valid Bearer token ${age} s old, no cookie: no Set-Cookie`, 'alice', { setCookie: [], cleanLogs: true })
        await expectOutcome(t, h, { method: 'POST', url: '/transfer', authorization: `Bearer ${old}`, headers: EVIL }, 'OK',
          'the same token on a cross-site POST: no CSRF check, no Set-Cookie', 'alice', { setCookie: [], cleanLogs: true })
        await expectOutcome(t, h, { cookies: { [COOKIE]: old } }, 'OK', 'control: the same token as a session cookie', 'alice', {
          setCookie: h.policy.reissueTime === null ? [] : reissue(t, h, 'control', old, Math.min(NOW + h.expiresIn, NOW - age + h.policy.maxSessionAge))
        })
      })
    }
  })
})

t.test('E10 replay after logout without a revocation store: accepted until exp (plus the leeway), documented', async (t) => {
  await eachConfig(t, async (t, config) => {
    const h = await buildCookieHarness(t, config)
    const { session, csrf } = await login(h)
    const out = await h.app.inject({ method: 'POST', url: '/logout', cookies: { [COOKIE]: session }, headers: { 'x-csrf-token': csrf, origin: h.origin } })
    t.strictSame(setCookieList(out), clearingCookies(h), 'logged out: the cookie is cleared')
    const cookies = { [COOKIE]: session }
    await expectOutcome(t, h, { cookies }, 'OK', 'the saved cookie, replayed after logout', 'alice', { setCookie: [], cleanLogs: true })
    await expectOutcome(t, h, session, 'OK', 'the saved token, replayed as Bearer', 'alice', { setCookie: [], cleanLogs: true })
    const exp = decodeJwt(session).exp as number
    const last = exp + config.leeway - 1
    at(h, last)
    await expectOutcome(t, h, session, 'OK', `as Bearer at exp + ${config.leeway} - 1: still accepted`, 'alice', { setCookie: [] })
    const reissueTime = h.policy.reissueTime
    await expectOutcome(t, h, { cookies }, 'OK', `as a cookie at exp + ${config.leeway} - 1: still accepted${reissueTime === null ? '' : ', and even reissued (sliding)'}`, 'alice', {
      setCookie: reissueTime === null ? [] : reissue(t, h, 'the replayed copy', session, Math.min(last + h.expiresIn, NOW + h.policy.maxSessionAge))
    })
    at(h, exp + config.leeway)
    await expectOutcome(t, h, { cookies }, 'R401-expired', `as a cookie at exp + ${config.leeway}: expired`)
    await expectOutcome(t, h, session, 'R401-expired', `as Bearer at exp + ${config.leeway}: expired`)
  })
})

t.test('E10 replay after logout with a MemoryRevocationStore: R401 as a cookie and as Bearer', async (t) => {
  await eachConfig(t, async (t, config) => {
    for (const variant of variants(config)) {
      await t.test(variant.label, async (t) => {
        const h = await buildCookieHarness(t, config, { cookie: variant.cookie, options: { revocation: new MemoryRevocationStore() } })
        const { session, csrf } = await login(h)
        const device = await login(h)
        const out = await h.app.inject({ method: 'POST', url: '/logout', cookies: { [COOKIE]: session }, headers: { 'x-csrf-token': csrf, origin: h.origin } })
        t.strictSame(setCookieList(out), clearingCookies(h), 'logged out: the cookie is cleared')
        const cookies = { [COOKIE]: session }
        for (const [name, attempt] of [['the saved cookie, replayed', { cookies }], ['the saved token, replayed as Bearer', session]] as Array<[string, Attempt]>) {
          const failure = await expectOutcome(t, h, attempt, 'R401', name)
          t.equal(failure?.reason, 'token_revoked', `${name}: token_revoked`)
        }
        await expectOutcome(t, h, { cookies: { [COOKIE]: device.session } }, 'OK', 'another session of the same user still works', 'alice', { setCookie: [] })
        const reissueTime = h.policy.reissueTime
        if (reissueTime === null) return
        at(h, NOW + reissueTime + 1)
        await expectOutcome(t, h, { cookies }, 'R401', 'the saved cookie once it is due for reissue: still refused, never reissued')
        // With sliding reissue the browser's cookie changes during the session. A copy saved before
        // a reissue is the same session: forget() with the current cookie must end it too.
        const start = seconds(h)
        const copy = await login(h)
        at(h, start + reissueTime + 1)
        const slid = await h.app.inject({ url: '/protected', cookies: { [COOKIE]: copy.session } })
        const current = valueIn(setCookieList(slid)[0], COOKIE) as string
        t.ok(current !== undefined && current !== copy.session, 'the session was reissued: the browser now holds another token')
        const logout = await h.app.inject({ method: 'POST', url: '/logout', cookies: { [COOKIE]: current }, headers: { 'x-csrf-token': copy.csrf, origin: h.origin } })
        t.strictSame(setCookieList(logout), clearingCookies(h), 'logged out with the current cookie')
        await expectOutcome(t, h, { cookies: { [COOKIE]: current } }, 'R401', 'the current cookie, replayed after logout')
        await expectOutcome(t, h, { cookies: { [COOKIE]: copy.session } }, 'R401', 'a copy saved before the reissue, replayed as a cookie after logout')
        await expectOutcome(t, h, copy.session, 'R401', 'a copy saved before the reissue, replayed as Bearer after logout')
      })
    }
  })
})

t.test('E11 CSRF on state-changing methods with cookie authentication', async (t) => {
  await eachConfig(t, async (t, config) => {
    const h = await buildCookieHarness(t, config)
    const { session, csrf } = await login(h)
    const another = await login(h)
    const cookies = { [COOKIE]: session }
    const payload = 'to=mallory&amount=1000'
    // An origin the configuration does not allow: the app's own in strict (explicit origins), another in default (own origin only).
    const otherOrigin = config.profile === 'strict' ? 'http://localhost' : APP_ORIGIN
    const refused: Array<[string, Attempt]> = [
      ['POST /transfer with Origin https://evil.example and Sec-Fetch-Site cross-site', { method: 'POST', url: '/transfer', cookies, headers: EVIL }],
      ['the same request with no Origin and no custom header or CSRF token', { method: 'POST', url: '/transfer', cookies }],
      ['the same request as a form POST', { method: 'POST', url: '/transfer', cookies, headers: FORM, payload }],
      ['the form POST from https://evil.example', { method: 'POST', url: '/transfer', cookies, headers: { ...FORM, ...EVIL }, payload }],
      ['cross-site, even with the right CSRF token', { method: 'POST', url: '/transfer', cookies, headers: { ...EVIL, 'x-csrf-token': csrf } }],
      [`the right CSRF token from ${otherOrigin} (not allowed here)`, { method: 'POST', url: '/transfer', cookies, headers: { origin: otherOrigin, 'x-csrf-token': csrf } }],
      ['the right CSRF token, Referer on evil.example', { method: 'POST', url: '/transfer', cookies, headers: { referer: 'https://evil.example/page', 'x-csrf-token': csrf } }],
      ['the right CSRF token, Sec-Fetch-Site same-site', { method: 'POST', url: '/transfer', cookies, headers: { 'sec-fetch-site': 'same-site', 'x-csrf-token': csrf } }],
      ['a wrong CSRF token of the same length', { method: 'POST', url: '/transfer', cookies, headers: { origin: h.origin, 'x-csrf-token': 'x'.repeat(csrf.length) } }],
      ['the CSRF token of another session', { method: 'POST', url: '/transfer', cookies, headers: { origin: h.origin, 'x-csrf-token': another.csrf } }],
      ['a cross-site logout', { method: 'POST', url: '/logout', cookies, headers: EVIL }]
    ]
    for (const [name, attempt] of refused) {
      const before = h.state.transfers
      await expectOutcome(t, h, attempt, 'R403-csrf', name)
      t.equal(h.state.transfers, before, `${name}: no state change`)
    }
    // With the CSRF token, from an allowed origin (or with no origin information at all), the transfer is made.
    const allowed: Array<[string, Attempt]> = [
      [`the CSRF token from ${h.origin}`, { method: 'POST', url: '/transfer', cookies, headers: { origin: h.origin, 'x-csrf-token': csrf } }],
      [`a form POST with the CSRF token from ${h.origin}`, { method: 'POST', url: '/transfer', cookies, headers: { ...FORM, origin: h.origin, 'x-csrf-token': csrf }, payload }],
      ['the CSRF token, Sec-Fetch-Site same-origin', { method: 'POST', url: '/transfer', cookies, headers: { 'sec-fetch-site': 'same-origin', 'x-csrf-token': csrf } }]
    ]
    for (const [name, attempt] of allowed) {
      const before = h.state.transfers
      await expectOutcome(t, h, attempt, 'OK', name, 'alice', { setCookie: [], cleanLogs: true })
      t.equal(h.state.transfers, before + 1, `${name}: one transfer`)
    }
    // The other unsafe methods: the same rule.
    for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
      const before = h.state.transfers
      await expectOutcome(t, h, { method, url: '/transfer', cookies, headers: EVIL }, 'R403-csrf', `${method} /transfer cross-site, no CSRF token`)
      await expectOutcome(t, h, { method, url: '/transfer', cookies }, 'R403-csrf', `${method} /transfer, no Origin, no CSRF token`)
      t.equal(h.state.transfers, before, `${method}: no state change`)
      await expectOutcome(t, h, { method, url: '/transfer', cookies, headers: { origin: h.origin, 'x-csrf-token': csrf } }, 'OK', `${method} /transfer with the CSRF token from ${h.origin}`, 'alice', { setCookie: [] })
      t.equal(h.state.transfers, before + 1, `${method}: one transfer`)
    }
    // GET is safe: no CSRF check, and the app's GET handler changes nothing.
    const before = h.state.transfers
    await expectOutcome(t, h, { url: `/transfer?${payload}`, cookies, headers: EVIL }, 'OK', 'GET /transfer?… cross-site: allowed (safe method)', 'alice', { setCookie: [] })
    t.equal(h.state.transfers, before, 'GET /transfer changes no state')
    // The same cross-site requests authenticated by a Bearer header pass: browsers never attach it.
    const bearer = `Bearer ${h.genuine}`
    const viaHeader: Array<[string, Attempt]> = [
      ['Bearer: POST /transfer from https://evil.example, cross-site', { method: 'POST', url: '/transfer', authorization: bearer, headers: EVIL }],
      ['Bearer: no Origin, no CSRF token', { method: 'POST', url: '/transfer', authorization: bearer }],
      ['Bearer: a form POST from https://evil.example', { method: 'POST', url: '/transfer', authorization: bearer, headers: { ...FORM, ...EVIL }, payload }]
    ]
    for (const [name, attempt] of viaHeader) {
      const count = h.state.transfers
      await expectOutcome(t, h, attempt, 'OK', name, 'alice', { setCookie: [], cleanLogs: true })
      t.equal(h.state.transfers, count + 1, `${name}: one transfer`)
    }
  })
})
