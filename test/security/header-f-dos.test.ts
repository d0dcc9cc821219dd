// Catalogue group F (denial of service), header transport, in the default and strict configurations.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { keyPair } from '../helpers/keys.js'
import {
  AUDIENCE, b64u, buildChainHarness, buildHarness, claims, countCalls, CountingHeaderPolicy, eachConfig, expectCfg, expectOutcome, header, httpGet,
  ISSUER, jws, listen, makeConfig, NOW, NOW_MS, segments, signed, tokenOfLength, validToken, workFor, type Config, type Harness
} from './helpers.js'
import { fingerprintOf } from '../../lib/tokens/token-cache.js'
import { rsaPublicKeyOfSize } from './key-encodings.js'

/** Refused with `reason`, with no signature verification (and, when `parses` is 0, no JSON parsing). */
async function refusedCheaply (t: Test, harness: Harness, token: string, reason: string, name: string, parses?: number): Promise<void> {
  const failure = await expectOutcome(t, harness, token, 'R401', name)
  t.equal(failure?.reason, reason, `${name}: ${reason}`)
  const work = await workFor(harness, `Bearer ${token}`)
  t.equal(work.verifies, 0, `${name}: no signature operation`)
  if (parses !== undefined) t.equal(work.parses, parses, `${name}: no JSON parsed`)
}

