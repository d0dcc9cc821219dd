import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** What a refresh token names: its family, its generation, and the MAC that shows the server made it. */
export interface RefreshTokenParts {
  readonly familyId: string
  readonly generation: number
  readonly mac: string
}

// rt.<family id: 22>.<generation: decimal, at most 9 digits>.<mac: 43>. Four parts, never a
// compact JWS: an access token is never read as a refresh token, nor the other way round.
const REFRESH_TOKEN = /^rt\.([A-Za-z0-9_-]{22})\.(0|[1-9][0-9]{0,8})\.([A-Za-z0-9_-]{43})$/
const MAX_LENGTH = 80

/** A new family id: 128 random bits. */
export function newFamilyId (): string {
  return randomBytes(16).toString('base64url')
}

/** A new family secret: 256 random bits, the key its refresh tokens are authenticated with. */
export function newFamilySecret (): string {
  return randomBytes(32).toString('base64url')
}

/** The refresh token of `generation` of a family: the same every time it is asked for. */
export function refreshTokenOf (family: { readonly id: string, readonly secret: string }, generation: number): string {
  return `rt.${family.id}.${generation}.${macOf(family.secret, family.id, generation)}`
}

/** The parts of a refresh token, or null for anything that is not one (a JWT included). */
export function parseRefreshToken (token: unknown): RefreshTokenParts | null {
  if (typeof token !== 'string' || token.length > MAX_LENGTH) return null
  const match = REFRESH_TOKEN.exec(token)
  if (match === null) return null
  return { familyId: match[1] as string, generation: Number(match[2]), mac: match[3] as string }
}

/** Whether the token's MAC is the one the family's secret gives its generation: compared in constant time. */
export function isAuthentic (parts: RefreshTokenParts, secret: string): boolean {
  const expected = Buffer.from(macOf(secret, parts.familyId, parts.generation))
  return timingSafeEqual(expected, Buffer.from(parts.mac))
}

function macOf (secret: string, familyId: string, generation: number): string {
  return createHmac('sha256', Buffer.from(secret, 'base64url')).update(`${familyId}.${generation}`).digest('base64url')
}
