import { InvalidClaimsError } from './errors.js'

/** The longest `sub` the plugin creates or accepts. */
export const MAX_USERID_LENGTH = 1024

/**
 * The `sub` a userid becomes: a non-empty string as it is, a safe integer as its decimal digits.
 * Creating a token, logging in and revoking a user's tokens all take userids through here, so
 * `42` and `'42'` name the same user everywhere.
 */
export function toUserid (userid: unknown): string {
  if (typeof userid === 'number' && Number.isSafeInteger(userid)) return String(userid)
  if (typeof userid === 'string' && userid.length > 0 && userid.length <= MAX_USERID_LENGTH) return userid
  throw new InvalidClaimsError(`userid must be a non-empty string of at most ${MAX_USERID_LENGTH} characters, or a safe integer`)
}
