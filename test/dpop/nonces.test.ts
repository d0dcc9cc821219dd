import * as crypto from 'node:crypto'
import { inspect } from 'node:util'
import t from 'tap'
import { DpopNonces } from '../../lib/dpop/nonces.js'
import { caught } from '../helpers/errors.js'

const SECRET = 'k7Qx2mZp9LrT4vWb8NcJ1hYs6FgD3eUa'
const OTHER_SECRET = 'Zq8Wn3Lk5Rv1Tm7Xc2Hb9Pj4Yg6Fd0Sa'
const ROTATION_MS = 5 * 60 * 1000
// On a window boundary for every rotation used below, so that the tests step from one to the next.
const START = 1_800_000_000_000

function clocked (options: Record<string, unknown> = { secret: SECRET }, start = START) {
  const clock = { now: start }
  return { clock, nonces: new DpopNonces(options, () => clock.now) }
}

// The derivation written out again: instances of two releases must agree during a rolling deploy,
// so a change to it has to be deliberate.
function expectedNonce (secret: string, window: number): string {
  return crypto.createHmac('sha256', secret).update(`fastify-jwt-security/dpop-nonce/v1:${window}`).digest().subarray(0, 16).toString('base64url')
}

t.test('a nonce is the truncated HMAC of the window number, in base64url', async (t) => {
  const { nonces } = clocked()
  const nonce = nonces.current()
  t.match(nonce, /^[A-Za-z0-9_-]{22}$/, '16 bytes, fit for a DPoP-Nonce header and a proof claim')
  t.equal(nonce, expectedNonce(SECRET, START / ROTATION_MS))
  t.equal(nonces.accepts(nonce), true)
})

t.test('instances with the same secret and clock agree; another secret gives other nonces', async (t) => {
  const first = clocked().nonces
  const second = clocked().nonces
  const other = clocked({ secret: OTHER_SECRET }).nonces
  t.equal(first.current(), second.current())
  t.equal(second.accepts(first.current()), true, 'a nonce handed out by one instance is accepted by another')
  t.not(other.current(), first.current())
  t.equal(other.accepts(first.current()), false)
  t.equal(first.accepts(other.current()), false)
})

t.test('a secret given as text or as its UTF-8 bytes gives the same nonces', async (t) => {
  const text = clocked({ secret: SECRET }).nonces
  const bytes = clocked({ secret: new TextEncoder().encode(SECRET) }).nonces
  t.equal(bytes.current(), text.current())
})

t.test('the nonce changes each rotation; the previous one stays accepted for one more', async (t) => {
  const { clock, nonces } = clocked()
  const first = nonces.current()
  clock.now += ROTATION_MS - 1
  t.equal(nonces.current(), first, 'current until the end of its window (default rotation 5m)')
  clock.now += 1
  const second = nonces.current()
  t.not(second, first, 'a new window, a new nonce')
  t.equal(nonces.accepts(first), true, 'after one rotation the old nonce is still accepted')
  t.equal(nonces.accepts(second), true)
  clock.now += ROTATION_MS - 1
  t.equal(nonces.accepts(first), true, 'until the end of the following window')
  clock.now += 1
  t.equal(nonces.accepts(first), false, 'after two rotations it is not')
  t.equal(nonces.accepts(second), true)
  t.not(nonces.current(), second)
})

t.test('an instance started later accepts the nonce an older instance handed out in the previous window', async (t) => {
  const older = clocked().nonces
  const handedOut = older.current()
  const { nonces: newer } = clocked({ secret: SECRET }, START + ROTATION_MS + 1000)
  t.equal(newer.accepts(handedOut), true, 'nothing is stored: the previous window is derived')
  t.equal(newer.current(), expectedNonce(SECRET, START / ROTATION_MS + 1))
})

t.test('a jump forward by several windows leaves only the new windows accepted', async (t) => {
  const { clock, nonces } = clocked()
  const old = nonces.current()
  clock.now += 10 * ROTATION_MS
  t.equal(nonces.accepts(old), false)
  t.equal(nonces.current(), expectedNonce(SECRET, START / ROTATION_MS + 10))
  t.equal(nonces.accepts(expectedNonce(SECRET, START / ROTATION_MS + 9)), true, 'the previous window is computed too, not left stale')
})

t.test('a clock stepped back by one window keeps the newer window, so what was handed out stays accepted', async (t) => {
  const { clock, nonces } = clocked()
  const earlier = nonces.current()
  clock.now += ROTATION_MS
  const handedOut = nonces.current()
  clock.now -= ROTATION_MS
  t.equal(nonces.accepts(handedOut), true, 'the nonce handed out before the step')
  t.equal(nonces.current(), handedOut, 'the newer nonce is still the one handed out')
  t.equal(nonces.accepts(earlier), true, 'and the clock\'s own window is accepted too')
  clock.now += ROTATION_MS
  t.equal(nonces.current(), handedOut, 'caught up: the same window, not a second rotation')
  clock.now += ROTATION_MS
  t.not(nonces.current(), handedOut, 'then rotation goes on as before')
  t.equal(nonces.accepts(handedOut), true)
})

