import type { FastifyBaseLogger } from 'fastify'
import { checkKnownOptions, type Duration } from '../config/option-checks.js'
import { RedisConnection, type RedisStoreRole } from '../redis/connection.js'
import { checkRotation, familyJson, parseFamily, refreshTtlMilliseconds, subjectIndexKey } from './memory-store.js'
import type { RefreshFamily, RefreshRotation, RefreshStore } from './store.js'

/**
 * The commands {@link RedisRefreshStore} sends: an ioredis client has them all.
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * import { RedisRefreshStore, type RedisRefreshClientLike } from 'fastify-jwt-security'
 *
 * // No offline queue and a command timeout: while Redis is away, refreshes fail at once (503)
 * // instead of waiting for it. The store never closes a client it was given.
 * const client: RedisRefreshClientLike = new Redis('redis://redis.internal:6379/0', { enableOfflineQueue: false, commandTimeout: 1000 })
 * const families = new RedisRefreshStore({ client })
 * ```
 */
export interface RedisRefreshClientLike {
  get (key: string): Promise<string | null>
  mget (...keys: string[]): Promise<Array<string | null>>
  smembers (key: string): Promise<string[]>
  srem (key: string, ...members: string[]): Promise<unknown>
  eval (script: string, numberOfKeys: number, ...args: Array<string | number>): Promise<unknown>
}

/**
 * Options of {@link RedisRefreshStore}: a `url` (the store connects with ioredis) or a `client` of your own.
 * @example
 * ```ts
 * import { RedisRefreshStore, type RedisRefreshStoreOptions } from 'fastify-jwt-security'
 *
 * // The Redis of the revocation store, with keys of the billing app's own.
 * const options: RedisRefreshStoreOptions = { url: 'rediss://cache.internal:6380/0', prefix: 'billing:refresh:', timeout: 0.5 }
 * const families = new RedisRefreshStore(options)
 * ```
 */
export interface RedisRefreshStoreOptions {
  /** `redis://` or `rediss://` URL. The store creates its ioredis client and closes it with the app. */
  url?: string
  /** An ioredis client you created; the store never closes it. Use `enableOfflineQueue: false` and a `commandTimeout` on it. */
  client?: RedisRefreshClientLike
  /** Prefix of every key. Default `'fastify-jwt-security:refresh:'`. */
  prefix?: string
  /** How long one command of the client created from `url` may take before the refresh fails (503). Default `'1s'`. Refused with `client`: set `commandTimeout` on it. */
  timeout?: Duration
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['url', 'client', 'prefix', 'timeout'])
const NAME = 'the Redis refresh store'
const ROLE: RedisStoreRole = {
  defaultPrefix: 'fastify-jwt-security:refresh:',
  name: NAME,
  whileDown: 'refreshes are refused (503)',
  commands: ['get', 'mget', 'smembers', 'srem', 'eval'],
  importIoredis: async () => await import('ioredis')
}

// The scripts derive a family's subject key from the family they read: rotate and delete are given
// only its id. It must be subjectIndexKey's, byte for byte. The checks come before any write, as
// Redis does not undo the writes of a script that fails.
const INDEX_KEY = `local function indexKey (prefix, family)
  if type(family) ~= 'table' or type(family.sub) ~= 'string' or type(family.iss) ~= 'string' then error('not a refresh family') end
  return prefix .. 'sub:' .. string.len(family.iss) .. ':' .. family.iss .. family.sub
end
`
// The subject's set lives as long as its longest-lived family: a shorter time to live never shrinks it.
const KEEP_INDEX = `local function keepIndex (index, id, ttl)
  redis.call('SADD', index, id)
  if redis.call('PTTL', index) < tonumber(ttl) then redis.call('PEXPIRE', index, ttl) end
end
`
// KEYS: the family, its subject's set. ARGV: the family's JSON, its time to live (ms), its id, the
// prefix. A login first drops the ids of families that expired: a set kept alive by one long
// session would otherwise grow with every short one.
const CREATE = `${KEEP_INDEX}
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[4] .. 'family:' .. member) == 0 then redis.call('SREM', KEYS[2], member) end
end
keepIndex(KEYS[2], ARGV[3], ARGV[2])
return 1`
// KEYS: the family. ARGV: from, from + 1, at (JSON), time to live (ms), prefix, id.
// Only the leading fields familyJson puts first are rewritten: re-encoding the whole family with
// cjson would alter its claims.
const ROTATE = `${INDEX_KEY}${KEEP_INDEX}
local value = redis.call('GET', KEYS[1])
if not value then return {0} end
local family = cjson.decode(value)
local index = indexKey(ARGV[5], family)
if family.generation ~= tonumber(ARGV[1]) then return {0, value} end
local rest = string.match(value, '^{"generation":%d+,"rotatedAt":[^,]*,"lastUsedAt":[^,]*(,.*)$')
if not rest then error('not a refresh family as the store writes it') end
value = '{"generation":' .. ARGV[2] .. ',"rotatedAt":' .. ARGV[3] .. ',"lastUsedAt":' .. ARGV[3] .. rest
redis.call('SET', KEYS[1], value, 'PX', ARGV[4])
keepIndex(index, ARGV[6], ARGV[4])
return {1, value}`
// KEYS: the family. ARGV: prefix, id.
const DELETE = `${INDEX_KEY}
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
redis.call('SREM', indexKey(ARGV[1], cjson.decode(value)), ARGV[2])
redis.call('DEL', KEYS[1])
return 1`

