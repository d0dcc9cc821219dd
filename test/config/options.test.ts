import t from 'tap'
import { JwtHeaderPolicy } from '../../lib/policies/header-policy.js'
import { OPTION_NAMES, resolveOptions, type JwtSecurityOptions } from '../../lib/config/options.js'
import { SECRET } from '../helpers/app.js'
import { caught } from '../helpers/errors.js'

t.test('defaults', async (t) => {
  const options = resolveOptions({ secret: SECRET })
  t.ok(Object.isFrozen(options))
  t.match(options, {
    secret: SECRET,
    algorithm: 'HS512',
    expiresIn: 3600,
    audience: undefined,
    issuer: undefined,
    leeway: 0,
    maxTokenAge: undefined,
    typ: undefined,
    maxTokenLength: 8192,
    callback: null,
    principalClaims: ['roles', 'permissions'],
    encodeClaim: null,
    realm: 'api',
    now: null
  })
  t.ok(options.policy instanceof JwtHeaderPolicy)
})

t.test('durations, lists and functions are resolved', async (t) => {
  const callback = () => []
  const policy = new JwtHeaderPolicy()
  const options = resolveOptions({
    secret: SECRET,
    algorithm: 'HS256',
    expiresIn: '2h',
    leeway: '30s',
    maxTokenAge: '1d',
    audience: ['api', 'web'],
    issuer: 'https://auth.example',
    typ: 'JWT',
    maxTokenLength: 4096,
    callback,
    principalClaims: ['groups'],
    encodeClaim: String,
    policy,
    realm: 'example',
    now: Date.now,
    passphrase: 'pw'
  })
  t.match(options, { expiresIn: 7200, leeway: 30, maxTokenAge: 86400, audience: ['api', 'web'], maxTokenLength: 4096, callback, principalClaims: ['groups'], policy, realm: 'example' })
  t.ok(Object.isFrozen(options.audience))
  t.equal(resolveOptions({ secret: SECRET, expiresIn: false }).expiresIn, null)
  t.equal(resolveOptions({ secret: SECRET, audience: 'api' }).audience, 'api')
})

t.test('every option mistake is a coded error naming the option', async (t) => {
  const notAPolicy = { identity () {}, permits () {}, remember () {} }
  const cases: Array<[string, unknown, RegExp]> = [
    ['options', null, /"options"/],
    ['unknown', { secret: SECRET, expiresin: 60 }, /"expiresin": unknown option/],
    ['algorithm', { secret: SECRET, algorithm: 'none' }, /"algorithm": expected one of HS256/],
    ['algorithm', { secret: SECRET, algorithm: 'hs256' }, /"algorithm"/],
    ['expiresIn', { secret: SECRET, expiresIn: 0 }, /"expiresIn": must be more than 0 seconds/],
    ['expiresIn', { secret: SECRET, expiresIn: -5 }, /"expiresIn"/],
    ['expiresIn', { secret: SECRET, expiresIn: '1 hour' }, /"expiresIn"/],
    ['expiresIn', { secret: SECRET, expiresIn: true }, /"expiresIn"/],
    ['leeway', { secret: SECRET, leeway: NaN }, /"leeway"/],
    ['leeway', { secret: SECRET, leeway: Infinity }, /"leeway"/],
    ['leeway', { secret: SECRET, leeway: -1 }, /"leeway"/],
    ['leeway', { secret: SECRET, leeway: '1 hour' }, /"leeway"/],
    ['leeway', { secret: SECRET, leeway: 301 }, /"leeway": at most 300 seconds/],
    ['maxTokenAge', { secret: SECRET, maxTokenAge: 0 }, /"maxTokenAge"/],
    ['audience', { secret: SECRET, audience: '' }, /"audience"/],
    ['audience', { secret: SECRET, audience: [] }, /"audience"/],
    ['audience', { secret: SECRET, audience: /api/g }, /"audience": .*regular expressions are not accepted/],
    ['audience', { secret: SECRET, audience: ['api', 1] }, /"audience"/],
    ['issuer', { secret: SECRET, issuer: '' }, /"issuer": expected a non-empty string/],
    ['issuer', { secret: SECRET, issuer: /^(a+)+$/ }, /"issuer"/],
    ['typ', { secret: SECRET, typ: 3 }, /"typ"/],
    ['passphrase', { secret: SECRET, passphrase: 3 }, /"passphrase"/],
    ['maxTokenLength', { secret: SECRET, maxTokenLength: 10 }, /"maxTokenLength": expected an integer from 64 to 65536/],
    ['maxTokenLength', { secret: SECRET, maxTokenLength: 1e9 }, /"maxTokenLength"/],
    ['maxTokenLength', { secret: SECRET, maxTokenLength: 100.5 }, /"maxTokenLength"/],
    ['callback', { secret: SECRET, callback: 'roles' }, /"callback": expected a function/],
    ['encodeClaim', { secret: SECRET, encodeClaim: {} }, /"encodeClaim"/],
    ['now', { secret: SECRET, now: 5 }, /"now"/],
    ['principalClaims', { secret: SECRET, principalClaims: 'roles' }, /"principalClaims"/],
    ['principalClaims', { secret: SECRET, principalClaims: [''] }, /"principalClaims"/],
    ['policy', { secret: SECRET, policy: {} }, /"policy": expected a SecurityPolicy: "identity" is not a function/],
    ['policy', { secret: SECRET, policy: null }, /"policy"/],
    ['policy', { secret: SECRET, policy: notAPolicy }, /"forget" is not a function/],
    ['policy', { secret: SECRET, policy: { ...notAPolicy, forget () {}, authenticatedUserid: 'alice' } }, /"authenticatedUserid" is not a function/],
    ['realm', { secret: SECRET, realm: 'a"b' }, /"realm"/],
    ['realm', { secret: SECRET, realm: 'a\\b' }, /"realm"/],
    ['realm', { secret: SECRET, realm: '' }, /"realm"/],
    ['realm', { secret: SECRET, realm: 'caf\u00e9' }, /"realm"/]
  ]
  for (const [name, options, message] of cases) {
    const error = caught(() => resolveOptions(options as JwtSecurityOptions))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', name)
    t.match(error.message, message, name)
    t.ok(error instanceof TypeError)
  }
})

t.test('OPTION_NAMES lists every option', async (t) => {
  t.same([...OPTION_NAMES].sort(), [
    'algorithm', 'audience', 'cache', 'callback', 'debugAuthorization', 'defaultPermission', 'dpop', 'encodeClaim', 'expiresIn', 'issuer',
    'issuers', 'jwks', 'keys', 'leeway', 'maxTokenAge', 'maxTokenLength', 'now', 'passphrase', 'policy', 'principalClaims', 'privateKey', 'protectedResource',
    'publicKey', 'realm', 'refresh', 'revocation', 'rootFactory', 'secret', 'typ'
  ])
})