t.test('a clock stepped back by more than one window follows the clock: nonces handed out before are refused', async (t) => {
  const { clock, nonces } = clocked()
  clock.now += 2 * ROTATION_MS
  const handedOut = nonces.current()
  clock.now -= 2 * ROTATION_MS
  t.equal(nonces.accepts(handedOut), false, 'the client is sent the current nonce and retries once')
  t.equal(nonces.current(), expectedNonce(SECRET, START / ROTATION_MS))
  t.equal(nonces.accepts(expectedNonce(SECRET, START / ROTATION_MS - 1)), true)
})

t.test('rotation takes seconds or a duration string', async (t) => {
  for (const rotation of [30, '30s']) {
    const { clock, nonces } = clocked({ secret: SECRET, rotation })
    const first = nonces.current()
    clock.now += 29_999
    t.equal(nonces.current(), first, `${rotation}: current for 30 s`)
    clock.now += 1
    t.not(nonces.current(), first, `${rotation}: rotated after 30 s`)
    t.equal(nonces.current(), expectedNonce(SECRET, START / 30_000 + 1))
  }
  for (const rotation of [10, '10s', 3600, '1h', '60m']) {
    t.doesNotThrow(() => new DpopNonces({ secret: SECRET, rotation }, Date.now), `${rotation} is within bounds`)
  }
})

t.test('each window\'s nonce is computed once, not per request', async (t) => {
  let macs = 0
  const { DpopNonces: Counted } = await t.mockImport<typeof import('../../lib/dpop/nonces.js')>('../../lib/dpop/nonces.js', {
    'node:crypto': {
      ...crypto,
      createHmac: (...args: Parameters<typeof crypto.createHmac>) => {
        macs++
        return crypto.createHmac(...args)
      }
    }
  })
  const clock = { now: START }
  const nonces = new Counted({ secret: SECRET }, () => clock.now)
  t.equal(macs, 0, 'nothing is computed before the first use')
  const nonce = nonces.current()
  t.equal(macs, 2, 'the current and the previous window')
  for (let request = 0; request < 1000; request++) {
    nonces.current()
    nonces.accepts(nonce)
    nonces.accepts('another')
  }
  t.equal(macs, 2, 'a thousand requests in the same window compute nothing')
  clock.now += ROTATION_MS
  nonces.current()
  nonces.accepts(nonce)
  t.equal(macs, 3, 'the next window: one new nonce, the old current becomes the previous')
  clock.now += 5 * ROTATION_MS
  nonces.accepts(nonce)
  t.equal(macs, 5, 'a jump: both computed afresh')
  clock.now -= ROTATION_MS
  nonces.current()
  t.equal(macs, 5, 'a step back of one window computes nothing')
})

t.test('accepts() answers false, never throws, for anything but the nonces', async (t) => {
  const { nonces } = clocked()
  const nonce = nonces.current()
  for (const value of [undefined, null, 42, {}, [nonce], { toString: () => nonce }, Buffer.from(nonce), `${nonce} `, nonce.slice(1), nonce.toUpperCase(), 'x'.repeat(10_000)]) {
    t.equal(nonces.accepts(value as string), false, inspect(value).slice(0, 40))
  }
})

t.test('a fresh instance does not accept the empty string', async (t) => {
  // Before the first computation nothing is cached; an empty cache must not match an empty nonce.
  t.equal(clocked().nonces.accepts(''), false)
})

t.test('the secret is copied: changing the caller\'s bytes later changes nothing', async (t) => {
  const bytes = new TextEncoder().encode(SECRET)
  const { nonces } = clocked({ secret: bytes })
  bytes.fill(0x41)
  t.equal(nonces.current(), expectedNonce(SECRET, START / ROTATION_MS))
})

t.test('options that are not an object, or with an unknown name, are refused', async (t) => {
  for (const options of [undefined, null, 'secret', 42, [SECRET]]) {
    const error = caught(() => new DpopNonces(options, Date.now))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', inspect(options))
    t.match(error.message, /^Invalid option "dpop\.nonce": expected an object$/)
  }
  const misspelt = caught(() => new DpopNonces({ secret: SECRET, rotate: '5m' }, Date.now))
  t.equal(misspelt.code, 'FST_JWT_SECURITY_INVALID_OPTION')
  t.equal(misspelt.message, 'Invalid option "dpop.nonce.rotate": unknown option', 'a typo fails loudly, not silently defaulted')
})

