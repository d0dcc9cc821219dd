// Catalogue group G (information leaks and error handling), header transport, in the default and strict configurations.
import t from 'tap'
import {
  b64u, buildChainHarness, buildHarness, CHALLENGE, claims, eachConfig, EXPECTED, expectOutcome, header, jws, makeConfig, NOW, segments, signed,
  validToken, type Config
} from './helpers.js'
import { withBadSignature } from '../helpers/tokens.js'

/** One token per case the catalogue's G1 compares (C8/C9 need an audience/issuer: the default configuration uses their type checks). */
function g1Cases (config: Config, genuine: string): Array<[string, string, boolean]> {
  const [h, p] = segments(genuine)
  const otherHs = config.alg === 'HS256' ? 'HS512' : 'HS256'
  const strict = config.profile === 'strict'
  return [
    ['B1 two segments', `${h}.${p}`, false],
    ['A5 truncated signature', genuine.slice(0, -4), false],
    ['C1 expired', validToken(config, { exp: NOW - config.leeway - 1 }), true],
    ['C8 audience', validToken(config, { aud: strict ? 'other' : [['api']] }), false],
    ['C9 issuer', validToken(config, { iss: strict ? 'evil' : ['https://evil'] }), false],
    ['A9 unknown kid', jws(config.alg, '', header(config, { kid: '/invalid_path' }), claims(config)), false],
    ['A4 another algorithm', jws(otherHs, config.key, header(config, { alg: otherHs }), claims(config)), false],
    ['B5 header not JSON', signed(config, '{"alg":', claims(config)), false],
    ['C10 sub not a string', validToken(config, { sub: 42 }), false]
  ]
}

