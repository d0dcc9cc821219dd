// Catalogue cases A6–A13, A16, F1, F3 and G2 against a remote JWKS (`jwks: { url, issuer, timeout, cooldown }`)
// served on 127.0.0.1 by test/helpers/jwks-server.ts, with the strict claim options. The provider
// publishes RSA (idp-rs), EC (idp-es) and Ed25519 (idp-ed) keys; the tests sign as it would.
import childProcess from 'node:child_process'
import { createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import t, { type Test } from 'tap'
import type { JWK } from 'jose'
import { startCountingListener } from '../helpers/jwks-server.js'
import { keyPair } from '../helpers/keys.js'
import { withBadSignature } from '../helpers/tokens.js'
import {
  b64u, buildJwksHarness, claims, countCalls, expectGenuineWorks, expectOutcome, header, jws, member, memberToken, publishedJwk, segments, warnings, workFor,
  type Harness, type JwksHarness, type KeyMember
} from './helpers.js'
import { publicKeyEncodings, rsaPublicKeyOfSize, selfSignedCertificate, thumbprints } from './key-encodings.js'

const HS_ALGS = ['HS256', 'HS384', 'HS512'] as const
const KEY_UNUSABLE = /a verification key cannot be used/
const KEYS_UNAVAILABLE = /the JSON Web Key Set cannot be fetched/

/** The attacker's own keys, one of each type the provider publishes. */
const ATTACKER: Readonly<Record<string, KeyObject>> = {
  RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  EdDSA: generateKeyPairSync('ed25519').privateKey
}

function kidName (kid: unknown): string {
  return kid === undefined ? 'no kid' : `kid ${JSON.stringify(kid)}`
}

/** R401 with one of `reasons`. */
async function refused (t: Test, harness: Harness, token: string, reasons: string | string[], name: string): Promise<void> {
  const failure = await expectOutcome(t, harness, token, 'R401', name)
  const allowed = typeof reasons === 'string' ? [reasons] : reasons
  t.ok(allowed.includes(failure?.reason as string), `${name}: ${String(failure?.reason)} is ${allowed.join(' or ')}`)
}

/** A token signed by hand with `key` (jose refuses to sign with some of the keys used here). */
function rs256 (harness: JwksHarness, kid: string, key: KeyObject, extraClaims: Record<string, unknown> = {}): string {
  return jws('RS256', key, header(harness.config, { alg: 'RS256', kid }), claims(harness.config, extraClaims))
}

t.test('A6 key confusion against a JWKS: HS* signed with a published key, naming its kid, another kid or none', async (t) => {
  const harness = await buildJwksHarness(t)
  const { config, server } = harness
  await expectOutcome(t, harness, harness.genuine, 'OK', 'the genuine token (the set is fetched)')
  const fetched = server.hits
  t.equal(fetched, 1, 'the set was fetched once')
  for (const target of config.members) {
    const other = config.members.find((candidate) => candidate !== target) as KeyMember
    for (const [encoding, secret] of publicKeyEncodings(target.key as KeyObject)) {
      for (const alg of HS_ALGS) {
        for (const kid of [target.kid, other.kid, undefined]) {
          const token = jws(alg, secret, header(config, { alg, kid }), claims(config, { sub: 'admin' }))
          await refused(t, harness, token, 'algorithm_not_allowed', `${alg} keyed with the ${encoding} of ${target.kid}, ${kidName(kid)}`)
        }
      }
    }
  }
  t.equal(server.hits, fetched, 'refused before any key lookup: the set was not fetched again')
  // A provider that (wrongly) publishes an HMAC key: its tokens are still refused for their algorithm.
  const k = randomBytes(32)
  const withOct = await buildJwksHarness(t, { extraKeys: [{ kty: 'oct', k: k.toString('base64url'), kid: 'idp-oct', alg: 'HS256', use: 'sig' }] })
  for (const kid of ['idp-oct', undefined]) {
    await refused(t, withOct, jws('HS256', k, header(config, { alg: 'HS256', kid }), claims(config, { sub: 'admin' })), 'algorithm_not_allowed', `HS256 with the published oct key, ${kidName(kid)}`)
  }
})

t.test('A7 a kid picks a key of its own type: cross-key tokens are refused, never a 500', async (t) => {
  const harness = await buildJwksHarness(t)
  const { config } = harness
  for (const signer of config.members) {
    await expectOutcome(t, harness, memberToken(config, signer), 'OK', `${signer.alg} token of ${signer.kid}`)
  }
  // The real key and algorithm of one published key, naming another one's kid.
  for (const signer of config.members) {
    for (const named of config.members.filter((candidate) => candidate !== signer)) {
      await refused(t, harness, memberToken(config, signer, { sub: 'admin' }, { kid: named.kid }), ['key_unknown', 'algorithm_not_allowed'],
        `${signer.alg} signed by the real key of ${signer.kid}, kid ${named.kid}`)
    }
  }
  // An algorithm of the same key type that the JWK's alg does not name.
  const rs = member(config, 'idp-rs')
  await refused(t, harness, jws('PS256', rs.key, header(config, { alg: 'PS256' }), claims(config, { sub: 'admin' })), ['key_unknown', 'algorithm_not_allowed'], 'PS256 signed by the RS256 key, kid idp-rs')
  const es = member(config, 'idp-es')
  await refused(t, harness, jws('ES384', ATTACKER.ES256 as KeyObject, header(config, { alg: 'ES384', kid: 'idp-es' }), claims(config, { sub: 'admin' })), ['key_unknown', 'algorithm_not_allowed', 'signature_invalid'], `ES384 naming ${es.kid}`)
  // HS* naming an RSA key: jose would throw a TypeError if such a key were ever handed to it.
  for (const alg of HS_ALGS) {
    for (const [keyName, key] of [['a random secret', randomBytes(32)], ['an empty key', Buffer.alloc(0)]] as const) {
      await refused(t, harness, jws(alg, key, header(config, { alg, kid: 'idp-rs' }), claims(config)), 'algorithm_not_allowed', `${alg} with kid idp-rs signed with ${keyName}`)
    }
  }
})

t.test('A8 empty or guessed keys against a JWKS', async (t) => {
  const harness = await buildJwksHarness(t)
  const { config } = harness
  const dictionary = ['', 'secret', 'Hello, World!', 'My super secret key!', 'password', '1']
  for (const secret of dictionary) {
    for (const kid of ['idp-rs', 'unknown', '', undefined]) {
      await refused(t, harness, jws('HS256', secret, header(config, { alg: 'HS256', kid }), claims(config, { sub: 'admin' })), 'algorithm_not_allowed', `HS256 signed with ${JSON.stringify(secret)}, ${kidName(kid)}`)
    }
  }
  // No key for these kids: jose's set answers "no matching key", never an empty key.
  for (const kid of ['', 'unknown', 'null', 'undefined']) {
    await refused(t, harness, rs256(harness, kid, ATTACKER.RS256 as KeyObject, { sub: 'admin' }), 'key_unknown', `RS256, ${kidName(kid)}`)
  }
})

t.test('A9 kid injection values against a JWKS: R401, no delay, no file or process access', async (t) => {
  const harness = await buildJwksHarness(t)
  const { config } = harness
  const rs = member(config, 'idp-rs')
  const playbook: Array<[string, string]> = [
    ['', ''],
    ['', 'null'],
    ['../../../../../../dev/null', ''],
    ['/dev/null', ''],
    ['/invalid_path', ''],
    ['|sleep 10', ''],
    ['; sleep 10 #', ''],
    ["x' UNION SELECT '1';--", '1']
  ]
  const fsAndProcess: Array<[object, string]> = [
    ...['open', 'openSync', 'readFile', 'readFileSync', 'createReadStream', 'existsSync', 'statSync'].map((name): [object, string] => [fs, name]),
    ...['open', 'readFile', 'stat'].map((name): [object, string] => [fs.promises, name]),
    ...['exec', 'execSync', 'execFile', 'execFileSync', 'spawn', 'spawnSync', 'fork'].map((name): [object, string] => [childProcess, name])
  ]
  await expectOutcome(t, harness, harness.genuine, 'OK', 'the genuine token (the set is fetched)')
  const accesses = await countCalls(fsAndProcess, async () => {
    syncBuiltinESMExports()
    for (const [kid, key] of playbook) {
      const tokens: Array<[string, string, string]> = [
        [`HS256 with the guessed key ${JSON.stringify(key)}`, jws('HS256', key, header(config, { alg: 'HS256', kid }), claims(config, { sub: 'admin' })), 'algorithm_not_allowed'],
        ["RS256 with the attacker's key", rs256(harness, kid, ATTACKER.RS256 as KeyObject, { sub: 'admin' }), 'key_unknown'],
        // An unknown kid with the right key.
        ["RS256 with the provider's real key", rs256(harness, kid, rs.key as KeyObject, { sub: 'admin' }), 'key_unknown']
      ]
      for (const [keyName, token, reason] of tokens) {
        const name = `${kidName(kid)}, ${keyName}`
        const started = process.hrtime.bigint()
        await refused(t, harness, token, reason, name)
        const elapsed = Number(process.hrtime.bigint() - started) / 1e6
        t.ok(elapsed < 2000, `${name}: answered without delay (${elapsed.toFixed(0)} ms)`)
      }
    }
  })
  syncBuiltinESMExports()
  t.equal(accesses, 0, 'no file or process access during the requests')
  for (const kid of ['IDP-RS', 'idp-rs ', ' idp-rs', 'idp-rs\u0000', 'idp-r', 'idp-rs-old']) {
    await refused(t, harness, rs256(harness, kid, rs.key as KeyObject, { sub: 'admin' }), 'key_unknown', `the real key, ${kidName(kid)}`)
  }
  // An unknown kid is answered exactly like a bad signature (G1).
  const answer = async (token: string) => {
    const response = await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${token}` } })
    return [response.statusCode, response.headers['www-authenticate'], response.body]
  }
  t.strictSame(await answer(rs256(harness, 'unknown', rs.key as KeyObject)), await answer(withBadSignature(harness.genuine)), 'unknown kid and bad signature: the same response')
  // Unknown kids refetch the set at most once per cooldown (0.1 s): no fetch storm.
  const before = harness.server.hits
  const started = Date.now()
  for (let index = 0; index < 40; index++) {
    await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${rs256(harness, `unknown-${index}`, ATTACKER.RS256 as KeyObject)}` } })
  }
  const allowed = Math.ceil((Date.now() - started) / 100) + 1
  t.ok(harness.server.hits - before <= allowed, `40 unknown kids: ${harness.server.hits - before} fetches (at most ${allowed})`)
})

