// Catalogue cases A6–A13, A16, F1, F3 and G2 against local key sets (`keys: [{ kid, algorithm, … }]`),
// in the default and strict profiles. The set mixes an HMAC secret with RSA, EC and Ed25519 keys:
// exactly where algorithm confusion would hide. A kid picks one key and its one algorithm.
import childProcess from 'node:child_process'
import { createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import t, { type Test } from 'tap'
import type { JWK } from 'jose'
import type { KeySpec } from '../../lib/index.js'
import { startCountingListener } from '../helpers/jwks-server.js'
import { keyPair } from '../helpers/keys.js'
import { withBadSignature } from '../helpers/tokens.js'
import {
  b64u, buildHarness, claims, countCalls, eachKeySetConfig, expectCfg, expectOutcome, header, jws, member, memberToken, randomSecret,
  segments, workFor, type Harness, type KeyMember, type KeySetConfig
} from './helpers.js'
import { publicKeyEncodings, rsaPublicKeyOfSize, selfSignedCertificate, thumbprints } from './key-encodings.js'

const HS_ALGS = ['HS256', 'HS384', 'HS512'] as const

/** The attacker's own keys, one of each type the set holds. */
const ATTACKER: Readonly<Record<string, KeyObject>> = {
  RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  EdDSA: generateKeyPairSync('ed25519').privateKey
}

/**
 * The reason the plugin gives for a token of `alg` naming `kid` and signed with a wrong key, in the
 * order F1 requires: the algorithm allow-list, then the kid lookup (a Map: a kid that is not a
 * string, or is absent from a set of several keys, names no key), then the key's one algorithm,
 * then the signature.
 */
function expectedReason (config: KeySetConfig, alg: string, kid: unknown): string {
  if (!config.algorithms.includes(alg)) return 'algorithm_not_allowed'
  const named = typeof kid === 'string' ? config.members.find((candidate) => candidate.kid === kid) : undefined
  if (named === undefined) return kid === undefined && config.members.length === 1 ? 'signature_invalid' : 'key_unknown'
  return named.alg === alg ? 'signature_invalid' : 'algorithm_not_allowed'
}

function kidName (kid: unknown): string {
  return kid === undefined ? 'no kid' : `kid ${JSON.stringify(kid)}`
}

/** R401 with the reason {@link expectedReason} gives. */
async function refused (t: Test, harness: Harness, token: string, reason: string, name: string): Promise<void> {
  const failure = await expectOutcome(t, harness, token, 'R401', name)
  t.equal(failure?.reason, reason, `${name}: ${reason}`)
}

/** The key specs of `config` with `spec` inserted at index 1 (after the signing secret). */
function keysWith (config: KeySetConfig, spec: KeySpec): KeySpec[] {
  const keys = config.options.keys as KeySpec[]
  return [keys[0] as KeySpec, spec, ...keys.slice(1)]
}

/** A header whose kid member is the raw JSON text `kidJson` (after the other members). */
function headerWithRawKid (fields: Record<string, unknown>, kidJson: string): string {
  return JSON.stringify({ ...fields, kid: undefined }).replace(/\}$/, `,"kid":${kidJson}}`)
}

t.test('A6 key confusion in a mixed key set: HS* signed with a public key, naming its kid, the HMAC kid or no kid', async (t) => {
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const hs = member(config, 'hs')
    // The HMAC member's own algorithm is allowed: the per-kid pin, not the allow-list, must refuse those.
    t.ok(config.algorithms.includes(hs.alg), `${hs.alg} is on the allow-list of this set`)
    for (const target of config.members.filter((candidate) => candidate.publicKey !== null)) {
      for (const [encoding, secret] of publicKeyEncodings(target.key as KeyObject)) {
        for (const alg of HS_ALGS) {
          for (const kid of [target.kid, 'hs', undefined]) {
            const name = `${alg} keyed with the ${encoding} of ${target.kid}, ${kidName(kid)}`
            await refused(t, harness, jws(alg, secret, header(config, { alg, kid }), claims(config, { sub: 'admin' })), expectedReason(config, alg, kid), name)
          }
        }
      }
    }
    // CFG: a public key given as the HMAC secret of a member.
    for (const target of config.members.filter((candidate) => candidate.publicKey !== null)) {
      for (const [encoding, secret] of publicKeyEncodings(target.key as KeyObject).filter(([name]) => !/DER|raw/.test(name))) {
        await expectCfg(t, { ...config.options, keys: keysWith(config, { kid: 'confused', secret, algorithm: hs.alg as 'HS256' }) },
          'FST_JWT_SECURITY_INVALID_KEY', /"keys\[1\]\.secret": this looks like a key/, `the ${encoding} of ${target.kid} as a member's secret`)
      }
    }
  })
})

