// Catalogue group C (claims), header transport, in the default and strict configurations.
// The strict configuration has leeway L = 30 s and maxTokenAge 1 h; the default has L = 0 and no
// maxTokenAge, so time boundaries are written relative to the configuration's leeway.
import t from 'tap'
import {
  AUDIENCE, buildHarness, claims, eachConfig, expectCfg, expectOutcome, header, ISSUER, NOW, signed, validToken
} from './helpers.js'

t.test('C1 expired', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const L = config.leeway
    for (const [name, exp] of [[`exp = now - ${L} - 1`, NOW - L - 1], [`exp = now - ${L} (exp == now with the leeway)`, NOW - L], ['exp = now - 1 day', NOW - 86400]] as const) {
      const failure = await expectOutcome(t, harness, validToken(config, { exp, iat: NOW - 600 }), 'R401-expired', name)
      t.equal(failure?.claim, 'exp', `${name}: the exp claim`)
    }
  })
})

t.test('C2 exp missing', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const failure = await expectOutcome(t, harness, validToken(config, { exp: undefined }), 'R401', 'no exp')
    t.strictSame(failure, { error: 'invalid_token', reason: 'claim_invalid', claim: 'exp' })
  })
})

t.test('C3 exp, nbf and iat of the wrong type', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const values: Array<[string, string]> = [
      ['a numeric string', '"1999999999"'],
      ['null', 'null'],
      ['true', 'true'],
      ['false', 'false'],
      ['an array', '[1999999999]'],
      ['an object', '{}'],
      ['"jwt_tool"', '"jwt_tool"'],
      ['1e999 (Infinity)', '1e999'],
      ['-1e999', '-1e999'],
      ['a negative number', '-1'],
      ['a date past 9999-12-31', '253402300800']
    ]
    const good = claims(config, { nbf: NOW - 10 })
    for (const claim of ['exp', 'nbf', 'iat']) {
      for (const [name, raw] of values) {
        // Raw JSON: 1e999 and -1 cannot be written through JSON.stringify.
        const payload = JSON.stringify({ ...good, [claim]: 0 }).replace(`"${claim}":0`, `"${claim}":${raw}`)
        // A number far in the past is an expiry: for exp always, for iat when maxTokenAge is set.
        const past = raw === '-1' || raw === '-1e999'
        const outcome = past && (claim === 'exp' || (claim === 'iat' && config.maxTokenAge !== null)) ? 'R401-expired' : 'R401'
        const failure = await expectOutcome(t, harness, signed(config, header(config), payload), outcome, `${claim} ${name}`)
        t.equal(failure?.claim, claim, `${claim} ${name}: the failing claim is named`)
      }
    }
  })
})

t.test('C5 not before', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const L = config.leeway
    const failure = await expectOutcome(t, harness, validToken(config, { nbf: NOW + L + 1 }), 'R401', `nbf = now + ${L + 1}`)
    t.equal(failure?.claim, 'nbf')
    await expectOutcome(t, harness, validToken(config, { nbf: NOW + L }), 'OK', `nbf = now + ${L}`)
    await expectOutcome(t, harness, validToken(config, { nbf: NOW }), 'OK', 'nbf = now')
  })
})

t.test('C6 iat in the future', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const L = config.leeway
    const failure = await expectOutcome(t, harness, validToken(config, { iat: NOW + 3600, exp: NOW + 3900 }), 'R401', 'iat = now + 3600')
    t.equal(failure?.claim, 'iat')
    await expectOutcome(t, harness, validToken(config, { iat: NOW + L + 1 }), 'R401', `iat = now + ${L + 1}`)
    await expectOutcome(t, harness, validToken(config, { iat: NOW + L }), 'OK', `iat = now + ${L}`)
  })
})

t.test('C7 leeway edges and leeway configuration', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const L = config.leeway
    await expectOutcome(t, harness, validToken(config, { exp: NOW - L }), 'R401-expired', `exp = now - ${L}`)
    await expectOutcome(t, harness, validToken(config, { exp: NOW - L + 1 }), 'OK', `exp = now - ${L} + 1`)
    await expectOutcome(t, harness, validToken(config, { nbf: NOW + L }), 'OK', `nbf = now + ${L}`)
    await expectOutcome(t, harness, validToken(config, { nbf: NOW + L + 1 }), 'R401', `nbf = now + ${L + 1}`)
    if (config.maxTokenAge !== null) {
      const oldest = NOW - config.maxTokenAge - L
      const failure = await expectOutcome(t, harness, validToken(config, { iat: oldest - 1 }), 'R401-expired', 'iat = now - maxTokenAge - 31')
      t.equal(failure?.claim, 'iat', 'maxTokenAge: the iat claim')
      await expectOutcome(t, harness, validToken(config, { iat: oldest }), 'OK', 'iat = now - maxTokenAge - 30')
    }
    for (const [name, leeway] of [['NaN', NaN], ['Infinity', Infinity], ['-1', -1], ['"1 hour"', '1 hour'], ['301', 301], ['"6m"', '6m']] as const) {
      await expectCfg(t, { ...config.options, leeway: leeway as number }, 'FST_JWT_SECURITY_INVALID_OPTION', /"leeway"/, `leeway ${name}`)
    }
  })
})

