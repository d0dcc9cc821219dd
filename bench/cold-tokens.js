// The token pool of the "cold" contenders: tokens signed here, in the parent, by hand with
// node:crypto (HS256), so that every request of a run carries a token the server has never seen
// and no verification cache can help. The servers get the secret through BENCH_JWT_SECRET.
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { fullCollection } from './full-collection.js'

export const SECRET_ENV = 'BENCH_JWT_SECRET'
const LIFETIME = 3600
// A pool is signed again when it would expire less than this many seconds after a run ends.
const EXPIRY_MARGIN = 120
const CHECK_TOKENS = 2
const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')

/** Userids 'u0000' to 'u0999' as the server-signed pools, so every reply has the same size. */
const userid = (index) => 'u' + String(index % 1000).padStart(4, '0')

/** The pool's size for runs of `seconds` (warm-up included) at up to `rate` req/s: 1.5 times the need. */
export function coldPoolSize (seconds, rate) {
  return Math.ceil(seconds * rate * 1.5)
}

export class ColdPool {
  /** The 32-byte HS256 secret, shared by the cold servers. */
  secret = randomBytes(32)
  /** Tokens reserved for the checks before each run: signed the same way, never in the rotation. */
  check = []
  /** `Bearer <token>` for every request, in order. */
  values = []
  /** Seconds since the epoch: the tokens' exp. */
  expiresAt = 0
  /** How each signing went: tokens, milliseconds, memory. */
  generations = []

  constructor (size) {
    this.size = size
  }

  /** The environment of a cold server. */
  get env () {
    return { [SECRET_ENV]: this.secret.toString('base64url') }
  }

  /** Signs the pool, again when it would expire within `seconds` from now (plus a margin). */
  ensureFresh (seconds) {
    if (Date.now() / 1000 + seconds + EXPIRY_MARGIN < this.expiresAt) return null
    return this.#generate()
  }

  #generate () {
    // Drop the old pool first, so that the memory measured is the new one's.
    this.values = []
    this.check = []
    // A full collection before and after signing makes the memory figures exact; without one they
    // include the garbage of the signing.
    fullCollection?.()
    const before = process.memoryUsage()
    const started = process.hrtime.bigint()
    const iat = Math.floor(Date.now() / 1000)
    const exp = iat + LIFETIME
    const key = this.secret
    const sign = (sub) => {
      const payload = Buffer.from(`{"sub":"${sub}","iat":${iat},"exp":${exp},"jti":"${randomUUID()}","roles":["view"]}`).toString('base64url')
      const input = `${HEADER}.${payload}`
      return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
    }
    for (let index = 0; index < CHECK_TOKENS; index++) {
      const sub = 'c' + String(index).padStart(4, '0')
      this.check.push({ userid: sub, token: sign(sub) })
    }
    const values = new Array(this.size)
    // Copied through latin1 into one flat string: a third less memory than the concatenation's
    // tree of strings, and nothing left for the load generator to flatten when it sends it.
    for (let index = 0; index < this.size; index++) values[index] = Buffer.from(`Bearer ${sign(userid(index))}`, 'latin1').toString('latin1')
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    this.values = values
    this.expiresAt = exp
    fullCollection?.()
    const after = process.memoryUsage()
    const generation = {
      date: new Date(iat * 1000).toISOString(),
      tokens: this.size,
      tokenLength: values[0].length - 'Bearer '.length,
      ms,
      exactMemory: fullCollection !== null,
      heapBytes: after.heapUsed - before.heapUsed,
      rssBytes: after.rss - before.rss
    }
    this.generations.push(generation)
    return generation
  }
}

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`

export function describeGeneration (generation) {
  return `${generation.tokens.toLocaleString('en-US')} tokens of ${generation.tokenLength} characters signed in ` +
    `${(generation.ms / 1000).toFixed(1)} s; heap +${mib(generation.heapBytes)}, RSS +${mib(generation.rssBytes)}` +
    (generation.exactMemory ? '' : ' (without a full GC: approximate)')
}