t.test('A7 a kid picks one key and its one algorithm: cross-member tokens are refused, never a 500', async (t) => {
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    // Each member's own tokens are accepted: the refusals below are about the kid, not the key.
    for (const signer of config.members) {
      await expectOutcome(t, harness, memberToken(config, signer), 'OK', `${signer.alg} token of ${signer.kid}`)
    }
    // The real key and algorithm of one member, naming another member's kid.
    for (const signer of config.members) {
      for (const named of config.members.filter((candidate) => candidate !== signer)) {
        const name = `${signer.alg} signed by the real key of ${signer.kid}, kid ${named.kid}`
        await refused(t, harness, memberToken(config, signer, { sub: 'admin' }, { kid: named.kid }), 'algorithm_not_allowed', name)
      }
    }
    // HS* tokens naming the RSA key (jose would throw a TypeError for an RSA key with HS*), and RS256 naming the secret.
    const rsaPem = keyPair('rsa').publicKey
    for (const alg of HS_ALGS) {
      for (const [keyName, key] of [['a random secret', randomBytes(32)], ['an empty key', Buffer.alloc(0)], ['the RSA public key PEM', Buffer.from(rsaPem)]] as const) {
        await refused(t, harness, jws(alg, key, header(config, { alg, kid: 'rs' }), claims(config, { sub: 'admin' })), expectedReason(config, alg, 'rs'), `${alg} with kid rs signed with ${keyName}`)
      }
    }
    for (const [keyName, key] of [['the real RSA private key', member(config, 'rs').key], ["the attacker's RSA key", ATTACKER.RS256 as KeyObject]] as const) {
      await refused(t, harness, jws('RS256', key, header(config, { alg: 'RS256', kid: 'hs' }), claims(config, { sub: 'admin' })), 'algorithm_not_allowed', `RS256 with kid hs signed with ${keyName}`)
    }
  })
})

t.test('A8 empty or weak HMAC secrets in a key set', async (t) => {
  const dictionary = ['', 'secret', 'Hello, World!', 'My super secret key!', 'password', 'changeme', 'your-256-bit-secret', 'jwt_secret', '1']
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const hs = member(config, 'hs')
    for (const secret of dictionary) {
      for (const kid of ['hs', 'unknown', '', undefined]) {
        const name = `signed with ${JSON.stringify(secret)}, ${kidName(kid)}`
        await refused(t, harness, jws(hs.alg, secret, header(config, { kid }), claims(config, { sub: 'admin' })), expectedReason(config, hs.alg, kid), name)
      }
    }
    // CFG: a member whose secret is missing, empty, short, a password or low-entropy.
    const minimum = hs.alg === 'HS256' ? 32 : 64
    const weak: Array<[string, unknown, string]> = [
      [`${minimum - 1} random bytes`, randomSecret(minimum - 1), 'FST_JWT_SECURITY_WEAK_SECRET'],
      ['an empty secret', '', 'FST_JWT_SECURITY_WEAK_SECRET'],
      ['an empty buffer', Buffer.alloc(0), 'FST_JWT_SECURITY_WEAK_SECRET'],
      ...dictionary.filter((secret) => secret !== '').map((secret): [string, unknown, string] => [JSON.stringify(secret), secret, 'FST_JWT_SECURITY_WEAK_SECRET']),
      ['"secret" repeated to 66 bytes', 'secret'.repeat(11), 'FST_JWT_SECURITY_WEAK_SECRET'],
      ['no secret', undefined, 'FST_JWT_SECURITY_INVALID_OPTION'],
      ['a null secret', null, 'FST_JWT_SECURITY_INVALID_OPTION']
    ]
    for (const [name, secret, code] of weak) {
      await expectCfg(t, { ...config.options, keys: keysWith(config, { kid: 'weak', secret: secret as string, algorithm: hs.alg as 'HS256' }) }, code, /"keys\[1\]\.secret"/, `a member with ${name}`)
    }
  })
})