t.test('C8 audience', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    // Type checks hold in every configuration; a value check needs an audience, which only strict has.
    await expectOutcome(t, harness, validToken(config, { aud: [['api']] }), 'R401', 'aud [["api"]]')
    await expectOutcome(t, harness, validToken(config, { aud: 5 }), 'R401', 'aud 5')
    if (config.profile !== 'strict') return
    const cases: Array<[string, unknown, 'OK' | 'R401']> = [
      ['aud "other"', 'other', 'R401'],
      ['aud ["other","api"]', ['other', AUDIENCE], 'OK'],
      ['aud ["other","x"]', ['other', 'x'], 'R401'],
      ['aud []', [], 'R401'],
      ['aud missing', undefined, 'R401'],
      ['aud "API"', 'API', 'R401'],
      ['aud "api "', 'api ', 'R401'],
      ['aud "ap"', 'ap', 'R401'],
      ['aud null', null, 'R401'],
      ['aud {"api":true}', { api: true }, 'R401']
    ]
    for (const [name, aud, outcome] of cases) {
      const failure = await expectOutcome(t, harness, validToken(config, { aud }), outcome, name)
      if (outcome === 'R401') t.equal(failure?.claim, 'aud', `${name}: the aud claim`)
    }
  })
})

t.test('C9 issuer', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    await expectOutcome(t, harness, validToken(config, { iss: ['https://evil', ISSUER] }), 'R401', 'iss ["https://evil", issuer]')
    if (config.profile !== 'strict') return
    const cases: Array<[string, unknown]> = [
      ['iss "evil"', 'evil'],
      ['iss "https://auth.exampl" (substring)', 'https://auth.exampl'],
      ['iss "https://auth.example.evil"', 'https://auth.example.evil'],
      ['iss "https://auth.example/"', 'https://auth.example/'],
      ['iss "HTTPS://AUTH.EXAMPLE"', 'HTTPS://AUTH.EXAMPLE'],
      ['iss missing', undefined],
      ['iss null', null]
    ]
    for (const [name, iss] of cases) {
      const failure = await expectOutcome(t, harness, validToken(config, { iss }), 'R401', name)
      t.equal(failure?.claim, 'iss', `${name}: the iss claim`)
    }
  })
})

t.test('C10 subject missing or not a string', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const cases: Array<[string, unknown]> = [
      ['sub missing', undefined],
      ['sub 42', 42],
      ['sub {}', {}],
      ['sub ["alice"]', ['alice']],
      ['sub null', null],
      ['sub true', true],
      ['sub ""', ''],
      ['sub of 1025 characters', 'x'.repeat(1025)]
    ]
    for (const [name, sub] of cases) {
      const failure = await expectOutcome(t, harness, validToken(config, { sub }), 'R401', name)
      t.equal(failure?.claim, 'sub', `${name}: the sub claim`)
    }
    await expectOutcome(t, harness, validToken(config, { sub: 'x'.repeat(1024) }), 'OK', 'sub of 1024 characters', 'x'.repeat(1024))
  })
})

t.test('C11 token type confusion (typ) and tokens minted for another purpose', async (t) => {
  await eachConfig(t, async (t, config) => {
    // Only the strict configuration sets typ and audience; the default one accepts any typ by design.
    if (config.profile !== 'strict') {
      t.pass('the default configuration does not check typ or aud')
      return
    }
    const harness = await buildHarness(t, config)
    const cases: Array<[string, Record<string, unknown>, 'OK' | 'R401']> = [
      ['typ "at+jwt"', { typ: 'at+jwt' }, 'R401'],
      ['no typ', { typ: undefined }, 'R401'],
      ['typ "email-verify+jwt"', { typ: 'email-verify+jwt' }, 'R401'],
      ['typ ""', { typ: '' }, 'R401'],
      ['typ "jwt"', { typ: 'jwt' }, 'OK'],
      ['typ "application/JWT"', { typ: 'application/JWT' }, 'OK']
    ]
    for (const [name, extra, outcome] of cases) {
      const failure = await expectOutcome(t, harness, signed(config, header(config, extra), claims(config)), outcome, name)
      if (outcome === 'R401') t.equal(failure?.claim, 'typ', `${name}: the typ header`)
    }
    const otherPurpose = await harness.app.createJwtToken('alice', {}, { audience: 'email-verify' })
    const failure = await expectOutcome(t, harness, otherPurpose, 'R401', 'a createJwtToken token for another audience')
    t.equal(failure?.claim, 'aud')
  })
})
