import { InvalidOptionError } from './errors.js'

/** The WWW-Authenticate values of one registration, built once (RFC 6750 §3). */
export interface Challenges {
  /** No credentials were sent: no error attribute (§3.1). */
  readonly bare: string
  readonly invalidToken: string
  readonly expired: string
  readonly invalidRequest: string
}

const SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The challenges for `scheme` and `realm`; both were validated, and no request text ever enters them. */
export function buildChallenges (scheme: string, realm: string): Challenges {
  if (!SCHEME.test(scheme)) throw new InvalidOptionError('policy', 'challengeScheme must be an HTTP authentication scheme name')
  const bare = `${scheme} realm="${realm}"`
  return Object.freeze({
    bare,
    invalidToken: `${bare}, error="invalid_token", error_description="The access token is invalid"`,
    expired: `${bare}, error="invalid_token", error_description="The access token expired"`,
    invalidRequest: `${bare}, error="invalid_request", error_description="The authorization request is malformed"`
  })
}