t.test('A9 kid injection values against a key set: R401 key_unknown, no delay, no file or process access', async (t) => {
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const hs = member(config, 'hs')
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
    const accesses = await countCalls(fsAndProcess, async () => {
      syncBuiltinESMExports()
      for (const [kid, key] of playbook) {
        // The guessed key, and the real key of every member with that member's algorithm.
        const tokens: Array<[string, string]> = [
          [`the guessed key ${JSON.stringify(key)}`, jws(hs.alg, key, header(config, { kid }), claims(config, { sub: 'admin' }))],
          ...config.members.map((signer): [string, string] => [`the real key of ${signer.kid}`, memberToken(config, signer, { sub: 'admin' }, { kid })])
        ]
        for (const [keyName, token] of tokens) {
          const name = `${kidName(kid)} signed with ${keyName}`
          const started = process.hrtime.bigint()
          await refused(t, harness, token, 'key_unknown', name)
          const elapsed = Number(process.hrtime.bigint() - started) / 1e6
          t.ok(elapsed < 2000, `${name}: answered without delay (${elapsed.toFixed(0)} ms)`)
        }
      }
    })
    syncBuiltinESMExports()
    t.equal(accesses, 0, 'no file or process access during the requests')
    // An unknown kid with the right key: near misses of a real kid are not that kid.
    for (const kid of ['HS', 'Hs', 'hs ', ' hs', 'hs\u0000', 'hs\n', 'h', 'hs2', 'ｈｓ', 'rs', 'removed-2025']) {
      const expected = kid === 'rs' ? 'algorithm_not_allowed' : 'key_unknown'
      await refused(t, harness, jws(hs.alg, hs.key, header(config, { kid }), claims(config, { sub: 'admin' })), expected, `the real secret, ${kidName(kid)}`)
    }
    // An unknown kid is answered exactly like a bad signature (G1).
    const answer = async (token: string) => {
      const response = await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${token}` } })
      return [response.statusCode, response.headers['www-authenticate'], response.body]
    }
    const badSignature = withBadSignature(harness.genuine)
    t.strictSame(await answer(jws(hs.alg, hs.key, header(config, { kid: 'unknown' }), claims(config))), await answer(badSignature), 'unknown kid and bad signature: the same response')
  })
  // A set of one key accepts its tokens without kid, and still refuses an unknown kid.
  await eachKeySetConfig(t, async (t, full) => {
    const hs = member(full, 'hs')
    const config: KeySetConfig = {
      ...full,
      name: `${full.profile} (one key)`,
      options: { ...full.options, keys: [(full.options.keys as KeySpec[])[0] as KeySpec] },
      members: [hs],
      algorithms: [hs.alg]
    }
    const harness = await buildHarness(t, config)
    await expectOutcome(t, harness, jws(hs.alg, hs.key, header(config, { kid: undefined }), claims(config)), 'OK', 'no kid, one key')
    await refused(t, harness, jws(hs.alg, hs.key, header(config, { kid: 'other' }), claims(config)), 'key_unknown', 'the right key, an unknown kid')
    await refused(t, harness, jws(hs.alg, '', header(config, { kid: undefined }), claims(config)), 'signature_invalid', 'no kid, empty key')
  })
})

t.test('A10 kid "__proto__", "constructor", "toString", "hasOwnProperty" and non-string kids against the key Map', async (t) => {
  const prototypeKids = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__', 'prototype']
  const rawKids = ['null', '0', '1', '-1', 'true', 'false', '[]', '["hs"]', '{}', '{"kid":"hs"}', '{"toString":"hs"}', '{"__proto__":{"kid":"hs"}}', '1e999', '"\\u0068s"']
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const hs = member(config, 'hs')
    for (const kid of prototypeKids) {
      for (const [keyName, key] of [['an empty key', ''], ['"[object Object]"', '[object Object]'], ['"undefined"', 'undefined']] as const) {
        await refused(t, harness, jws(hs.alg, key, header(config, { kid }), claims(config, { sub: 'admin' })), 'key_unknown', `${kidName(kid)}, ${keyName}`)
      }
      for (const signer of config.members) {
        await refused(t, harness, memberToken(config, signer, { sub: 'admin' }, { kid }), 'key_unknown', `${kidName(kid)}, the real key of ${signer.kid}`)
      }
    }
    for (const kidJson of rawKids) {
      // "\u0068s" is the string "hs" escaped: JSON gives the same string, so it names the key.
      const expected = kidJson === '"\\u0068s"'
      for (const signer of config.members) {
        const hdr = headerWithRawKid(header(config, { alg: signer.alg }), kidJson)
        const token = jws(signer.alg, signer.key, hdr, claims(config, { sub: 'admin' }))
        if (expected && signer === hs) {
          await expectOutcome(t, harness, token, 'OK', `kid ${kidJson}, the real key of hs`, 'admin')
        } else {
          await refused(t, harness, token, expected ? 'algorithm_not_allowed' : 'key_unknown', `kid ${kidJson}, the real key of ${signer.kid}`)
        }
      }
      await refused(t, harness, jws(hs.alg, '', headerWithRawKid(header(config), kidJson), claims(config, { sub: 'admin' })), expected ? 'signature_invalid' : 'key_unknown', `kid ${kidJson}, an empty key`)
    }
  })
  // Prototype names are ordinary kids: a set whose kids are "__proto__" and "toString" works like any other.
  await eachKeySetConfig(t, async (t, full) => {
    const hs = member(full, 'hs')
    const other = randomSecret((hs.key as Buffer).length)
    const proto: KeyMember = { ...hs, kid: '__proto__' }
    const toStringKey: KeyMember = { ...hs, kid: 'toString', key: other }
    const config: KeySetConfig = {
      ...full,
      name: `${full.profile} (kids __proto__ and toString)`,
      kid: '__proto__',
      options: { ...full.options, keys: [{ kid: '__proto__', secret: hs.key as Buffer, algorithm: hs.alg as 'HS256' }, { kid: 'toString', secret: other, algorithm: hs.alg as 'HS256' }] },
      members: [proto, toStringKey],
      algorithms: [hs.alg],
      secretForms: [...full.secretForms, other.toString('hex'), other.toString('base64')]
    }
    const harness = await buildHarness(t, config)
    await expectOutcome(t, harness, memberToken(config, proto), 'OK', 'kid __proto__, its key')
    await expectOutcome(t, harness, memberToken(config, toStringKey), 'OK', 'kid toString, its key')
    await refused(t, harness, memberToken(config, proto, {}, { kid: 'toString' }), 'signature_invalid', 'kid toString, the key of __proto__')
    for (const kid of ['constructor', 'hasOwnProperty', 'valueOf', '__proto__ ', undefined]) {
      await refused(t, harness, memberToken(config, proto, {}, { kid }), 'key_unknown', `${kidName(kid)}, the key of __proto__`)
    }
  })
})

t.test('A11 embedded jwk header naming a real kid', async (t) => {
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    for (const target of config.members) {
      const alg = target.publicKey === null ? 'RS256' : target.alg
      const attacker = ATTACKER[alg] as KeyObject
      const jwk = { ...createPublicKey(attacker).export({ format: 'jwk' }), kid: target.kid }
      for (const kid of [target.kid, undefined]) {
        const token = jws(alg, attacker, header(config, { alg, kid, jwk }), claims(config, { sub: 'admin' }))
        await refused(t, harness, token, expectedReason(config, alg, kid), `${alg} signed by the key in its jwk header (jwk kid ${target.kid}), ${kidName(kid)}`)
      }
    }
  })
})

t.test('A12 jku, x5u and a kid that is a URL are never fetched', async (t) => {
  const listener = await startCountingListener()
  t.teardown(() => listener.close())
  await fetch(`${listener.url}/probe`).then(async (response) => await response.text())
  t.equal(listener.hits(), 1, 'the loopback listener counts requests')
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    for (const target of config.members) {
      const alg = target.publicKey === null ? 'RS256' : target.alg
      const attacker = ATTACKER[alg] as KeyObject
      const members: Array<[string, Record<string, unknown>]> = [
        ['jku, kid jwt_tool', { jku: `${listener.url}/jwks.json`, kid: 'jwt_tool' }],
        [`jku, kid ${target.kid}`, { jku: `${listener.url}/jwks.json`, kid: target.kid }],
        [`x5u, kid ${target.kid}`, { x5u: `${listener.url}/cert.pem`, kid: target.kid }],
        ['x5u, no kid', { x5u: `${listener.url}/cert.pem`, kid: undefined }],
        ['kid a URL', { kid: `${listener.url}/jwks.json` }],
        ['kid a URL, and jku', { kid: `${listener.url}/keys/${target.kid}`, jku: `${listener.url}/jwks.json` }]
      ]
      for (const [name, extra] of members) {
        const token = jws(alg, attacker, header(config, { alg, ...extra }), claims(config, { sub: 'admin' }))
        await refused(t, harness, token, expectedReason(config, alg, extra.kid), `${name}, signed by the attacker's ${alg} key`)
      }
    }
  })
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(listener.hits(), 1, 'no request reached the listener')
})

