import type { FastifyBaseLogger } from 'fastify'
import { checkKnownOptions, type Duration } from '../config/option-checks.js'
import { RedisConnection, type RedisStoreRole } from '../redis/connection.js'
import { replayTtlSeconds, type DpopReplayStore } from './replay-store.js'

/**
 * The command {@link RedisDpopReplayStore} sends: an ioredis client has it.
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * import { RedisDpopReplayStore, type RedisDpopClientLike } from 'fastify-jwt-security'
 *
 * // No offline queue and a command timeout: while Redis is away, requests with DPoP proofs fail at
 * // once (503) instead of waiting for it. The store never closes a client it was given.
 * const client: RedisDpopClientLike = new Redis('redis://redis.internal:6379/0', { enableOfflineQueue: false, commandTimeout: 1000 })
 * const replay = new RedisDpopReplayStore({ client })
 * ```
 */
export interface RedisDpopClientLike {
  /** `SET key value EX seconds NX`: `'OK'` when the key was set, null when it was already there. */
  set (key: string, value: string, secondsToken: 'EX', seconds: number, nx: 'NX'): Promise<unknown>
}

/**
 * Options of {@link RedisDpopReplayStore}: a `url` (the store connects with ioredis) or a `client` of your own.
 * @example
 * ```ts
 * import { RedisDpopReplayStore, type RedisDpopReplayStoreOptions } from 'fastify-jwt-security'
 *
 * // The Redis of the revocation store, with keys of the billing app's own.
 * const options: RedisDpopReplayStoreOptions = { url: 'rediss://cache.internal:6380/0', prefix: 'billing:dpop:', timeout: 0.5 }
 * const replay = new RedisDpopReplayStore(options)
 * ```
 */
export interface RedisDpopReplayStoreOptions {
  /** `redis://` or `rediss://` URL. The store creates its ioredis client and closes it with the app. */
  url?: string
  /** An ioredis client you created; the store never closes it. Use `enableOfflineQueue: false` and a `commandTimeout` on it. */
  client?: RedisDpopClientLike
  /** Prefix of every key. Default `'fastify-jwt-security:dpop:'`. */
  prefix?: string
  /** How long one command of the client created from `url` may take before the request fails (503). Default `'1s'`. Refused with `client`: set `commandTimeout` on it. */
  timeout?: Duration
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['url', 'client', 'prefix', 'timeout'])
const ROLE: RedisStoreRole = {
  defaultPrefix: 'fastify-jwt-security:dpop:',
  name: 'the Redis DPoP replay store',
  whileDown: 'requests with DPoP proofs are refused (503)',
  commands: ['set'],
  importIoredis: async () => await import('ioredis')
}

/**
 * The `jti` of accepted DPoP proofs in Redis, shared by every instance of the app: a proof
 * accepted by one is refused by the others. Each check is one `SET … EX … NX`, atomic in Redis, so
 * two instances given the same proof at once cannot both accept it; keys expire with the proofs.
 * Commands never wait for a lost connection: they fail at once (no offline queue) or after
 * `timeout`, and requests with DPoP proofs are refused with a 503 until Redis is back. There is no
 * `failOpen`: a replay check that cannot be made lets no proof through.
 * @example
 * ```ts
 * import jwtSecurity, { RedisDpopReplayStore } from 'fastify-jwt-security'
 *
 * const replay = new RedisDpopReplayStore({ url: process.env.REDIS_URL })
 * await app.register(jwtSecurity, { secret, dpop: { publicOrigin: 'https://api.example.com', replay } })
 * ```
 */
export class RedisDpopReplayStore implements DpopReplayStore {
  readonly #prefix: string
  readonly #connection: RedisConnection<RedisDpopClientLike>

  constructor (options: RedisDpopReplayStoreOptions) {
    checkKnownOptions(options, OPTION_NAMES)
    this.#connection = new RedisConnection(options, ROLE)
    this.#prefix = this.#connection.prefix
  }

  /**
   * Connects the store's own client (the plugin calls this at register). A Redis that is down does
   * not stop the app: it keeps reconnecting.
   */
  async init (log: FastifyBaseLogger): Promise<void> {
    await this.#connection.open(log)
  }

  async firstUse (key: string, ttlSeconds: number): Promise<boolean> {
    const reply = await this.#connection.client.set(this.#prefix + key, '1', 'EX', replayTtlSeconds(ttlSeconds), 'NX')
    if (reply === 'OK') return true
    if (reply === null) return false
    throw new Error(`the Redis DPoP replay store got ${typeof reply} in reply to SET … NX, expected "OK" or null`)
  }

  /** Disconnects the client the store created; a client you gave is left open. */
  close (): void {
    this.#connection.close()
  }
}
