import type { FastifyBaseLogger } from 'fastify'

const DEFAULT_INTERVAL = 10_000

/**
 * Logs a dependency's outage (a key server, a revocation store) in a handful of lines however many
 * requests meet it: the first failure at once, then at most one line per interval with the number
 * of failures since the previous line, and one line when it is back.
 */
export class OutageLog {
  readonly #interval: number
  readonly #level: 'error' | 'warn'
  #since = 0
  #lastLogged = 0
  #unlogged = 0
  #failures = 0

  constructor (level: 'error' | 'warn' = 'error', interval = DEFAULT_INTERVAL) {
    this.#level = level
    this.#interval = interval
  }

  /** Whether the last call was a failure: the next success ends the outage. */
  get active (): boolean {
    return this.#since !== 0
  }

  failed (log: FastifyBaseLogger, error: unknown, message: string): void {
    const now = Date.now()
    if (this.#since === 0) this.#since = now
    this.#failures++
    if (now - this.#lastLogged < this.#interval) {
      this.#unlogged++
      return
    }
    log[this.#level]({ err: error, failures: this.#unlogged + 1, outageSeconds: Math.round((now - this.#since) / 1000) }, message)
    this.#lastLogged = now
    this.#unlogged = 0
  }

  recovered (log: FastifyBaseLogger, message: string): void {
    if (this.#since === 0) return
    log.warn({ failures: this.#failures, outageSeconds: Math.round((Date.now() - this.#since) / 1000) }, message)
    this.#since = 0
    this.#lastLogged = 0
    this.#unlogged = 0
    this.#failures = 0
  }
}
