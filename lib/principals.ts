/** The principal every request has, anonymous or not (Pyramid's `Everyone`). */
export const Everyone = 'system.Everyone'

/** The principal of every authenticated request (Pyramid's `Authenticated`). */
export const Authenticated = 'system.Authenticated'

/** The principals of an anonymous request. */
export const ANONYMOUS_PRINCIPALS: readonly string[] = Object.freeze([Everyone])

/** Userids that would impersonate a system principal: never accepted as an identity. */
export function isReservedUserid (userid: string): boolean {
  return userid === Everyone || userid === Authenticated
}
