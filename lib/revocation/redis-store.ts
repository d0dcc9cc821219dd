import type { FastifyBaseLogger } from 'fastify'
import { toSeconds, type Duration } from '../config/option-checks.js'
import { InvalidOptionError } from '../errors.js'
import { checkKnownOptions } from '../config/option-checks.js'
import { sessionKey, subjectKey, tokenKey, type RevocationQuery, type RevocationStore, type RevokedSession, type RevokedSubject, type RevokedToken } from './store.js'

/**
 * The commands the store sends: an ioredis client has them all.
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * import { RedisRevocationStore, type RedisClientLike } from 'fastify-jwt-security'
 *
 * // No offline queue and a command timeout: while Redis is away, requests fail at once (503)
 * // instead of waiting for it. The store never closes a client it was given.
 * const client: RedisClientLike = new Redis('redis://redis.internal:6379/0', { enableOfflineQueue: false, commandTimeout: 1000 })
 * const store = new RedisRevocationStore({ client })
 * ```
 */
export interface RedisClientLike {
  mget (...keys: string[]): Promise<Array<string | null>>
  set (key: string, value: string): Promise<unknown>
  set (key: string, value: string, secondsToken: 'EX', seconds: number): Promise<unknown>
  eval (script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>
  /** Used once at start-up to read `appendonly` and `save`, and warn when Redis keeps nothing across a restart; optional. */
  config? (subcommand: 'GET', parameter: string): Promise<unknown>
}

/**
 * Options of {@link RedisRevocationStore}: a `url` (the store connects with ioredis) or a `client` of your own.
 * @example
 * ```ts
 * import { RedisRevocationStore, type RedisRevocationStoreOptions } from 'fastify-jwt-security'
 *
 * // Two apps on one Redis, neither with an `issuer`: their keys would match, and the other app's
 * // revokeAllFor('alice') would sign alice out of this one too.
 * const options: RedisRevocationStoreOptions = { url: 'rediss://cache.internal:6380/0', prefix: 'billing:jwt:', timeout: 0.5 }
 * const store = new RedisRevocationStore(options)
 * ```
 */
export interface RedisRevocationStoreOptions {
  /** `redis://` or `rediss://` URL. The store creates its ioredis client and closes it with the app. */
  url?: string
  /** An ioredis client you created; the store never closes it. Use `enableOfflineQueue: false` and a `commandTimeout` on it. */
  client?: RedisClientLike
  /** Prefix of every key. Default `'fastify-jwt-security:'`. */
  prefix?: string
  /** How long one command of the client created from `url` may take before the request fails (closed, or open). Default `'1s'`. Refused with `client`: set `commandTimeout` on it. */
  timeout?: Duration
  /** Let requests through when Redis cannot be read. Default false: see docs/revocation.md. */
  failOpen?: boolean
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['url', 'client', 'prefix', 'timeout', 'failOpen'])
// Keeps the later of two "not before" times, and the later expiry: instances whose clocks (or
// settings) differ never move either back. PTTL is -1 for a key without expiry, -2 for none.
const REVOKE_ALL = `local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then current = tonumber(ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if ARGV[2] == '' or left == -1 then redis.call('SET', KEYS[1], current)
else redis.call('SET', KEYS[1], current, 'PX', math.max(left, tonumber(ARGV[2]) * 1000)) end
return current`
const RECONNECT_MAX_DELAY = 2000
const LOG_INTERVAL = 10_000

interface OwnedClient extends RedisClientLike {
  connect (): Promise<void>
  disconnect (): void
  on (event: 'error' | 'ready', listener: (error: Error) => void): unknown
  once (event: 'ready', listener: () => void): unknown
}

/**
 * Revocations in Redis, shared by every instance of the app. Keys expire with the tokens they
 * revoke (`SET … EX`), so Redis never grows without bound. Commands never wait for a lost
 * connection: they fail at once (no offline queue) or after `timeout`, and the plugin then
 * refuses authenticated requests with a 503 until Redis is back, unless `failOpen` is set. Redis
 * must keep its data across a restart (AOF or RDB), or a restart makes every revoked token valid
 * again: the store warns at start-up when it can see that neither is on (docs/revocation.md).
 * @example
 * await app.register(jwtSecurity, { secret, revocation: new RedisRevocationStore({ url: process.env.REDIS_URL }) })
 */
export class RedisRevocationStore implements RevocationStore {
  readonly failOpen: boolean
  readonly #prefix: string
  readonly #url: string | null
  readonly #timeout: number
  #client: RedisClientLike | null
  #initialised = false

