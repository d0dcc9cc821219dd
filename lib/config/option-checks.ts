import { InvalidOptionError } from '../errors.js'

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }
const DURATION = /^(\d{1,9})(s|m|h|d|w)$/

/**
 * A duration given as seconds or as a string like `'90s'`, `'15m'`, `'2h'`, `'7d'`, `'1w'`.
 * Strings are strict on purpose: `'1 hour'`, `'1.5h'` and `'-1h'` are mistakes, not durations.
 * @example
 * ```ts
 * import jwtSecurity, { type Duration } from 'fastify-jwt-security'
 *
 * const expiresIn: Duration = process.env.TOKEN_LIFETIME ?? '15m' // or 900
 * await app.register(jwtSecurity, { secret: process.env.JWT_SECRET, expiresIn, leeway: 30 })
 * ```
 */
export type Duration = number | string

/** Seconds in `value`; throws a coded error naming `option` for anything but a finite, non-negative duration. */
export function toSeconds (option: string, value: unknown): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value
    throw new InvalidOptionError(option, 'expected a finite number of seconds, 0 or more')
  }
  if (typeof value === 'string') {
    const match = DURATION.exec(value)
    if (match !== null) return Number(match[1]) * (UNIT_SECONDS[match[2] as string] as number)
  }
  throw new InvalidOptionError(option, 'expected seconds or a duration such as "90s", "15m", "2h", "7d"')
}

/** Refuses an options object that is not an object or has a key outside `names`: typos fail loudly. */
export function checkKnownOptions (options: unknown, names: ReadonlySet<string>, prefix = ''): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(prefix === '' ? 'options' : prefix.slice(0, -1), 'expected an object')
  }
  for (const name of Object.keys(options)) {
    if (!names.has(name)) throw new InvalidOptionError(`${prefix}${name}`, 'unknown option')
  }
}

const MAX_LEEWAY = 300

/** A clock leeway: a duration of at most 300 s, 0 when absent. */
export function checkLeeway (option: string, value: unknown): number {
  const seconds = toSeconds(option, value ?? 0)
  if (seconds > MAX_LEEWAY) throw new InvalidOptionError(option, `at most ${MAX_LEEWAY} seconds`)
  return seconds
}

/** An audience: a non-empty string, or a non-empty array of them (frozen). */
export function checkAudience (option: string, value: unknown): string | readonly string[] {
  if (typeof value === 'string' && value.length > 0) return value
  if (Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string' && item.length > 0)) {
    return Object.freeze([...value])
  }
  throw new InvalidOptionError(option, 'expected a non-empty string or a non-empty array of them (regular expressions are not accepted)')
}

/**
 * The options every in-memory store takes: its capacity, under the name `capacityName` (a positive
 * integer, default 100,000), and `now`, its clock in milliseconds (default `Date.now`).
 */
export function resolveMemoryStoreOptions (options: unknown, names: ReadonlySet<string>, capacityName: string): { capacity: number, now: () => number } {
  checkKnownOptions(options, names)
  const { [capacityName]: capacity = 100_000, now = Date.now } = options as Record<string, unknown>
  if (!Number.isSafeInteger(capacity) || (capacity as number) < 1) throw new InvalidOptionError(capacityName, 'expected a positive integer')
  if (typeof now !== 'function') throw new InvalidOptionError('now', 'expected a function returning milliseconds')
  return { capacity: capacity as number, now: now as () => number }
}
