import t from 'tap'
import * as errors from '../lib/errors.js'

t.test('every code has the one prefix and is listed once', async (t) => {
  t.equal(new Set(errors.errorCodes).size, errors.errorCodes.length)
  for (const code of errors.errorCodes) t.match(code, /^FST_JWT_SECURITY_[A-Z0-9_]+$/)
  t.equal(errors.errorCodes.length, 30)
})

t.test('client-facing errors have fixed messages and 4xx statuses', async (t) => {
  const expected: Array<[new () => Error & { statusCode?: number, code: string }, number, string]> = [
    [errors.NoCredentialsError, 401, 'Authentication is required'],
    [errors.InvalidTokenError, 401, 'The access token is invalid'],
    [errors.TokenExpiredError, 401, 'The access token expired'],
    [errors.InvalidRequestError, 400, 'The authorization request is malformed'],
    [errors.ForbiddenError, 403, 'You do not have permission to perform this action'],
    [errors.InsufficientUserAuthenticationError, 401, 'A different or more recent authentication is required'],
    [errors.InsufficientScopeError, 403, 'The request requires higher privileges than provided by the access token'],
    [errors.CsrfError, 403, 'The request failed the cross-site request forgery check'],
    [errors.PolicyFailedError, 500, 'The security policy failed']
  ]
  for (const [ErrorClass, status, message] of expected) {
    const error = new ErrorClass()
    t.equal(error.statusCode, status, error.code)
    t.equal(error.message, message)
    t.equal(typeof error.stack, status < 500 ? 'undefined' : 'string', `${error.code}: a refusal carries no stack, a fault does`)
  }
})

t.test('configuration errors name the option', async (t) => {
  const error = new errors.InvalidOptionError('leeway', 'at most 300 seconds')
  t.equal(error.message, 'Invalid option "leeway": at most 300 seconds')
  t.ok(error instanceof TypeError)
  t.ok(new errors.WeakSecretError('secret', 'x') instanceof RangeError)
  t.ok(new errors.InvalidClaimsError('x') instanceof TypeError)
})
