import type { FastifyBaseLogger } from 'fastify'

/** The claims that name one token in a revocation store. */
export interface RevokedToken {
  readonly jti: string
  readonly iss?: string | undefined
}

/** The claims that name one user in a revocation store. */
export interface RevokedSubject {
  readonly sub: string
  readonly iss?: string | undefined
}

/** The claims that name one cookie session, across the tokens its reissues create. */
export interface RevokedSession {
  readonly sid: string
  readonly iss?: string | undefined
}

/** What a store is asked about each verified token. */
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
 * on `jti` + `iss`, on `sid` + `iss` and on `sub` + `iss`, never on the token string, and carry a time to live so
 * that a store never grows without bound. Every method may be async; a method that cannot do its
 * work must throw (or reject), never answer "not revoked" or pretend to have written.
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
  /** Revokes every token of a subject issued before `notBefore` (seconds since the epoch), for `ttlSeconds` (null: forever). */
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
