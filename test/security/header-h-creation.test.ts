// Catalogue group H (token creation: createJwtToken, remember), in the default and strict configurations.
import t, { type Test } from 'tap'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import {
  AUDIENCE, buildChainHarness, buildHarness, eachConfig, expectCfg, expectOutcome, ISSUER, NOW, type Harness, type KeyKind
} from './helpers.js'

/** createJwtToken rejects with a TypeError carrying one of the plugin's codes, and produces nothing. */
async function refusedAtCreation (t: Test, harness: Harness, name: string, create: () => Promise<string>): Promise<void> {
  let token: string | undefined
  let error: (Error & { code?: string }) | undefined
  try {
    token = await create()
  } catch (caught) {
    error = caught as Error & { code?: string }
  }
  t.equal(token, undefined, `${name}: no token is produced`)
  t.ok(error instanceof TypeError, `${name}: a TypeError`)
  t.match(error?.code, /^FST_JWT_SECURITY_INVALID_(CLAIMS|OPTION)$/, `${name}: a coded error`)
}

t.test('H2 time inputs are finite and bounded', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const lifetimes: Array<[string, unknown]> = [
      ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['-1', -1], ['0', 0], ['"1 hour"', '1 hour'], ['"-1h"', '-1h'],
      ['"1.5h"', '1.5h'], ['"1e3"', '1e3'], ['""', ''], ['null', null], ['true', true], ['{}', {}], ['1n', 1n],
      // Bounded: an exp past 9999-12-31 is one the plugin's own verifier refuses (claim_invalid exp).
      ['999999999 weeks', '999999999w'], ['1e15 seconds', 1e15]
    ]
    if (config.maxTokenAge !== null) lifetimes.push(['maxTokenAge + 1 s', config.maxTokenAge + 1], ['"2h" (above maxTokenAge)', '2h'], ['"61m"', '61m'])
    for (const [name, expiresIn] of lifetimes) {
      await refusedAtCreation(t, harness, `expiresIn ${name}`, () => harness.app.createJwtToken('alice', {}, { expiresIn: expiresIn as number }))
    }
    if (config.maxTokenAge !== null) {
      const longest = await harness.app.createJwtToken('alice', {}, { expiresIn: config.maxTokenAge })
      t.equal(decodeJwt(longest).exp, NOW + config.maxTokenAge, 'a lifetime equal to maxTokenAge is allowed')
    }
    for (const [name, expiresIn] of [['NaN', NaN], ['Infinity', Infinity], ['-1', -1], ['"1 hour"', '1 hour'], ['0', 0], ['999999999 weeks', '999999999w']] as const) {
      await expectCfg(t, { ...config.options, expiresIn }, 'FST_JWT_SECURITY_INVALID_OPTION', /"expiresIn"/, `option expiresIn ${name}`)
    }
    if (config.maxTokenAge !== null) {
      await expectCfg(t, { ...config.options, expiresIn: '2h' }, 'FST_JWT_SECURITY_INVALID_OPTION', /"expiresIn"/, 'option expiresIn "2h" above maxTokenAge "1h"')
    }
    for (const [name, maxTokenAge] of [['NaN', NaN], ['Infinity', Infinity], ['-1', -1], ['"1 hour"', '1 hour'], ['0', 0]] as const) {
      await expectCfg(t, { ...config.options, maxTokenAge }, 'FST_JWT_SECURITY_INVALID_OPTION', /"maxTokenAge"/, `option maxTokenAge ${name}`)
    }
  })
})