  constructor (options: RedisRevocationStoreOptions) {
    checkKnownOptions(options, OPTION_NAMES)
    const { url, client, prefix = 'fastify-jwt-security:', timeout = '1s', failOpen = false } = options
    if ((url === undefined) === (client === undefined)) throw new InvalidOptionError('url', 'give either url or client')
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) throw new InvalidOptionError('url', 'expected a redis:// or rediss:// URL')
    if (client !== undefined && (typeof client?.mget !== 'function' || typeof client.set !== 'function' || typeof client.eval !== 'function')) {
      throw new InvalidOptionError('client', 'expected an ioredis client')
    }
    // A client of the app's keeps its own settings: a timeout here would silently not apply.
    if (client !== undefined && options.timeout !== undefined) throw new InvalidOptionError('timeout', 'applies to the client created from url: set commandTimeout on your own client')
    if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'expected a string')
    if (typeof failOpen !== 'boolean') throw new InvalidOptionError('failOpen', 'expected true or false')
    const seconds = toSeconds('timeout', timeout)
    if (seconds <= 0) throw new InvalidOptionError('timeout', 'must be more than 0 seconds')
    this.#timeout = Math.round(seconds * 1000)
    this.#prefix = prefix
    this.#url = url ?? null
    this.#client = client ?? null
    this.failOpen = failOpen
  }

  /**
   * Connects the store's own client (the plugin calls this at register). A Redis that is down does
   * not stop the app: it keeps reconnecting. Then reads Redis's persistence settings, once, and
   * warns when a restart of Redis would forget every revocation.
   */
  async init (log: FastifyBaseLogger): Promise<void> {
    if (this.#initialised) return
    this.#initialised = true
    if (this.#url === null) {
      // A client of the app's may wait for a connection as long as it was told to: start-up does not.
      checkPersistence(this.#client as RedisClientLike, log)
      return
    }
    let Redis: typeof import('ioredis').Redis
    try {
      ({ Redis } = await import('ioredis'))
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
    }) as unknown as OwnedClient
    let lastLogged = 0
    // Without a listener, ioredis's error events would crash the process; while Redis is away
    // they come with every reconnection attempt, so they are logged at most every 10 seconds.
    client.on('error', (error) => {
      const now = Date.now()
      if (now - lastLogged < LOG_INTERVAL) return
      lastLogged = now
      log.error({ err: error }, 'the Redis revocation store is unreachable: requests with tokens are refused (503) until it is back')
    })
    client.on('ready', () => {
      if (lastLogged !== 0) log.info('the Redis revocation store is reachable again')
      lastLogged = 0
    })
    this.#client = client
    const connected = await client.connect().then(() => true, () => false)
    if (connected) await checkPersistence(client, log)
    else client.once('ready', () => { checkPersistence(client, log) })
  }

  async isRevoked (query: RevocationQuery): Promise<boolean> {
    const client = this.#connected()
    // One round trip: the subject's "not before", then the token's and the session's entries.
    const keys = [this.#prefix + subjectKey(query)]
    if (query.jti !== undefined) keys.push(this.#prefix + tokenKey({ jti: query.jti, iss: query.iss }))
    if (query.sid !== undefined) keys.push(this.#prefix + sessionKey({ sid: query.sid, iss: query.iss }))
    const [notBefore, ...entries] = await client.mget(...keys)
    return isAfter(notBefore, query.iat) || entries.some((entry) => entry !== null)
  }

  async revokeToken (token: RevokedToken, ttlSeconds: number | null): Promise<void> {
    await this.#setWithTtl(this.#prefix + tokenKey(token), ttlSeconds)
  }

  async #setWithTtl (key: string, ttlSeconds: number | null): Promise<void> {
    const client = this.#connected()
    if (ttlSeconds === null) await client.set(key, '1')
    else await client.set(key, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)))
  }

  async revokeSession (session: RevokedSession, ttlSeconds: number | null): Promise<void> {
    await this.#setWithTtl(this.#prefix + sessionKey(session), ttlSeconds)
  }

  async revokeAllFor (subject: RevokedSubject, notBefore: number, ttlSeconds: number | null): Promise<void> {
    const ttl = ttlSeconds === null ? '' : String(Math.max(1, Math.ceil(ttlSeconds)))
    await this.#connected().eval(REVOKE_ALL, 1, this.#prefix + subjectKey(subject), notBefore, ttl)
  }

  /** Disconnects the client the store created; a client you gave is left open. */
  close (): void {
    if (this.#url !== null) (this.#client as OwnedClient | null)?.disconnect()
  }

  #connected (): RedisClientLike {
    if (this.#client === null) throw new Error('the Redis revocation store is not initialised: register it with the plugin')
    return this.#client
  }
}

/**
 * Warns when Redis keeps revocations only in memory (neither AOF nor RDB snapshots): a restart then
 * makes every revoked token valid again. Managed Redis often refuses CONFIG: nothing is known, and
 * nothing but a debug line is said. Never rejects: callers need not wait for it.
 */
async function checkPersistence (client: RedisClientLike, log: FastifyBaseLogger): Promise<void> {
  if (typeof client.config !== 'function') return
  let appendonly: unknown
  let save: unknown
  try {
    const [aofReply, saveReply] = await Promise.all([client.config('GET', 'appendonly'), client.config('GET', 'save')])
    appendonly = configValue(aofReply, 'appendonly')
    save = configValue(saveReply, 'save')
  } catch (error) {
    log.debug({ err: error }, 'the Redis revocation store could not read Redis\'s persistence settings (CONFIG GET)')
    return
  }
  if (appendonly === 'no' && save === '') {
    log.warn({ redis: { appendonly, save } }, 'Redis has neither AOF (appendonly) nor RDB snapshots (save) on: a restart of Redis forgets every revocation, and revoked tokens are accepted again until they expire; see docs/revocation.md#persistence')
  }
}

// CONFIG GET answers [name, value] (RESP2, and ioredis's default mapping of RESP3) or { name: value }.
function configValue (reply: unknown, name: string): unknown {
  if (!Array.isArray(reply)) return (reply as Record<string, unknown> | null)?.[name]
  const at = reply.indexOf(name)
  return at === -1 ? undefined : reply[at + 1]
}

function isAfter (notBefore: string | null | undefined, iat: number): boolean {
  return notBefore !== null && notBefore !== undefined && iat < Number(notBefore)
}
