import type { FastifyBaseLogger } from 'fastify'

/**
 * One refresh-token session ("family", RFC 9700 §4.14.2): every refresh token of one login, each
 * rotation replacing the last. Its refresh tokens are computed from `secret` and a generation,
 * so that the store keeps no token, only the family. Times are milliseconds since the epoch, by
 * the plugin's clock. A store keeps it as it was given: JSON-safe values only.
 * @example
 * ```ts
 * import type { RefreshFamily } from 'fastify-jwt-security'
 *
 * // An account page lists the sessions of a user: when each began and was last used.
 * function describe (family: RefreshFamily) {
 *   return { id: family.id, since: new Date(family.createdAt), lastUsed: new Date(family.lastUsedAt) }
 * }
 * ```
 */
export interface RefreshFamily {
  /** The family's id: 22 base64url characters, random. Its access tokens carry it as `sid`. */
  readonly id: string
  readonly sub: string
  /** The issuer of its access tokens (the plugin's `issuer` option), or `''`. */
  readonly iss: string
  /** The key its refresh tokens are authenticated with: 43 base64url characters, random. */
  readonly secret: string
  /** The generation of the one refresh token that may be used now; 0 for the first. */
  readonly generation: number
  readonly createdAt: number
  /** When `generation` last changed (`createdAt` before any rotation). */
  readonly rotatedAt: number
  readonly lastUsedAt: number
  /** When the session ends whatever its use (its absolute lifetime). */
  readonly expiresAt: number
  /** The extra claims of its access tokens, as the login gave them. */
  readonly claims: Readonly<Record<string, unknown>>
  /** The RFC 7638 thumbprint of the DPoP key its tokens are bound to, or null. */
  readonly jkt: string | null
}

/**
 * What a rotation found: `rotated` true when the family was at the generation expected, which is
 * now the next one; false otherwise, with the family as it is, or null when it is gone.
 * @example
 * ```ts
 * import type { RefreshRotation } from 'fastify-jwt-security'
 *
 * // A custom store's rotate: compare and set in one transaction of your database.
 * async function rotate (id: string, from: number, at: number, ttlSeconds: number): Promise<RefreshRotation> {
 *   return await families.compareAndRotate(id, from, at, ttlSeconds) // your table
 * }
 * ```
 */
export interface RefreshRotation {
  readonly rotated: boolean
  readonly family: RefreshFamily | null
}

/**
 * Where refresh-token families live: in memory ({@link MemoryRefreshStore}, one instance), in
 * Redis ({@link RedisRefreshStore}, several), or anywhere a store implements these methods. Each
 * family has a time to live, renewed at each rotation, so that nothing grows without bound. A
 * method that cannot do its work must throw (or reject): refreshes then fail with a 503, never
 * pass.
 * @example
 * ```ts
 * import jwtSecurity, { type RefreshStore } from 'fastify-jwt-security'
 *
 * // Families in the app's own database (`families` is your code), shared by every instance.
 * const store: RefreshStore = {
 *   create: async (family, ttlSeconds) => { await families.insert(family, ttlSeconds) },
 *   get: async (id) => await families.find(id),
 *   rotate: async (id, from, at, ttlSeconds) => await families.compareAndRotate(id, from, at, ttlSeconds),
 *   delete: async (id) => await families.remove(id),
 *   listFor: async ({ sub, iss }) => await families.ofSubject(sub, iss)
 * }
 * ```
 */
export interface RefreshStore {
  /** Keeps a new family for `ttlSeconds`. */
  create (family: RefreshFamily, ttlSeconds: number): void | Promise<void>
  /** The family of `id`, or null when there is none (never created, deleted, or expired). */
  get (id: string): RefreshFamily | null | Promise<RefreshFamily | null>
  /**
   * Atomically: when the family of `id` is at generation `from`, moves it to `from + 1` with
   * `rotatedAt` and `lastUsedAt` set to `at`, and keeps it `ttlSeconds` more. Two calls with the
   * same `from` never both rotate.
   */
  rotate (id: string, from: number, at: number, ttlSeconds: number): RefreshRotation | Promise<RefreshRotation>
  /** Deletes the family of `id`; true when there was one. */
  delete (id: string): boolean | Promise<boolean>
  /** The families of a subject (of `iss`, `''` when none), in no particular order; expired ones are left out. */
  listFor (subject: { readonly sub: string, readonly iss: string }): readonly RefreshFamily[] | Promise<readonly RefreshFamily[]>
  /** Called once when the plugin is registered, with the app's logger (to connect, for example). */
  init? (log: FastifyBaseLogger): void | Promise<void>
  /** Called when the Fastify instance closes. */
  close? (): void | Promise<void>
}
