import t from 'tap'
import { buildChallenges } from '../lib/challenges.js'

t.test('RFC 6750 challenges for a scheme and realm', async (t) => {
  const challenges = buildChallenges('Bearer', 'api')
  t.same(challenges, {
    bare: 'Bearer realm="api"',
    invalidToken: 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"',
    expired: 'Bearer realm="api", error="invalid_token", error_description="The access token expired"',
    invalidRequest: 'Bearer realm="api", error="invalid_request", error_description="The authorization request is malformed"'
  })
  t.ok(Object.isFrozen(challenges))
})

t.test('a scheme that is not an HTTP token is refused', async (t) => {
  t.throws(() => buildChallenges('Bearer realm', 'api'), { code: 'FST_JWT_SECURITY_INVALID_OPTION' })
  t.throws(() => buildChallenges('', 'api'), { code: 'FST_JWT_SECURITY_INVALID_OPTION' })
})
