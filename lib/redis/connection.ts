import type { FastifyBaseLogger } from 'fastify'
import { toSeconds, type Duration } from '../config/option-checks.js'
import { InvalidOptionError } from '../errors.js'

/** The options every Redis store takes; each store documents them in its own options type. */
export interface RedisConnectionOptions {
  url?: string
  client?: unknown
  prefix?: string
  timeout?: Duration
}

/** What sets one store's connection apart from another's. */
export interface RedisStoreRole {
  /** How logs and errors name the store: `'the Redis revocation store'`. */
  readonly name: string
  /** What the app does while Redis is away: `'requests with tokens are refused (503)'`. */
  readonly whileDown: string
  /** The methods a client given by the app must have. */
  readonly commands: readonly string[]
  /**
   * `() => import('ioredis')`, written in the store's module rather than here: a mock of ioredis
   * given to a store's module (tap's mockImport) does not reach the TypeScript modules it imports.
   */
  readonly importIoredis: () => Promise<{ Redis: typeof import('ioredis').Redis }>
  /** The prefix of the store's keys when its options give none: `'fastify-jwt-security:'`. */
  readonly defaultPrefix: string
}

interface OwnedClient {
  connect (): Promise<void>
  disconnect (): void
  on (event: 'error' | 'ready', listener: (error: Error) => void): unknown
  once (event: 'ready', listener: () => void): unknown
}

const RECONNECT_MAX_DELAY = 2000
const LOG_INTERVAL = 10_000

/**
 * A store's Redis client: one created from `url`, which the connection owns, connects and closes,
 * or one of the app's, which it only uses.
 */
export class RedisConnection<Client extends object> {
  /** The prefix of every key of the store. */
  readonly prefix: string
  readonly #role: RedisStoreRole
  readonly #url: string | null
  readonly #timeout: number
  #client: Client | null
  #opened = false

  constructor (options: RedisConnectionOptions, role: RedisStoreRole) {
    const { url, client, timeout = '1s' } = options
    if ((url === undefined) === (client === undefined)) throw new InvalidOptionError('url', 'give either url or client')
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) throw new InvalidOptionError('url', 'expected a redis:// or rediss:// URL')
    if (client !== undefined && !role.commands.every((command) => typeof (client as Record<string, unknown> | null)?.[command] === 'function')) {
      throw new InvalidOptionError('client', 'expected an ioredis client')
    }
    // A client of the app's keeps its own settings: a timeout here would silently not apply.
    if (client !== undefined && options.timeout !== undefined) throw new InvalidOptionError('timeout', 'applies to the client created from url: set commandTimeout on your own client')
    const seconds = toSeconds('timeout', timeout)
    if (seconds <= 0) throw new InvalidOptionError('timeout', 'must be more than 0 seconds')
    const { prefix = role.defaultPrefix } = options
    if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'expected a string')
    this.prefix = prefix
    this.#role = role
    this.#timeout = Math.round(seconds * 1000)
    this.#url = url ?? null
    this.#client = (client as Client | undefined) ?? null
  }

  get client (): Client {
    if (this.#client === null) throw new Error(`${this.#role.name} is not initialised: register it with the plugin`)
    return this.#client
  }

  /**
   * Connects the owned client, once however often it is called. A Redis that is down does not stop
   * the app: the client keeps reconnecting. `whenConnected` runs once the client can answer: awaited
   * when it connects at once, on its first reconnection otherwise, and at once, unawaited, for a
   * client of the app's; so it must never reject.
   */
  async open (log: FastifyBaseLogger, whenConnected?: (client: Client) => Promise<void>): Promise<void> {
    if (this.#opened) return
    this.#opened = true
    if (this.#url === null) {
      // A client of the app's may wait for a connection as long as it was told to: start-up does not.
      whenConnected?.(this.#client as Client)
      return
    }
    let Redis: typeof import('ioredis').Redis
    try {
      ({ Redis } = await this.#role.importIoredis())
    } catch (error) {
      throw new InvalidOptionError('url', 'needs the ioredis package: npm install ioredis', { cause: error })
    }
    const client = new Redis(this.#url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      commandTimeout: this.#timeout,
      connectTimeout: this.#timeout,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, RECONNECT_MAX_DELAY)
    }) as unknown as OwnedClient & Client
    this.#logOutages(client, log)
    this.#client = client
    const connected = await client.connect().then(() => true, () => false)
    if (whenConnected === undefined) return
    if (connected) await whenConnected(client)
    else client.once('ready', () => { whenConnected(client) })
  }

  /** Disconnects the client the connection created; a client of the app's is left open. */
  close (): void {
    if (this.#url !== null) (this.#client as OwnedClient | null)?.disconnect()
  }

  #logOutages (client: OwnedClient, log: FastifyBaseLogger): void {
    const { name, whileDown } = this.#role
    let lastLogged = 0
    // Without a listener, ioredis's error events would crash the process; while Redis is away
    // they come with every reconnection attempt, so they are logged at most every 10 seconds.
    client.on('error', (error) => {
      const now = Date.now()
      if (now - lastLogged < LOG_INTERVAL) return
      lastLogged = now
      log.error({ err: error }, `${name} is unreachable: ${whileDown} until it is back`)
    })
    client.on('ready', () => {
      if (lastLogged !== 0) log.info(`${name} is reachable again`)
      lastLogged = 0
    })
  }
}
