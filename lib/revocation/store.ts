import type { FastifyBaseLogger } from 'fastify'

/**
 * The claims that name one token in a revocation store.
 * @example
 * ```ts
 * import type { RevokedToken } from 'fastify-jwt-security'
 *
 * // A custom store's revokeToken: the key is jti and iss together, as two issuers may use the same jti.
 * async function revokeToken ({ jti, iss = '' }: RevokedToken, ttlSeconds: number | null): Promise<void> {
 *   await revocations.put({ kind: 'jti', key: jti, iss, notBefore: 0, ttlSeconds }) // your table
 * }
 * ```
 */
export interface RevokedToken {
  readonly jti: string
  readonly iss?: string | undefined
}

/**
 * The claims that name one user in a revocation store.
 * @example
 * ```ts
 * import type { RevokedSubject } from 'fastify-jwt-security'
 *
 * // A custom store's revokeAllFor. It must keep the later notBefore (atomically): instances whose
 * // clocks differ would otherwise move it back and make revoked tokens valid again.
 * async function revokeAllFor ({ sub, iss = '' }: RevokedSubject, notBefore: number, ttlSeconds: number | null): Promise<void> {
 *   await revocations.putLatest({ kind: 'sub', key: sub, iss, notBefore, ttlSeconds }) // your table
 * }
 * ```
 */
export interface RevokedSubject {
  readonly sub: string
  readonly iss?: string | undefined
}

/**
 * The claims that name one cookie session, across the tokens its reissues create.
 * @example
 * ```ts
 * import type { RevokedSession } from 'fastify-jwt-security'
 *
 * // A custom store's revokeSession: one entry refuses every reissue of the session, as they all keep its sid.
 * async function revokeSession ({ sid, iss = '' }: RevokedSession, ttlSeconds: number | null): Promise<void> {
 *   await revocations.put({ kind: 'sid', key: sid, iss, notBefore: 0, ttlSeconds }) // your table
 * }
 * ```
 */
export interface RevokedSession {
  readonly sid: string
  readonly iss?: string | undefined
}

/**
 * What a store is asked about each verified token.
 * @example
 * ```ts
 * import type { RevocationQuery } from 'fastify-jwt-security'
 *
 * // A custom store's isRevoked: jti and sid are absent from tokens minted without them, and a
 * // subject's entry refuses only the tokens issued before it, hence the iat.
 * async function isRevoked ({ jti, sid, iss = '', sub, iat }: RevocationQuery): Promise<boolean> {
 *   const found = await revocations.lookup({ jti, sid, sub, iss }) // your table: one query for all three
 *   return found.token || found.session || (found.subjectNotBefore !== null && iat < found.subjectNotBefore)
 * }
 * ```
 */
export interface RevocationQuery {
  readonly jti?: string | undefined
  /** The session id of a cookie session's token (JwtCookiePolicy sets it). */
  readonly sid?: string | undefined
  readonly iss?: string | undefined
  readonly sub: string
  readonly iat: number
}

/**
 * Where revocations are kept: in memory ({@link MemoryRevocationStore}), in Redis
 * ({@link RedisRevocationStore}), or anywhere a store implements these methods. Entries are keyed
 * on `jti` + `iss`, on `sid` + `iss` and on `sub` + `iss`, never on the token string, and carry a
 * time to live (the token's remaining life; none only with `expiresIn: false`) so that a store
 * does not grow without bound. Every method may be async; a method that cannot do its work must
 * throw (or reject), never answer "not revoked" or pretend to have written.
 * @example
 * ```ts
 * import jwtSecurity, { type RevocationStore } from 'fastify-jwt-security'
 *
 * // Revocations in the app's own database (`revocations` is your code), shared by every instance.
 * const store: RevocationStore = {
 *   isRevoked: async (query) => await revocations.isRevoked(query), // see RevocationQuery
 *   revokeToken: async ({ jti, iss }, ttlSeconds) => { await revocations.put('jti', jti, iss, 0, ttlSeconds) },
 *   revokeSession: async ({ sid, iss }, ttlSeconds) => { await revocations.put('sid', sid, iss, 0, ttlSeconds) },
 *   revokeAllFor: async ({ sub, iss }, notBefore, ttlSeconds) => { await revocations.putLatest('sub', sub, iss, notBefore, ttlSeconds) }
 * }
 * await app.register(jwtSecurity, { secret, revocation: store })
 * ```
 */
export interface RevocationStore {
  /**
   * When the store cannot be read: `false` (the default) refuses authenticated requests with a 503;
   * `true` lets them through as if nothing were revoked (see docs/revocation.md for the risk).
   */
  readonly failOpen?: boolean
  /** Whether the token was revoked: by its `jti`, by its session's `sid`, or by a revocation of its subject after its `iat`. */
  isRevoked (query: RevocationQuery): boolean | Promise<boolean>
  /** Revokes one token for `ttlSeconds` (null: forever). */
  revokeToken (token: RevokedToken, ttlSeconds: number | null): void | Promise<void>
  /** Revokes every token of a cookie session (all its reissues), for `ttlSeconds` (null: forever). */
  revokeSession (session: RevokedSession, ttlSeconds: number | null): void | Promise<void>
  /**
   * Revokes every token of a subject issued before `notBefore` (seconds since the epoch), for
   * `ttlSeconds` (null: forever). A second call keeps the later `notBefore` and the later expiry:
   * an instance whose clock is behind must not make revoked tokens valid again.
   */
  revokeAllFor (subject: RevokedSubject, notBefore: number, ttlSeconds: number | null): void | Promise<void>
  /** Called once when the plugin is registered, with the app's logger (to connect, for example). */
  init? (log: FastifyBaseLogger): void | Promise<void>
  /** Called when the Fastify instance closes. */
  close? (): void | Promise<void>
}

/** The key of a token entry: the length prefix keeps `iss` and `jti` from running into each other. */
export function tokenKey ({ jti, iss = '' }: { jti: string, iss?: string | undefined }): string {
  return `jti:${iss.length}:${iss}${jti}`
}

/** The key of a session entry. */
export function sessionKey ({ sid, iss = '' }: { sid: string, iss?: string | undefined }): string {
  return `sid:${iss.length}:${iss}${sid}`
}

/** The key of a subject entry. */
export function subjectKey ({ sub, iss = '' }: { sub: string, iss?: string | undefined }): string {
  return `sub:${iss.length}:${iss}${sub}`
}