t.test('H3 payload shape', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    class Profile { name = 'alice' }
    const cycle: Record<string, unknown> = { a: 1 }
    cycle.self = cycle
    const claimSets: Array<[string, unknown]> = [
      ['an array', ['admin']],
      ['null', null],
      ['a class instance', new Profile()],
      ['a Date', new Date(NOW * 1000)],
      ['a Map', new Map([['roles', ['admin']]])],
      ['a string', 'admin'],
      ['a cycle', cycle],
      ['a BigInt claim', { n: 1n }],
      ['a function claim', { f: () => 'x' }],
      ['an undefined claim', { u: undefined }],
      ['a symbol claim', { s: Symbol('x') }],
      ['a NaN claim', { n: NaN }],
      ['a nested undefined', { deep: { list: [1, undefined] } }],
      ['a class instance claim', { profile: new Profile() }],
      ['a __proto__ key', JSON.parse('{"x":{"__proto__":{"admin":true}}}')],
      ['sub as a claim', { sub: 'admin' }],
      ['sub as a number claim', { sub: 42 }],
      ['exp as a claim', { exp: NOW + 1e9 }],
      ['aud as a claim', { aud: 'other' }]
    ]
    for (const [name, extra] of claimSets) {
      await refusedAtCreation(t, harness, `claims: ${name}`, () => harness.app.createJwtToken('alice', extra as Record<string, unknown>))
    }
    const userids: Array<[string, unknown]> = [
      ['an object', { id: 1 }], ['an array', ['alice']], ['null', null], ['undefined', undefined], ['true', true],
      ['1.5', 1.5], ['NaN', NaN], ['a BigInt', 1n], ['an unsafe integer', 2 ** 53], ['""', ''], ['1025 characters', 'x'.repeat(1025)]
    ]
    for (const [name, userid] of userids) {
      await refusedAtCreation(t, harness, `userid ${name}`, () => harness.app.createJwtToken(userid as string))
    }
    // A safe-integer userid is documented to become a string subject: the token never carries a non-string sub.
    const numeric = await harness.app.createJwtToken(42)
    t.equal(decodeJwt(numeric).sub, '42', 'userid 42 becomes sub "42"')
  })
})

t.test('H4 size budget for cookie sessions', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildChainHarness(t, config, {
      routes: (app) => {
        app.post('/login', async (request, reply) => {
          await reply.remember('alice', { blob: 'x'.repeat(Number((request.query as { size: string }).size)) })
          return { ok: true }
        })
      }
    })
    const large = await harness.app.inject({ method: 'POST', url: '/login?size=4000' })
    t.equal(large.statusCode, 500, 'a session cookie over 4096 bytes is refused at issue time')
    t.equal(large.json().code, 'FST_JWT_SECURITY_COOKIE_TOO_LARGE')
    t.equal(large.headers['set-cookie'], undefined, 'no cookie is sent')
    const fits = await harness.app.inject({ method: 'POST', url: '/login?size=1000' })
    t.equal(fits.statusCode, 200, 'a smaller session is issued')
    t.ok(fits.headers['set-cookie'], 'with its cookie')
  })
})

t.test('H5 round trip', async (t) => {
  for (const kind of ['hmac', 'RS256', 'ES256', 'EdDSA'] as KeyKind[]) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      const token = await harness.app.createJwtToken('alice', { roles: ['view'] })
      const { kid, ...header } = decodeProtectedHeader(token)
      t.strictSame(header, { alg: config.alg, typ: 'JWT' }, 'the header pins the algorithm and the type')
      // A lone secret has no kid; a lone key pair is named by its RFC 7638 thumbprint.
      if (config.alg.startsWith('HS')) t.equal(kid, undefined, 'no kid for a secret')
      else t.match(kid, /^[A-Za-z0-9_-]{43}$/, 'the key\'s thumbprint as kid')
      const claims = decodeJwt(token)
      if (config.profile === 'strict') t.match(claims, { iss: ISSUER, aud: AUDIENCE, exp: NOW + 900 }, 'issuer, audience and expiresIn 15m')
      await expectOutcome(t, harness, token, 'OK', 'a created token verifies')
      // The size of what is created stays within what is verified (maxTokenLength 8192).
      let big: string | undefined
      try {
        big = await harness.app.createJwtToken('alice', { blob: 'x'.repeat(7000) })
      } catch (error) {
        t.ok(error instanceof TypeError, 'a token over maxTokenLength is refused at creation')
      }
      if (big !== undefined) await expectOutcome(t, harness, big, 'OK', `a created token of ${big.length} characters verifies`)
      if (config.profile === 'strict') {
        const otherPurpose = await harness.app.createJwtToken('alice', {}, { audience: 'email-verify' })
        const failure = await expectOutcome(t, harness, otherPurpose, 'R401', 'a token created for another audience is not a session')
        t.equal(failure?.claim, 'aud')
      }
    }, kind)
  }
})