t.test('F1 cheap rejection before crypto', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const genuine = await workFor(harness, `Bearer ${harness.genuine}`)
    t.equal(genuine.verifies, 1, 'the counter sees the one verification of a genuine token')
    const [h, p, s] = segments(harness.genuine)
    const otherHs = config.alg === 'HS256' ? 'HS512' : 'HS256'
    const rsa = makeConfig('default', 'RS256').key
    // 1. length, 2. syntax, 3. header JSON, 4. alg allow-list: no signature operation for any of them.
    await refusedCheaply(t, harness, tokenOfLength(config, 8193), 'token_too_long', 'a valid token over the cap', 0)
    await refusedCheaply(t, harness, 'a.'.repeat(7000), 'token_too_long', "'a.'.repeat(7000)", 0)
    await refusedCheaply(t, harness, `${h}.${p}.${s.slice(0, 5)}+${s.slice(6)}`, 'token_malformed', 'a + in the signature', 0)
    await refusedCheaply(t, harness, `${h}.${p}.${s}=`, 'token_malformed', 'a padded signature', 0)
    await refusedCheaply(t, harness, `é${h}.${p}.${s}`, 'token_malformed', 'a non-ASCII character', 0)
    await refusedCheaply(t, harness, signed(config, '{"alg":', claims(config)), 'token_malformed', 'a header that is not JSON')
    await refusedCheaply(t, harness, `${b64u(header(config, { alg: 'none' }))}.${p}.${s}`, 'algorithm_not_allowed', 'alg none with the genuine signature')
    await refusedCheaply(t, harness, jws(otherHs, config.key, header(config, { alg: otherHs }), claims(config)), 'algorithm_not_allowed', `${otherHs} with the real secret`)
    await refusedCheaply(t, harness, jws('RS256', rsa, header(config, { alg: 'RS256' }), claims(config)), 'algorithm_not_allowed', 'RS256')
    // The order of the checks: length before syntax, syntax before alg, alg before signature.
    await refusedCheaply(t, harness, `${tokenOfLength(config, 8193).slice(0, -1)}+`, 'token_too_long', 'too long and a bad character: length first', 0)
    await refusedCheaply(t, harness, `${b64u({ alg: 'none' })}.${p}.${s}=`, 'token_malformed', 'alg none and padded: syntax first', 0)
    await refusedCheaply(t, harness, `${b64u(header(config, { alg: otherHs }))}.${p}.AAAA`, 'algorithm_not_allowed', 'wrong alg and a garbage signature: alg first')
    // A stream of such tokens runs no verification at all.
    const stream = [tokenOfLength(config, 9000), `${h}.${p}.${s}!`, `${b64u({ alg: 'HS1' })}.${p}.${s}`, `${b64u({ alg: 'none' })}.${p}.`]
    const verifies = await countCalls([[globalThis.crypto.subtle, 'verify']], async () => {
      for (let index = 0; index < 100; index++) {
        await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${stream[index % stream.length] as string}` } })
      }
    })
    t.equal(verifies, 0, '100 cheap rejections: no signature operation')
  })
})

t.test('F2 JWE and compression bombs', async (t) => {
  await eachConfig(t, async (t, config) => {
    // Without the verified-token cache, the genuine token's re-check below is a real verification.
    const harness = await buildChainHarness(t, config, { options: { cache: false } })
    const b64 = (bytes: number) => randomBytes(bytes).toString('base64url')
    const jwes: Array<[string, string]> = [
      ['a compact JWE (dir, A256GCM, zip DEF)', `${b64u({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' })}..${b64(12)}.${b64(4096)}.${b64(16)}`],
      ['a PBES2 JWE with p2c 2147483647', `${b64u({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2147483647, p2s: b64(16) })}.${b64(40)}.${b64(12)}.${b64(64)}.${b64(16)}`],
      ['a JWE header in a 3-segment token', `${b64u({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' })}.${b64u(claims(config))}.${b64(32)}`]
    ]
    const subtle = globalThis.crypto.subtle
    const decryption: Array<[object, string]> = [[subtle, 'decrypt'], [subtle, 'deriveBits'], [subtle, 'deriveKey'], [subtle, 'unwrapKey'], [subtle, 'verify']]
    for (const [name, token] of jwes) {
      let operations = 0
      const started = process.hrtime.bigint()
      operations += await countCalls(decryption, async () => {
        await expectOutcome(t, harness, token, 'R401', `${name} in the header`)
      })
      operations += await countCalls(decryption, async () => {
        await expectOutcome(t, harness, { cookies: { '__Host-session': token } }, 'R401', `${name} in the cookie`)
      })
      const elapsed = Number(process.hrtime.bigint() - started) / 1e6
      // Each expectOutcome verifies the genuine token once at the end (invariant 3): two verifications.
      t.equal(operations, 2, `${name}: nothing decrypted, derived or verified`)
      t.ok(elapsed < 2000, `${name}: answered quickly (${elapsed.toFixed(0)} ms)`)
    }
  })
})

t.test('F3 weak or expensive RSA keys are refused at register', async (t) => {
  for (const profile of ['default', 'strict'] as const) {
    const base = makeConfig(profile, 'RS256')
    const options = { ...base.options, privateKey: undefined }
    await t.test(base.name, async (t) => {
      const rsa2040 = generateKeyPairSync('rsa', { modulusLength: 2040 })
      const refused: Array<[string, object]> = [
        ['a 1024-bit private key', { privateKey: keyPair('rsa1024').privateKey }],
        ['a 1024-bit public key', { publicKey: keyPair('rsa1024').publicKey }],
        ['a 2040-bit private key', { privateKey: rsa2040.privateKey }],
        ['a 2047-bit public key', { publicKey: rsaPublicKeyOfSize(2047) }],
        ['a 4097-bit public key', { publicKey: rsaPublicKeyOfSize(4097) }],
        ['a 16384-bit public key', { publicKey: rsaPublicKeyOfSize(16384) }]
      ]
      for (const [name, key] of refused) {
        await expectCfg(t, { ...options, ...key }, 'FST_JWT_SECURITY_INVALID_KEY', /RSA keys must have 2048 to 4096 bits/, name)
        await expectCfg(t, { ...options, algorithm: 'PS256', ...key }, 'FST_JWT_SECURITY_INVALID_KEY', /RSA keys must have 2048 to 4096 bits/, `${name} for PS256`)
      }
      for (const bits of [2048, 4096]) {
        const harness = await buildHarness(t, { ...base, options: { ...options, publicKey: rsaPublicKeyOfSize(bits) } }, { logger: false })
        t.ok(harness.app, `a ${bits}-bit public key is accepted`)
      }
    })
  }
})

// Two valid tokens of `config` whose verified-token cache keys collide, with the subjects `sub`,
// found by the birthday bound (about 2^15 signatures).
function collidingTokens (config: Config): Array<{ token: string, sub: string }> {
  const byKey = new Map<number, { token: string, sub: string }>()
  for (let index = 0; ; index++) {
    const sub = `user-${index}`
    const token = validToken(config, { sub })
    const key = fingerprintOf(token)
    const earlier = byKey.get(key)
    if (earlier !== undefined) return [earlier, { token, sub }]
    byKey.set(key, { token, sub })
  }
}

t.test('F4 verification cache: a hit re-checks the time, a future nbf is honoured, colliding keys never mix identities', async (t) => {
  await eachConfig(t, async (t, config) => {
    const clock = { now: NOW_MS }
    const L = config.leeway
    // The genuine token of invariant 3 must outlive every clock move below.
    const harness = await buildHarness(t, config, { options: { now: () => clock.now }, genuine: validToken(config, { exp: NOW + 3000 }) })
    const verifies = async (token: string) => (await workFor(harness, `Bearer ${token}`)).verifies

    // 1. Cached, then replayed after its exp: the hit checks the time, and the replay is R401-expired.
    const expiring = validToken(config, { exp: NOW + 60 })
    await expectOutcome(t, harness, expiring, 'OK', 'a token expiring in 60 s, twice (admitted to the cache)')
    t.equal(await verifies(expiring), 0, 'then served from the cache: no signature verification')
    clock.now = (NOW + 60 + L) * 1000 - 1
    await expectOutcome(t, harness, expiring, 'OK', `the last millisecond before exp + ${L}`)
    clock.now = (NOW + 60 + L) * 1000
    await expectOutcome(t, harness, expiring, 'R401-expired', `replayed at exp + ${L}`)
    t.equal(await verifies(expiring), 1, 'the entry ended: the replay is verified again, and refused')
    clock.now = NOW_MS

    // 2. With exp but no iat (fast-jwt cached these past their exp): the plugin requires iat, so
    // such a token is refused at once, and what is refused is never cached.
    const noIat = validToken(config, { iat: undefined, exp: NOW + 60 })
    const failure = await expectOutcome(t, harness, noIat, 'R401', 'exp without iat')
    t.equal(failure?.claim, 'iat', 'refused for its missing iat')
    t.equal(await verifies(noIat), 1, 'refused tokens are not cached: verified again')

    // 3. Presented while its nbf is in the future: refused, and valid from nbf (with the leeway) only.
    const notYet = validToken(config, { nbf: NOW + L + 10 })
    await expectOutcome(t, harness, notYet, 'R401', 'nbf in the future, twice')
    await expectOutcome(t, harness, notYet, 'R401', 'nbf in the future, again: nothing was cached')
    clock.now = (NOW + 10) * 1000 - 1
    await expectOutcome(t, harness, notYet, 'R401', `the last millisecond before nbf - ${L}`)
    clock.now = (NOW + 10) * 1000
    await expectOutcome(t, harness, notYet, 'OK', `at nbf - ${L}`)
    clock.now = NOW_MS

    // 4. Two valid tokens whose cache keys collide: each is only ever its own identity.
    const [first, second] = collidingTokens(config) as [{ token: string, sub: string }, { token: string, sub: string }]
    t.not(first.token, second.token)
    await expectOutcome(t, harness, first.token, 'OK', 'the first of a colliding pair (admitted)', first.sub)
    t.equal(await verifies(first.token), 0, 'the first is served from the cache')
    await expectOutcome(t, harness, second.token, 'OK', 'the second of the pair: its own identity', second.sub)
    await expectOutcome(t, harness, second.token, 'OK', 'the second, from the cache', second.sub)
    t.equal(await verifies(first.token), 1, 'the first lost the key to the second: verified again, never served the second\'s claims')
    await expectOutcome(t, harness, first.token, 'OK', 'the first again: its own identity', first.sub)
  })
})

t.test('F5 regular expressions for audience and issuer are refused', async (t) => {
  await eachConfig(t, async (t, config) => {
    const cases: Array<[string, object, RegExp]> = [
      ['audience /^(a+)+$/', { audience: /^(a+)+$/ }, /"audience"/],
      ['audience /api/g', { audience: /api/g }, /"audience"/],
      ['audience [/api/]', { audience: [/api/] }, /"audience"/],
      ['audience ["api", /api/]', { audience: [AUDIENCE, /api/] }, /"audience"/],
      ['issuer /^(a+)+$/', { issuer: /^(a+)+$/ }, /"issuer"/],
      ['issuer /auth/g', { issuer: /auth/g }, /"issuer"/],
      ['issuer [issuer]', { issuer: [ISSUER] }, /"issuer"/]
    ]
    for (const [name, options, message] of cases) {
      await expectCfg(t, { ...config.options, ...options }, 'FST_JWT_SECURITY_INVALID_OPTION', message, name)
    }
    // Exact comparison is stateless: the same token twice gives the same answer.
    const harness = await buildHarness(t, config)
    await expectOutcome(t, harness, harness.genuine, 'OK', 'a valid token, first time')
    await expectOutcome(t, harness, harness.genuine, 'OK', 'the same token, second time')
    const catastrophic = signed(config, header(config), claims(config, { aud: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa!', iss: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa!' }))
    const started = process.hrtime.bigint()
    await expectOutcome(t, harness, catastrophic, config.profile === 'strict' ? 'R401' : 'OK', 'aud "aaaa…a!"')
    t.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, 'answered quickly')
  })
})

t.test('F6 request header flood: 431 before any plugin code', async (t) => {
  await eachConfig(t, async (t, config) => {
    const policy = new CountingHeaderPolicy()
    let reached = 0
    const harness = await buildHarness(t, config, {
      options: { policy },
      routes: (app) => { app.addHook('onRequest', async () => { reached++ }) }
    })
    const port = await listen(harness.app)
    const flood = await httpGet(port, '/protected', ['Cookie', `a=${'c'.repeat(9000)}`, 'Authorization', `Bearer ${'a'.repeat(8000)}`])
    t.equal(flood.status, 431, 'over 16 KiB of headers: 431')
    t.equal(policy.calls, 0, 'the policy never ran')
    t.equal(reached, 0, 'no onRequest hook ran')
    const under = await httpGet(port, '/protected', ['Cookie', `a=${'c'.repeat(4000)}`, 'Authorization', `Bearer ${'a'.repeat(8000)}`])
    t.equal(under.status, 401, 'about 12 KiB of headers reach the plugin: 401')
    t.equal(policy.calls, 1, 'the policy ran once for it')
    const genuine = await httpGet(port, '/protected', ['Authorization', `Bearer ${harness.genuine}`])
    t.equal(genuine.status, 200, 'the genuine token still works over the connection')
  })
})