t.test('A13 x5c and x5t headers carrying an attacker certificate', async (t) => {
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    for (const target of config.members) {
      const alg = target.publicKey === null ? 'RS256' : target.alg
      const attacker = ATTACKER[alg] as KeyObject
      const certificate = selfSignedCertificate(attacker, target.kid)
      const { x5t, x5tS256 } = thumbprints(certificate)
      for (const kid of [target.kid, undefined]) {
        for (const [name, extra] of [['x5c', { x5c: [certificate.toString('base64')] }], ['x5c, x5t and x5t#S256', { x5c: [certificate.toString('base64')], x5t, 'x5t#S256': x5tS256 }]] as const) {
          const token = jws(alg, attacker, header(config, { alg, kid, ...extra }), claims(config, { sub: 'admin' }))
          await refused(t, harness, token, expectedReason(config, alg, kid), `${name} (${alg}), ${kidName(kid)}`)
        }
      }
    }
  })
})

t.test('A16 invalid ECDSA signatures for the ES256 key of a set', async (t) => {
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const es = member(config, 'es')
    const genuine = memberToken(config, es)
    await expectOutcome(t, harness, genuine, 'OK', 'the genuine ES256 token of es')
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
})

t.test('F1 the alg allow-list, then the kid lookup, then the signature: unknown kids and disallowed algorithms cost no signature check', async (t) => {
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const hs = member(config, 'hs')
    const otherHs = HS_ALGS.find((alg) => alg !== hs.alg) as string
    const genuine = await workFor(harness, `Bearer ${harness.genuine}`)
    t.equal(genuine.verifies, 1, 'the counter sees the one verification of a genuine token')
    const badSignature = await workFor(harness, `Bearer ${withBadSignature(memberToken(config, member(config, 'rs'), { sub: 'admin' }))}`)
    t.equal(badSignature.verifies, 1, 'a known kid with a bad signature costs one verification')
    const cheap: Array<[string, string, string]> = [
      ['an unknown kid', jws(hs.alg, hs.key, header(config, { kid: 'unknown' }), claims(config)), 'key_unknown'],
      ['no kid in a set of four', jws(hs.alg, hs.key, header(config, { kid: undefined }), claims(config)), 'key_unknown'],
      ['kid __proto__', jws(hs.alg, hs.key, header(config, { kid: '__proto__' }), claims(config)), 'key_unknown'],
      ['a kid that is not a string', jws(hs.alg, hs.key, header(config, { kid: 7 }), claims(config)), 'key_unknown'],
      [`${otherHs} (not in the set) with kid hs`, jws(otherHs, hs.key, header(config, { alg: otherHs }), claims(config)), 'algorithm_not_allowed'],
      ['PS256 (not in the set) with kid rs', jws('PS256', member(config, 'rs').key, header(config, { alg: 'PS256', kid: 'rs' }), claims(config)), 'algorithm_not_allowed'],
      ['alg none with kid hs', `${b64u(header(config, { alg: 'none' }))}.${segments(harness.genuine)[1]}.${segments(harness.genuine)[2]}`, 'algorithm_not_allowed'],
      [`${hs.alg} with kid rs (the key of another algorithm)`, jws(hs.alg, hs.key, header(config, { kid: 'rs' }), claims(config)), 'algorithm_not_allowed'],
      ['EdDSA with kid es', memberToken(config, member(config, 'ed'), {}, { kid: 'es' }), 'algorithm_not_allowed'],
      // The order: a disallowed alg is refused before its unknown kid is looked up.
      [`${otherHs} with an unknown kid: alg first`, jws(otherHs, hs.key, header(config, { alg: otherHs, kid: 'unknown' }), claims(config)), 'algorithm_not_allowed'],
      // An unknown kid is refused before its garbage signature is checked.
      ['an unknown kid and a garbage signature: kid first', `${b64u(header(config, { kid: 'unknown' }))}.${segments(harness.genuine)[1]}.AAAA`, 'key_unknown']
    ]
    for (const [name, token, reason] of cheap) {
      await refused(t, harness, token, reason, name)
      const work = await workFor(harness, `Bearer ${token}`)
      t.equal(work.verifies, 0, `${name}: no signature operation`)
    }
    const stream = cheap.map(([, token]) => token)
    const verifies = await countCalls([[globalThis.crypto.subtle, 'verify']], async () => {
      for (let index = 0; index < 110; index++) {
        await harness.app.inject({ url: '/protected', headers: { authorization: `Bearer ${stream[index % stream.length] as string}` } })
      }
    })
    t.equal(verifies, 0, '110 unknown-kid and disallowed-alg tokens: no signature operation')
  })
})