/**
 * Refresh-token families in Redis, shared by every instance of the app: a refresh token rotated
 * on one is stale on the others. A family is one key, its JSON, kept for its time to live and
 * renewed at each rotation; each subject has a set of its families' ids, for "list my sessions".
 * A rotation is one Lua script, atomic in Redis: two instances given the same refresh token at once
 * cannot both rotate it. Commands never wait for a lost connection: they fail at once (no offline
 * queue) or after `timeout`, and refreshes are refused with a 503 until Redis is back. A value
 * that is not a family makes the call reject, never answer "no family".
 * @example
 * ```ts
 * import { RedisRefreshStore } from 'fastify-jwt-security'
 *
 * // Every instance of the app, on the Redis it already uses for revocations.
 * const families = new RedisRefreshStore({ url: process.env.REDIS_URL })
 * ```
 */
export class RedisRefreshStore implements RefreshStore {
  readonly #prefix: string
  readonly #connection: RedisConnection<RedisRefreshClientLike>

  constructor (options: RedisRefreshStoreOptions) {
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

  /** Rejects when a family of the same id is there. */
  async create (family: RefreshFamily, ttlSeconds: number): Promise<void> {
    const ttl = refreshTtlMilliseconds(ttlSeconds)
    const json = familyJson(family)
    const reply = await this.#connection.client.eval(CREATE, 2, this.#familyKey(family.id), this.#prefix + subjectIndexKey(family), json, ttl, family.id, this.#prefix)
    if (reply === 1) return
    throw new Error(reply === 0 ? `${NAME} already holds a family of this id` : `${NAME} got an unexpected reply to its create script`)
  }

  async get (id: string): Promise<RefreshFamily | null> {
    const value = await this.#connection.client.get(this.#familyKey(id))
    return value === null ? null : this.#family(value, id)
  }

  async rotate (id: string, from: number, at: number, ttlSeconds: number): Promise<RefreshRotation> {
    const ttl = refreshTtlMilliseconds(ttlSeconds)
    checkRotation(from, at)
    const reply = await this.#connection.client.eval(ROTATE, 1, this.#familyKey(id), from, from + 1, JSON.stringify(at), ttl, this.#prefix, id)
    const parts: unknown[] = Array.isArray(reply) ? reply : []
    const [rotated, value] = parts
    if (rotated === 0 && parts.length === 1) return Object.freeze({ rotated: false, family: null })
    if ((rotated !== 0 && rotated !== 1) || typeof value !== 'string') throw new Error(`${NAME} got an unexpected reply to its rotation script`)
    return Object.freeze({ rotated: rotated === 1, family: this.#family(value, id) })
  }

  async delete (id: string): Promise<boolean> {
    const reply = await this.#connection.client.eval(DELETE, 1, this.#familyKey(id), this.#prefix, id)
    if (reply === 0 || reply === 1) return reply === 1
    throw new Error(`${NAME} got an unexpected reply to its delete script`)
  }

  /** Forgets, on the way, the ids of the subject's families that have expired. */
  async listFor (subject: { readonly sub: string, readonly iss: string }): Promise<RefreshFamily[]> {
    const client = this.#connection.client
    const index = this.#prefix + subjectIndexKey(subject)
    const ids = await client.smembers(index)
    if (ids.length === 0) return []
    const values = await client.mget(...ids.map((id) => this.#familyKey(id)))
    const gone = ids.filter((_, at) => values[at] === null)
    if (gone.length > 0) await client.srem(index, ...gone)
    const families: RefreshFamily[] = []
    ids.forEach((id, at) => {
      const value = values[at] as string | null
      if (value === null) return
      const family = this.#family(value, id)
      // A family of someone else in this set would be listed on this user's account page.
      if (family.sub !== subject.sub || family.iss !== subject.iss) throw new Error(`${NAME} found a family of another subject in a subject's set`)
      families.push(family)
    })
    return families
  }

  /** Disconnects the client the store created; a client you gave is left open. */
  close (): void {
    this.#connection.close()
  }

  #familyKey (id: string): string {
    return `${this.#prefix}family:${id}`
  }

  #family (value: string, id: string): RefreshFamily {
    const family = parseFamily(value)
    // Neither the value nor the id is quoted: the value holds the family's secret.
    if (family === null) throw new Error(`${NAME} found a value that is not a refresh family`)
    if (family.id !== id) throw new Error(`${NAME} found a family under the key of another`)
    return family
  }
}