t.test('G1 uniform client-facing error', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const seen: Array<{ name: string, expired: boolean, challenge: unknown, body: string }> = []
    for (const [name, token, expired] of g1Cases(config, harness.genuine)) {
      await expectOutcome(t, harness, token, expired ? 'R401-expired' : 'R401', name)
      const response = await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${token}` } })
      t.equal(response.statusCode, 401, `${name}: 401`)
      seen.push({ name, expired, challenge: response.headers['www-authenticate'], body: response.body })
    }
    const invalid = seen.filter((item) => !item.expired)
    t.strictSame(new Set(invalid.map((item) => item.body)), new Set([JSON.stringify(EXPECTED.R401.body)]), 'every invalid token gets the same body, byte for byte')
    t.strictSame(new Set(invalid.map((item) => item.challenge)), new Set([CHALLENGE.invalidToken]), 'and the same challenge')
    const expired = seen.filter((item) => item.expired)
    t.strictSame(expired.map((item) => item.challenge), [CHALLENGE.expired], 'only "expired" is told apart, for refresh logic')
    t.strictSame(new Set(seen.map((item) => Object.keys(JSON.parse(item.body)).join())), new Set(['statusCode,code,error,message']), 'one body shape')
    for (const challenge of new Set(seen.map((item) => String(item.challenge)))) {
      t.match(challenge, /^Bearer realm="api", error="invalid_token", error_description="[\x20\x21\x23-\x5B\x5D-\x7E]+"$/, 'a fixed description in RFC 6750 characters')
    }
  })
})

t.test('G2 no 500 and no stack traces', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    // The plugin has no kid lookup: a kid that would hit Object.prototype in a key map is a bad signature.
    const cases: Array<[string, string]> = [
      ['A8 signed with an empty key', jws(config.alg, '', header(config), claims(config))],
      ['A10 kid "__proto__", empty key', jws(config.alg, '', header(config, { kid: '__proto__' }), claims(config))],
      ['A10 kid "__proto__", key "[object Object]"', jws(config.alg, '[object Object]', header(config, { kid: '__proto__' }), claims(config))],
      ['A10 kid "constructor", empty key', jws(config.alg, '', header(config, { kid: 'constructor' }), claims(config))],
      ['A10 kid as an object, empty key', jws(config.alg, '', header(config, { kid: { toString: 'x' } }), claims(config))],
      ['A7 an RS256 token to an HMAC verifier', jws('RS256', makeConfig('default', 'RS256').key, header(config, { alg: 'RS256' }), claims(config))]
    ]
    for (const [name, token] of cases) await expectOutcome(t, harness, token, 'R401', name)
    const protoPayload = JSON.stringify(claims(config)).replace('{', '{"x":{"__proto__":{"admin":true}},')
    const failure = await expectOutcome(t, harness, signed(config, header(config), protoPayload), 'R401', 'a "__proto__" key in the claims')
    t.strictSame(failure, { error: 'invalid_token', reason: 'claim_invalid', claim: '__proto__' })
  })
  for (const kind of ['RS256', 'ES256', 'EdDSA'] as const) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      for (const key of [Buffer.alloc(0), Buffer.from('secret')]) {
        await expectOutcome(t, harness, jws('HS256', key, header(config, { alg: 'HS256' }), claims(config)), 'R401', `A7 HS256 (key of ${key.length} bytes) to a ${kind} verifier`)
      }
    }, kind)
  }
  // A real fault (here the identity callback, as a key store would be) is a 500 with a generic body.
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config, { options: { callback: () => { throw new Error('key store down at 10.0.0.7: secret-detail') } } })
    for (const url of ['/protected', '/public']) {
      const response = await harness.app.inject({ url, headers: { authorization: `Bearer ${harness.genuine}` } })
      t.equal(response.statusCode, 500, `${url}: a server fault is a 500`)
      t.strictSame(response.json(), { statusCode: 500, code: 'FST_JWT_SECURITY_POLICY_FAILED', error: 'Internal Server Error', message: 'The security policy failed' }, `${url}: generic body`)
      t.notMatch(response.body, /secret-detail|10\.0\.0\.7|stack|at \S+ \(/, `${url}: no cause and no stack trace`)
    }
    t.ok(harness.logs.some((line) => line.includes('"level":50') && line.includes('secret-detail')), 'the cause is logged server-side at error level')
  })
})

t.test('G3 logging: reason codes, never the token, headers, claims or secret', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildChainHarness(t, config)
    const canary = 'G3-canary-claim-value'
    const expiredToken = validToken(config, { exp: NOW - config.leeway - 1, name: canary })
    const requests: Array<[string, Record<string, string>, Record<string, string>, string]> = [
      ['an expired token (jose errors carry the payload)', { authorization: `Bearer ${expiredToken}` }, {}, 'token_expired'],
      ['a bad signature', { authorization: `Bearer ${withBadSignature(harness.genuine)}` }, {}, 'signature_invalid'],
      ['a sub that is not a string', { authorization: `Bearer ${validToken(config, { sub: 42, name: canary })}` }, {}, 'claim_invalid'],
      ['alg none', { authorization: `Bearer ${b64u({ alg: 'none' })}.${b64u(claims(config, { name: canary }))}.` }, {}, 'token_malformed'],
      ['a malformed header', { authorization: `Bearer ${harness.genuine} extra` }, {}, 'header_malformed'],
      ['a bad cookie', {}, { '__Host-session': validToken(config, { exp: NOW - 3600, name: canary }) }, 'token_expired']
    ]
    for (const [name, headers, cookies, reason] of requests) {
      const first = harness.logs.length
      const response = await harness.app.inject({ url: '/protected', headers, cookies })
      t.not(response.statusCode, 200, `${name}: refused`)
      const lines = harness.logs.slice(first).map((line) => JSON.parse(line) as Record<string, unknown>)
      const rejection = lines.find((line) => line.msg === 'credential rejected')
      t.match(rejection, { level: 20, authFailure: { reason } }, `${name}: the reason ${reason} is logged at debug`)
      const incoming = lines.find((line) => line.msg === 'incoming request') as { reqId?: unknown, req?: { remoteAddress?: unknown } } | undefined
      t.equal(rejection?.reqId, incoming?.reqId, `${name}: with the request id`)
      t.ok(typeof incoming?.req?.remoteAddress === 'string', `${name}: the client IP is on the request's log line`)
    }
    const good = await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${harness.genuine}` } })
    t.equal(good.statusCode, 200)
    const all = harness.logs.join('\n')
    t.ok(harness.logs.length > requests.length * 3, 'the logs were captured')
    const secrets: Array<[string, string]> = [
      ...requests.flatMap(([name, headers, cookies]): Array<[string, string]> => [
        ...Object.values(headers).map((value): [string, string] => [`${name}: the Authorization value`, value]),
        ...Object.values(headers).map((value): [string, string] => [`${name}: the token`, value.replace(/^Bearer /, '').split(' ')[0] as string]),
        ...Object.values(cookies).map((value): [string, string] => [`${name}: the cookie`, value])
      ]),
      ['the genuine token', harness.genuine],
      ['a claim value', canary],
      ...config.secretForms.map((form): [string, string] => ['the secret', form])
    ]
    for (const [name, value] of secrets) t.notOk(all.includes(value), `${name} is not logged`)
    for (const line of harness.logs) {
      const parsed = JSON.parse(line) as { req?: { headers?: unknown } }
      if (parsed.req !== undefined) t.equal(parsed.req.headers, undefined, 'request headers are not logged')
    }
  })
})

t.test('G6 403 without leaking the policy', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config, {
      routes: (app) => {
        app.get('/why', async (request) => (await request.hasPermission('admin')).msg)
      }
    })
    const why = await harness.app.inject({ url: '/why', headers: { authorization: `Bearer ${harness.genuine}` } })
    t.match(why.body, /none of the principals/, 'the Denied result has a message')
    await expectOutcome(t, harness, { authorization: `Bearer ${harness.genuine}`, url: '/admin' }, 'R403', 'a valid identity without the admin permission')
    const denied = await harness.app.inject({ url: '/admin', headers: { authorization: `Bearer ${harness.genuine}` } })
    t.notMatch(denied.body, /principal|system\.|alice|admin/, 'the Denied text, the principals and the permission stay on the server')
  })
})