t.test('a missing, empty, short or repetitive secret is a weak secret, named by its option path', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /is missing/],
    [null, /is missing/],
    ['', /at least 32 bytes, got 0/],
    [new Uint8Array(0), /at least 32 bytes, got 0/],
    [SECRET.slice(0, 31), /at least 32 bytes, got 31/],
    [new TextEncoder().encode(SECRET).subarray(0, 31), /at least 32 bytes, got 31/],
    // 23 characters, 30 bytes in UTF-8: bytes are counted, not characters
    [`abcdefghijklmnop${'é'.repeat(7)}`, /at least 32 bytes, got 30/],
    ['a'.repeat(64), /too few distinct/],
    [new Uint8Array(64).fill(7), /too few distinct/]
  ]
  for (const [secret, message] of cases) {
    const error = caught(() => new DpopNonces(secret === undefined ? {} : { secret }, Date.now))
    t.equal(error.code, 'FST_JWT_SECURITY_WEAK_SECRET', inspect(secret).slice(0, 40))
    t.ok(error instanceof RangeError)
    t.match(error.message, /^Invalid option "dpop\.nonce\.secret": /)
    t.match(error.message, message)
  }
  t.doesNotThrow(() => new DpopNonces({ secret: `abcdefghijklmnop${'é'.repeat(8)}` }, Date.now), '24 characters, 32 bytes')
  t.doesNotThrow(() => new DpopNonces({ secret: crypto.randomBytes(32) }, Date.now), 'a Buffer is a Uint8Array')
})

t.test('a secret of another type is refused', async (t) => {
  for (const secret of [42, { secret: SECRET }, crypto.createSecretKey(Buffer.from(SECRET)), new ArrayBuffer(32)]) {
    const error = caught(() => new DpopNonces({ secret }, Date.now))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', inspect(secret).slice(0, 40))
    t.equal(error.message, 'Invalid option "dpop.nonce.secret": expected a string or a Uint8Array')
  }
})

t.test('a rotation that is not a duration, or out of 10 s to 1 h, is refused', async (t) => {
  for (const rotation of [9, '9s', 0, 3601, '2h', '1d', 9.999]) {
    const error = caught(() => new DpopNonces({ secret: SECRET, rotation }, Date.now))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', String(rotation))
    t.equal(error.message, 'Invalid option "dpop.nonce.rotation": expected at least 10 seconds and at most 1 hour')
  }
  for (const rotation of ['1 hour', '1.5m', '-1m', '', -30, Number.NaN, Number.POSITIVE_INFINITY, null, true, {}]) {
    const error = caught(() => new DpopNonces({ secret: SECRET, rotation }, Date.now))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', String(rotation))
    t.match(error.message, /^Invalid option "dpop\.nonce\.rotation": expected /)
  }
})

t.test('errors name the option path given', async (t) => {
  t.match(caught(() => new DpopNonces({ secret: 'short' }, Date.now, 'nonce')).message, /^Invalid option "nonce\.secret"/)
  t.match(caught(() => new DpopNonces({ secret: SECRET, rotation: 1 }, Date.now, 'routes.nonce')).message, /^Invalid option "routes\.nonce\.rotation"/)
  t.match(caught(() => new DpopNonces({ extra: 1 }, Date.now, 'nonce')).message, /^Invalid option "nonce\.extra"/)
  t.match(caught(() => new DpopNonces(null, Date.now, 'nonce')).message, /^Invalid option "nonce"/)
})

t.test('nothing secret appears in an error or in the instance', async (t) => {
  const short = 'Hush-hush-7f3a9c'
  const errors = [
    caught(() => new DpopNonces({ secret: short }, Date.now)),
    caught(() => new DpopNonces({ secret: 'q'.repeat(40) }, Date.now)),
    caught(() => new DpopNonces({ secret: SECRET, rotation: 1 }, Date.now)),
    caught(() => new DpopNonces({ secret: SECRET, rotation: 'soon' }, Date.now)),
    caught(() => new DpopNonces({ secret: SECRET, rotate: 1 }, Date.now))
  ]
  for (const error of errors) {
    const shown = `${error.message} ${inspect(error)}`
    t.notOk(shown.includes(short) || shown.includes('q'.repeat(40)) || shown.includes(SECRET), error.message)
  }
  const { nonces } = clocked()
  nonces.current()
  const shown = inspect(nonces, { depth: 10, showHidden: true })
  for (const form of [SECRET, Buffer.from(SECRET).toString('hex'), Buffer.from(SECRET).toString('base64')]) {
    t.notOk(shown.includes(form), 'the instance does not show its key')
  }
})
