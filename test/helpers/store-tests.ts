import Fastify, { type FastifyBaseLogger } from 'fastify'
import type { RefreshFamily } from '../../lib/refresh/store.js'

// What the tests of the stores share: a logger whose lines they read, a wait for a condition
// (a Redis coming back), and refresh families to store.

export interface LogLine { level: number, msg: string }

/** A logger at info level whose lines land, parsed, in `lines`. */
export function capturingLog (lines: LogLine[] = []): FastifyBaseLogger {
  return Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } }).log
}

/** Whether `condition` held within `attempts` tries, 100 ms apart. */
export async function until (condition: () => boolean | Promise<boolean>, attempts = 60): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (await condition()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}

/** The clock of the stored families: 2027-01-15. */
export const T0 = 1_800_000_000_000
/** The secret of every family: a store's errors must never show it. */
export const FAMILY_SECRET = 'S3cr3t'.padEnd(43, 'q')

let counter = 0
/** A new family of alice's, with an id of its own, at T0, for 30 days. */
export function refreshFamily (overrides: Partial<RefreshFamily> = {}): RefreshFamily {
  counter++
  return {
    id: `family-${counter}`.padEnd(22, 'x'),
    sub: 'alice',
    iss: 'https://issuer.example',
    secret: FAMILY_SECRET,
    generation: 0,
    createdAt: T0,
    rotatedAt: T0,
    lastUsedAt: T0,
    expiresAt: T0 + 30 * 86_400_000,
    claims: { roles: ['admin'], org: { id: 7 } },
    jkt: null,
    ...overrides
  }
}