t.test('A10 kid "__proto__", "constructor", "toString", "hasOwnProperty" and non-string kids against a JWKS', async (t) => {
  const harness = await buildJwksHarness(t)
  const { config } = harness
  const prototypeKids = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__', 'prototype']
  for (const kid of prototypeKids) {
    for (const signer of config.members) {
      await refused(t, harness, memberToken(config, signer, { sub: 'admin' }, { kid }), 'key_unknown', `${kidName(kid)}, the real key of ${signer.kid}`)
      const attacker = ATTACKER[signer.alg] as KeyObject
      await refused(t, harness, jws(signer.alg, attacker, header(config, { alg: signer.alg, kid }), claims(config, { sub: 'admin' })), 'key_unknown', `${kidName(kid)}, the attacker's ${signer.alg} key`)
    }
    await refused(t, harness, jws('HS256', '', header(config, { alg: 'HS256', kid }), claims(config, { sub: 'admin' })), 'algorithm_not_allowed', `${kidName(kid)}, HS256 with an empty key`)
  }
  const rawKids = ['null', '0', '1', 'true', '[]', '["idp-rs"]', '{}', '{"kid":"idp-rs"}', '{"toString":"idp-rs"}', '{"__proto__":{"kid":"idp-rs"}}', '1e999']
  // A kid that is not a string names no key, even with the provider's real signature.
  for (const kidJson of rawKids) {
    for (const signer of config.members) {
      const hdr = JSON.stringify(header(config, { alg: signer.alg, kid: undefined })).replace(/\}$/, `,"kid":${kidJson}}`)
      await refused(t, harness, jws(signer.alg, ATTACKER[signer.alg] as KeyObject, hdr, claims(config, { sub: 'admin' })), 'key_unknown', `kid ${kidJson}, the attacker's ${signer.alg} key`)
      await refused(t, harness, jws(signer.alg, signer.key, hdr, claims(config, { sub: 'admin' })), 'key_unknown', `kid ${kidJson}, the real key of ${signer.kid}`)
    }
  }
})

