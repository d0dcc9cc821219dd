/** Why a presented token was refused. Logged at debug and exposed as `request.authFailure.reason`. */
export type TokenRejectionReason =
  | 'token_too_long'
  | 'token_malformed'
  | 'algorithm_not_allowed'
  | 'signature_invalid'
  | 'token_expired'
  | 'claim_invalid'
  | 'token_unsupported'
  | 'key_unknown'
  | 'keys_unavailable'
  | 'key_unusable'

/** A refused token. Carries a reason code and the name of the failing claim, never the token or its values. */
export class TokenRejection extends Error {
  readonly reason: TokenRejectionReason
  readonly claim: string | undefined

  constructor (reason: TokenRejectionReason, claim?: string, cause?: unknown) {
    super(reason, cause === undefined ? undefined : { cause })
    this.name = 'TokenRejection'
    this.reason = reason
    this.claim = claim
  }
}