t.test('F3 a key set of more than 32 keys, and RSA keys under 2048 or over 4096 bits in it, are refused at register', async (t) => {
  await eachKeySetConfig(t, async (t, config) => {
    const hs = member(config, 'hs')
    const secrets = Array.from({ length: 33 }, () => randomSecret(64))
    const spec = (secret: Buffer, index: number): KeySpec => ({ kid: `k${index}`, secret, algorithm: hs.alg as 'HS256' })
    await expectCfg(t, { ...config.options, keys: secrets.map(spec) }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys": expected an array of 1 to 32 keys/, '33 keys')
    await expectCfg(t, { ...config.options, keys: [] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys": expected an array of 1 to 32 keys/, 'no key')
    // 32 keys are accepted, and the last one verifies.
    const last = secrets[31] as Buffer
    const lastMember: KeyMember = { kid: 'k31', alg: hs.alg, key: last, publicKey: null }
    const many: KeySetConfig = {
      ...config,
      name: `${config.profile} (32 keys)`,
      key: secrets[0] as Buffer,
      kid: 'k0',
      options: { ...config.options, keys: secrets.slice(0, 32).map(spec) },
      members: secrets.slice(0, 32).map((secret, index) => ({ kid: `k${index}`, alg: hs.alg, key: secret, publicKey: null })),
      secretForms: secrets.slice(0, 32).map((secret) => secret.toString('base64url'))
    }
    await t.test(many.name, async (t) => {
      const harness = await buildHarness(t, many)
      await expectOutcome(t, harness, memberToken(many, lastMember), 'OK', 'a token of the 32nd key')
      await refused(t, harness, memberToken(many, lastMember, { sub: 'admin' }, { kid: 'k32' }), 'key_unknown', 'kid k32')
    })
    // RSA keys out of range, as any member, whatever their form.
    const rsa2040 = generateKeyPairSync('rsa', { modulusLength: 2040 })
    const outOfRange: Array<[string, Partial<KeySpec>, string]> = [
      ['a 1024-bit private key', { privateKey: keyPair('rsa1024').privateKey }, 'privateKey'],
      ['a 1024-bit public key', { publicKey: keyPair('rsa1024').publicKey }, 'publicKey'],
      ['a 2040-bit private key', { privateKey: rsa2040.privateKey }, 'privateKey'],
      ['a 2047-bit public key', { publicKey: rsaPublicKeyOfSize(2047) }, 'publicKey'],
      ['a 4097-bit public key', { publicKey: rsaPublicKeyOfSize(4097) }, 'publicKey'],
      ['a 4097-bit public key as a JWK', { publicKey: rsaPublicKeyOfSize(4097).export({ format: 'jwk' }) as JWK }, 'publicKey'],
      ['a 16384-bit public key', { publicKey: rsaPublicKeyOfSize(16384) }, 'publicKey']
    ]
    for (const [name, key, option] of outOfRange) {
      for (const algorithm of ['RS256', 'PS256'] as const) {
        await expectCfg(t, { ...config.options, keys: keysWith(config, { kid: 'rsa-size', algorithm, ...key }) }, 'FST_JWT_SECURITY_INVALID_KEY',
          new RegExp(`"keys\\[1\\]\\.${option}": RSA keys must have 2048 to 4096 bits`), `${name} (${algorithm}) as keys[1]`)
      }
    }
    for (const bits of [2048, 4096]) {
      const accepted: KeySetConfig = { ...config, options: { ...config.options, keys: keysWith(config, { kid: 'rsa-size', algorithm: 'RS256', publicKey: rsaPublicKeyOfSize(bits) }) } }
      const harness = await buildHarness(t, accepted, { logger: false })
      t.ok(harness.app, `a ${bits}-bit public key is accepted in a set`)
    }
  })
})

t.test('G2 no 500 and no stack traces for key-set inputs', async (t) => {
  await eachKeySetConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const hs = member(config, 'hs')
    const cases: Array<[string, string]> = [
      ['A7 HS256 with kid rs, an empty key', jws('HS256', '', header(config, { alg: 'HS256', kid: 'rs' }), claims(config))],
      [`A7 ${hs.alg} with kid ed, an empty key`, jws(hs.alg, '', header(config, { kid: 'ed' }), claims(config))],
      [`A7 ${hs.alg} with kid es, the EC public key as secret`, jws(hs.alg, keyPair('ec256').publicKey, header(config, { kid: 'es' }), claims(config))],
      ['A7 RS256 with kid hs', jws('RS256', member(config, 'rs').key, header(config, { alg: 'RS256', kid: 'hs' }), claims(config))],
      ['A7 ES256 with kid rs', memberToken(config, member(config, 'es'), {}, { kid: 'rs' })],
      ['A8 an empty key, kid hs', jws(hs.alg, '', header(config), claims(config))],
      ['A8 an empty key, unknown kid', jws(hs.alg, '', header(config, { kid: 'nope' }), claims(config))],
      ['A8 an empty key, kid ""', jws(hs.alg, '', header(config, { kid: '' }), claims(config))],
      ['A10 kid "__proto__", empty key', jws(hs.alg, '', header(config, { kid: '__proto__' }), claims(config))],
      ['A10 kid "constructor", key "[object Object]"', jws(hs.alg, '[object Object]', header(config, { kid: 'constructor' }), claims(config))],
      ['A10 kid {"toString":"hs"}', jws(hs.alg, hs.key, header(config, { kid: { toString: 'hs' } }), claims(config))],
      ['A10 kid ["hs"]', jws(hs.alg, hs.key, header(config, { kid: ['hs'] }), claims(config))]
    ]
    const first = harness.logs.length
    for (const [name, token] of cases) await expectOutcome(t, harness, token, 'R401', name)
    const faults = harness.logs.slice(first).filter((line) => /"level":(50|60)/.test(line))
    t.strictSame(faults, [], 'no error-level log line: none of them is a fault')
  })
})