t.test('A11 embedded jwk header whose kid is a published kid', async (t) => {
  const harness = await buildJwksHarness(t)
  const { config } = harness
  for (const target of config.members) {
    const attacker = ATTACKER[target.alg] as KeyObject
    const jwk = { ...createPublicKey(attacker).export({ format: 'jwk' }), kid: target.kid, alg: target.alg, use: 'sig' }
    for (const kid of [target.kid, undefined]) {
      const token = jws(target.alg, attacker, header(config, { alg: target.alg, kid, jwk }), claims(config, { sub: 'admin' }))
      await refused(t, harness, token, 'signature_invalid', `${target.alg} signed by the key in its jwk header (jwk kid ${target.kid}), ${kidName(kid)}`)
    }
  }
  // The real public JWK embedded, with the attacker's signature: the header's key is never trusted either way.
  const rs = member(config, 'idp-rs')
  const token = jws('RS256', ATTACKER.RS256 as KeyObject, header(config, { jwk: publishedJwk(rs) }), claims(config, { sub: 'admin' }))
  await refused(t, harness, token, 'signature_invalid', 'the provider\'s own JWK embedded, signed by the attacker')
})

t.test('A12 jku, x5u and a kid that is a URL are never fetched; only the configured URL is', async (t) => {
  const listener = await startCountingListener()
  t.teardown(() => listener.close())
  await fetch(`${listener.url}/probe`).then(async (response) => await response.text())
  t.equal(listener.hits(), 1, 'the loopback listener counts requests')
  const harness = await buildJwksHarness(t)
  const { config, server } = harness
  for (const target of config.members) {
    const attacker = ATTACKER[target.alg] as KeyObject
    const members: Array<[string, Record<string, unknown>, string]> = [
      ['jku, kid jwt_tool', { jku: `${listener.url}/jwks.json`, kid: 'jwt_tool' }, 'key_unknown'],
      [`jku, kid ${target.kid}`, { jku: `${listener.url}/jwks.json`, kid: target.kid }, 'signature_invalid'],
      [`x5u, kid ${target.kid}`, { x5u: `${listener.url}/cert.pem`, kid: target.kid }, 'signature_invalid'],
      ['x5u, kid jwt_tool', { x5u: `${listener.url}/cert.pem`, kid: 'jwt_tool' }, 'key_unknown'],
      ['kid a URL', { kid: `${listener.url}/jwks.json` }, 'key_unknown'],
      ['kid a URL, and jku', { kid: `${listener.url}/keys/${target.kid}`, jku: `${listener.url}/jwks.json` }, 'key_unknown'],
      ['jku naming the configured JWKS URL, kid jwt_tool', { jku: server.url, kid: 'jwt_tool' }, 'key_unknown']
    ]
    for (const [name, extra, reason] of members) {
      const token = jws(target.alg, attacker, header(config, { alg: target.alg, ...extra }), claims(config, { sub: 'admin' }))
      await refused(t, harness, token, reason, `${name}, signed by the attacker's ${target.alg} key`)
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(listener.hits(), 1, 'no request reached the listener')
  t.ok(server.hits >= 1, `the configured URL was fetched (${server.hits} times)`)
})

t.test('A13 x5c and x5t headers carrying an attacker certificate', async (t) => {
  const harness = await buildJwksHarness(t)
  const { config } = harness
  for (const target of config.members) {
    const attacker = ATTACKER[target.alg] as KeyObject
    const certificate = selfSignedCertificate(attacker, 'idp.example')
    const { x5t, x5tS256 } = thumbprints(certificate)
    for (const [kid, reason] of [[target.kid, 'signature_invalid'], ['attacker', 'key_unknown']] as const) {
      for (const [name, extra] of [['x5c', { x5c: [certificate.toString('base64')] }], ['x5c, x5t and x5t#S256', { x5c: [certificate.toString('base64')], x5t, 'x5t#S256': x5tS256 }]] as const) {
        const token = jws(target.alg, attacker, header(config, { alg: target.alg, kid, ...extra }), claims(config, { sub: 'admin' }))
        await refused(t, harness, token, reason, `${name} (${target.alg}), ${kidName(kid)}`)
      }
    }
  }
})

t.test('A16 invalid ECDSA signatures for the published ES256 key', async (t) => {
  const harness = await buildJwksHarness(t)
  const { config } = harness
  const es = member(config, 'idp-es')
  const genuine = memberToken(config, es)
  await expectOutcome(t, harness, genuine, 'OK', 'the genuine ES256 token of idp-es')
  const [h, p, s] = segments(genuine)
  const der = cryptoSign('sha256', Buffer.from(`${h}.${p}`), es.key as KeyObject)
  const cases: Array<[string, string, string]> = [
    ['64 zero bytes (r = s = 0)', Buffer.alloc(64).toString('base64url'), 'signature_invalid'],
    ['empty', '', 'token_malformed'],
    ['the DER encoding of a valid signature', der.toString('base64url'), 'signature_invalid'],
    ['r = s = n (the group order)', Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'.repeat(2), 'hex').toString('base64url'), 'signature_invalid'],
    ['63 bytes', Buffer.from(s, 'base64url').subarray(1).toString('base64url'), 'signature_invalid'],
    ['a valid signature of another token', segments(memberToken(config, es, { sub: 'admin' }))[2], 'signature_invalid']
  ]
  for (const [name, signature, reason] of cases) await refused(t, harness, `${h}.${p}.${signature}`, reason, name)
})

t.test('F1 the alg allow-list, then the kid lookup, then the signature: unknown kids and disallowed algorithms cost no signature check', async (t) => {
  const harness = await buildJwksHarness(t)
  const { config, server } = harness
  const rs = member(config, 'idp-rs')
  const genuine = await workFor(harness, `Bearer ${harness.genuine}`)
  t.equal(genuine.verifies, 1, 'the counter sees the one verification of a genuine token')
  const badSignature = await workFor(harness, `Bearer ${withBadSignature(harness.genuine)}`)
  t.equal(badSignature.verifies, 1, 'a known kid with a bad signature costs one verification')
  const [, payload, signature] = segments(harness.genuine)
  const disallowed: Array<[string, string]> = [
    ['HS256 with kid idp-rs', jws('HS256', randomBytes(32), header(config, { alg: 'HS256' }), claims(config))],
    ['HS512 with an unknown kid: alg first', jws('HS512', randomBytes(64), header(config, { alg: 'HS512', kid: 'unknown' }), claims(config))],
    ['alg none with the genuine signature', `${b64u(header(config, { alg: 'none' }))}.${payload}.${signature}`],
    ['alg RS1 (no such algorithm)', `${b64u(header(config, { alg: 'RS1' }))}.${payload}.${signature}`]
  ]
  const fetched = server.hits
  for (const [name, token] of disallowed) {
    await refused(t, harness, token, 'algorithm_not_allowed', name)
    t.equal((await workFor(harness, `Bearer ${token}`)).verifies, 0, `${name}: no signature operation`)
  }
  t.equal(server.hits, fetched, 'a disallowed algorithm never makes the set be fetched')
  const unknown: Array<[string, string]> = [
    ['an unknown kid', rs256(harness, 'unknown', rs.key as KeyObject)],
    ['an unknown kid and a garbage signature: kid first', `${b64u(header(config, { kid: 'unknown' }))}.${payload}.AAAA`],
    ['kid __proto__', rs256(harness, '__proto__', rs.key as KeyObject)],
    ['RS256 naming the EC key', rs256(harness, 'idp-es', rs.key as KeyObject)],
    ['EdDSA naming the RSA key', memberToken(config, member(config, 'idp-ed'), {}, { kid: 'idp-rs' })]
  ]
  for (const [name, token] of unknown) {
    await refused(t, harness, token, ['key_unknown', 'algorithm_not_allowed'], name)
    t.equal((await workFor(harness, `Bearer ${token}`)).verifies, 0, `${name}: no signature operation`)
  }
  const stream = [...disallowed, ...unknown].map(([, token]) => token)
  const verifies = await countCalls([[globalThis.crypto.subtle, 'verify']], async () => {
    for (let index = 0; index < 90; index++) {
      await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${stream[index % stream.length] as string}` } })
    }
  })
  t.equal(verifies, 0, '90 unknown-kid and disallowed-alg tokens: no signature operation')
})

t.test('F3 weak, expensive or too many keys in a JWKS', async (t) => {
  // Under 2048 bits: jose refuses the key; the request is a 401 and the operator is warned.
  await t.test('a 1024-bit RSA key', async (t) => {
    const weak = keyPair('rsa1024')
    const signer: KeyMember = { kid: 'weak', alg: 'RS256', key: weak.privateKeyObject, publicKey: weak.publicKeyObject }
    const harness = await buildJwksHarness(t, { extraKeys: [publishedJwk(signer)] })
    const first = harness.logs.length
    for (const [name, key] of [["the weak key's own signature", weak.privateKeyObject], ["the attacker's signature", ATTACKER.RS256 as KeyObject]] as const) {
      await refused(t, harness, rs256(harness, 'weak', key), 'key_unusable', `kid weak, ${name}`)
    }
    t.match(warnings(harness, first), [KEY_UNUSABLE], 'kid weak: one warning for both tokens (a line per 10 seconds: tokens naming the key cannot flood the logs)')
  })
  // Catalogue: above 4096 bits, or too many keys, is "CFG or a warning"; a remote set cannot be
  // refused at register, so the operator must be warned. Forged tokens are refused either way.
  for (const bits of [4097, 16384]) {
    await t.test(`a ${bits}-bit RSA key`, async (t) => {
      const big = rsaPublicKeyOfSize(bits)
      const harness = await buildJwksHarness(t, { extraKeys: [{ ...big.export({ format: 'jwk' }) as JWK, kid: 'big', alg: 'RS256', use: 'sig' }] })
      const first = harness.logs.length
      await refused(t, harness, rs256(harness, 'big', ATTACKER.RS256 as KeyObject, { sub: 'admin' }), ['signature_invalid', 'key_unusable'], `a forged token naming the ${bits}-bit key`)
      t.ok(warnings(harness, first).length > 0, `a ${bits}-bit key in the set: a warning is logged (catalogue F3)`)
    })
  }
  await t.test('300 keys', async (t) => {
    const many = Array.from({ length: 297 }, (_, index): JWK => ({ ...rsaPublicKeyOfSize(2048).export({ format: 'jwk' }) as JWK, kid: `extra-${index}`, alg: 'RS256', use: 'sig' }))
    const harness = await buildJwksHarness(t, { extraKeys: many })
    const first = harness.logs.length
    await expectOutcome(t, harness, harness.genuine, 'OK', 'the genuine token, with 300 keys in the set')
    await refused(t, harness, rs256(harness, 'extra-150', ATTACKER.RS256 as KeyObject, { sub: 'admin' }), 'signature_invalid', 'a forged token naming one of them')
    t.ok(warnings(harness, first).length > 0, 'a set of 300 keys: a warning is logged (catalogue F3)')
  })
})

t.test('G2 no 500 and no stack traces: JWKS endpoint failures, keys jose refuses, and the A7/A8/A10 inputs', async (t) => {
  for (const mode of ['down', 'slow', 'malformed', 'not-json', 'error'] as const) {
    await t.test(`the endpoint is ${mode}`, async (t) => {
      const box: { harness?: JwksHarness } = {}
      const harness = box.harness = await buildJwksHarness(t, { beforeGenuine: () => { (box.harness as JwksHarness).server.mode = 'ok' } })
      harness.server.mode = mode
      const first = harness.logs.length
      const started = Date.now()
      const response = await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${harness.genuine}` } })
      t.equal(response.statusCode, 503, `the genuine token while the endpoint is ${mode}: 503, the token is not known to be bad`)
      t.same(response.json(), { statusCode: 503, code: 'FST_JWT_SECURITY_KEYS_UNAVAILABLE', error: 'Service Unavailable', message: 'Credentials cannot be verified right now, try again later' }, 'a fixed body')
      t.match(response.headers['retry-after'], /^[1-9]\d*$/, 'Retry-After')
      t.ok(Date.now() - started < 2500, `answered in ${Date.now() - started} ms (timeout 300 ms)`)
      const faults = harness.logs.slice(first).filter((line) => /"level":(50|60)/.test(line))
      t.equal(faults.length, 1, 'one error line: the outage, not the request')
      t.match(faults[0], KEYS_UNAVAILABLE)
      t.notMatch(faults[0], /"msg":"Credentials cannot be verified/, 'Fastify\'s error handler did not log the 503')
      await new Promise((resolve) => setTimeout(resolve, 150))
      await expectGenuineWorks(t, harness, `the endpoint was ${mode}`)
    })
  }
  await t.test('keys jose cannot use', async (t) => {
    const ec = keyPair('ec256').publicKeyObject.export({ format: 'jwk' }) as JWK
    const offCurve: JWK = { ...ec, y: Buffer.from(Buffer.from(ec.y as string, 'base64url').map((byte, index) => index === 31 ? byte ^ 1 : byte)).toString('base64url'), kid: 'off-curve', alg: 'ES256', use: 'sig' }
    const tinyModulus: JWK = { kty: 'RSA', n: 'AQAB', e: 'AQAB', kid: 'tiny', alg: 'RS256', use: 'sig' }
    const harness = await buildJwksHarness(t, { extraKeys: [offCurve, tinyModulus] })
    const es = member(harness.config, 'idp-es')
    const first = harness.logs.length
    for (const [name, token] of [
      ['an ES256 token naming an EC key off its curve', memberToken(harness.config, es, {}, { kid: 'off-curve' })],
      ['an RS256 token naming an RSA key of 17 bits', rs256(harness, 'tiny', ATTACKER.RS256 as KeyObject)]
    ] as const) {
      await refused(t, harness, token, 'key_unusable', name)
    }
    t.match(warnings(harness, first), [KEY_UNUSABLE], 'a warning is logged, one for both within 10 seconds')
  })
  await t.test('A7, A8 and A10 inputs', async (t) => {
    const harness = await buildJwksHarness(t)
    const { config } = harness
    const rs = member(config, 'idp-rs')
    const cases: Array<[string, string]> = [
      ['A7 HS256 with kid idp-rs, an empty key', jws('HS256', '', header(config, { alg: 'HS256' }), claims(config))],
      ['A7 HS256 with kid idp-ed, the Ed25519 public key as secret', jws('HS256', keyPair('ed25519').publicKey, header(config, { alg: 'HS256', kid: 'idp-ed' }), claims(config))],
      ['A7 ES256 with kid idp-rs', memberToken(config, member(config, 'idp-es'), {}, { kid: 'idp-rs' })],
      ['A8 HS256, an empty key, kid ""', jws('HS256', '', header(config, { alg: 'HS256', kid: '' }), claims(config))],
      ['A8 RS256, kid ""', rs256(harness, '', rs.key as KeyObject)],
      ['A10 kid "__proto__"', rs256(harness, '__proto__', rs.key as KeyObject)],
      ['A10 kid "constructor", an empty HS256 key', jws('HS256', '', header(config, { alg: 'HS256', kid: 'constructor' }), claims(config))],
      ['A10 kid {"toString":"idp-rs"}, the attacker\'s key', jws('RS256', ATTACKER.RS256 as KeyObject, header(config, { kid: { toString: 'idp-rs' } }), claims(config))]
    ]
    const first = harness.logs.length
    for (const [name, token] of cases) await expectOutcome(t, harness, token, 'R401', name)
    t.strictSame(harness.logs.slice(first).filter((line) => /"level":(50|60)/.test(line)), [], 'no error-level log line: none of them is a fault')
  })
})
