import type { FastifyBaseLogger } from 'fastify'
import { checkKnownOptions, type Duration } from '../config/option-checks.js'
import { InvalidOptionError } from '../errors.js'
import { RedisConnection, type RedisStoreRole } from '../redis/connection.js'
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
const ROLE: RedisStoreRole = {
  defaultPrefix: 'fastify-jwt-security:',
  name: 'the Redis revocation store',
  whileDown: 'requests with tokens are refused (503)',
  commands: ['mget', 'set', 'eval'],
  importIoredis: async () => await import('ioredis')
}
// Keeps the later of two "not before" times, and the later expiry: instances whose clocks (or
// settings) differ never move either back. PTTL is -1 for a key without expiry, -2 for none.
const REVOKE_ALL = `local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then current = tonumber(ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if ARGV[2] == '' or left == -1 then redis.call('SET', KEYS[1], current)
else redis.call('SET', KEYS[1], current, 'PX', math.max(left, tonumber(ARGV[2]) * 1000)) end
return current`

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
  readonly #connection: RedisConnection<RedisClientLike>

  constructor (options: RedisRevocationStoreOptions) {
    checkKnownOptions(options, OPTION_NAMES)
    const { failOpen = false } = options
    this.#connection = new RedisConnection(options, ROLE)
    if (typeof failOpen !== 'boolean') throw new InvalidOptionError('failOpen', 'expected true or false')
    this.#prefix = this.#connection.prefix
    this.failOpen = failOpen
  }

  /**
   * Connects the store's own client (the plugin calls this at register). A Redis that is down does
   * not stop the app: it keeps reconnecting. Then reads Redis's persistence settings, once, and
   * warns when a restart of Redis would forget every revocation.
   */
  async init (log: FastifyBaseLogger): Promise<void> {
    await this.#connection.open(log, async (client) => { await checkPersistence(client, log) })
  }

  async isRevoked (query: RevocationQuery): Promise<boolean> {
    const client = this.#connection.client
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
    const client = this.#connection.client
    if (ttlSeconds === null) await client.set(key, '1')
    else await client.set(key, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)))
  }

  async revokeSession (session: RevokedSession, ttlSeconds: number | null): Promise<void> {
    await this.#setWithTtl(this.#prefix + sessionKey(session), ttlSeconds)
  }

  async revokeAllFor (subject: RevokedSubject, notBefore: number, ttlSeconds: number | null): Promise<void> {
    const ttl = ttlSeconds === null ? '' : String(Math.max(1, Math.ceil(ttlSeconds)))
    await this.#connection.client.eval(REVOKE_ALL, 1, this.#prefix + subjectKey(subject), notBefore, ttl)
  }

  /** Disconnects the client the store created; a client you gave is left open. */
  close (): void {
    this.#connection.close()
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
