// Catalogue group A (signature and algorithm), header transport, in the default and strict configurations.
import childProcess from 'node:child_process'
import { generateKeyPairSync, randomBytes, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { syncBuiltinESMExports } from 'node:module'
import t from 'tap'
import {
  b64u, buildChainHarness, buildHarness, claims, countCalls, eachConfig, expectCfg, expectOutcome, header, jws, makeConfig, segments, signatureBytes,
  randomSecret, SESSION_COOKIE, signed, unsigned, validToken, type Config, type KeyKind
} from './helpers.js'
import { publicKeyEncodings, selfSignedCertificate, thumbprints } from './key-encodings.js'

const ALL_KINDS: KeyKind[] = ['hmac', 'RS256', 'ES256', 'EdDSA']
const ASYMMETRIC: Array<Exclude<KeyKind, 'hmac'>> = ['RS256', 'ES256', 'EdDSA']

/** The attacker's own key pair for a configuration: the same key type, another key (RSA for HMAC apps, as jwt_tool does). */
const attackerKeys = new Map<string, { alg: string, privateKey: KeyObject, publicKey: KeyObject }>()
function attacker (config: Config) {
  const alg = config.alg.startsWith('HS') ? 'RS256' : config.alg
  let keys = attackerKeys.get(alg)
  if (keys === undefined) {
    const pair = alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
    keys = { alg, privateKey: pair.privateKey, publicKey: pair.publicKey }
    attackerKeys.set(alg, keys)
  }
  return keys
}

/** Case variants of an algorithm name that are not the name itself. */
function caseVariants (alg: string): string[] {
  const variants = [alg.toLowerCase(), alg.toUpperCase(), `${alg[0] as string}${alg.slice(1).toLowerCase()}`, `${alg} `, ` ${alg}`, `${alg}\u0000`]
  return [...new Set(variants)].filter((variant) => variant !== alg)
}

t.test('A1 alg none and case variants', async (t) => {
  for (const kind of ALL_KINDS) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
        const token = unsigned({ alg, typ: 'JWT' }, claims(config, { sub: 'admin' }))
        t.match(token, /\.$/, 'the signature segment is empty')
        await expectOutcome(t, harness, token, 'R401', `alg ${alg}`)
      }
    }, kind)
  }
})

t.test('A1 alg none and case variants (cookie)', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildChainHarness(t, config)
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const token = unsigned({ alg, typ: 'JWT' }, claims(config, { sub: 'admin' }))
      await expectOutcome(t, harness, { cookies: { [SESSION_COOKIE]: token } }, 'R401', `alg ${alg} in the session cookie`)
    }
  })
})

t.test('A2 alg none with the original signature; alg missing, empty or not a string', async (t) => {
  for (const kind of ALL_KINDS) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      const [, payload, signature] = segments(harness.genuine)
      await expectOutcome(t, harness, `${b64u(header(config, { alg: 'none' }))}.${payload}.${signature}`, 'R401', 'none with a valid-looking signature')
      const headers: Array<[string, Record<string, unknown>]> = [
        ['no alg', header(config, { alg: undefined, typ: 'JWT' })],
        ['empty alg', header(config, { alg: '' })],
        ['alg null', header(config, { alg: null })],
        ['alg 0', header(config, { alg: 0 })],
        ['alg true', header(config, { alg: true })],
        ['alg false', header(config, { alg: false })],
        ['alg jwt_tool', header(config, { alg: 'jwt_tool' })],
        ['alg array', header(config, { alg: [config.alg] })],
        ['alg object', header(config, { alg: { name: config.alg } })]
      ]
      for (const [name, hdr] of headers) {
        await expectOutcome(t, harness, signed(config, hdr, claims(config)), 'R401', name)
      }
    }, kind)
  }
})

t.test('A3 alg variants that are not exact matches', async (t) => {
  for (const kind of ALL_KINDS) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      for (const alg of caseVariants(config.alg)) {
        await expectOutcome(t, harness, signed(config, header(config, { alg }), claims(config)), 'R401', `alg ${JSON.stringify(alg)} signed with the real key`)
      }
    }, kind)
  }
})

t.test('A4 alg not in the allow-list, even with a correct signature', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    for (const alg of ['HS256', 'HS384', 'HS512'].filter((alg) => alg !== config.alg)) {
      const token = jws(alg, config.key, header(config, { alg }), claims(config))
      const failure = await expectOutcome(t, harness, token, 'R401', `${alg} with the real secret`)
      t.equal(failure?.reason, 'algorithm_not_allowed', `${alg}: refused for its algorithm`)
    }
  })
  const others: Record<string, string[]> = { RS256: ['PS256', 'RS384', 'RS512', 'PS512'], ES256: ['ES384', 'ES512'], EdDSA: ['Ed25519'] }
  for (const kind of ASYMMETRIC) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      for (const alg of others[kind] as string[]) {
        const token = jws(alg, config.key, header(config, { alg }), claims(config))
        const failure = await expectOutcome(t, harness, token, 'R401', `${alg} signed by the real private key`)
        t.equal(failure?.reason, 'algorithm_not_allowed', `${alg}: refused for its algorithm`)
      }
    }, kind)
  }
})

t.test('A5 null, truncated or broken signature', async (t) => {
  for (const kind of ALL_KINDS) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      const token = harness.genuine
      const [h, p, s] = segments(token)
      const broken: Array<[string, string]> = [
        ['empty signature', `${h}.${p}.`],
        ['last 4 characters removed', token.slice(0, -4)],
        ['last 3 characters removed', token.slice(0, -3)],
        ['last character removed', token.slice(0, -1)],
        ['signature AA', `${h}.${p}.AA`],
        ['first signature byte changed', `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`],
        ['signature of another payload', `${h}.${b64u(claims(config, { sub: 'admin' }))}.${s}`]
      ]
      for (const [name, value] of broken) await expectOutcome(t, harness, value, 'R401', name)
    }, kind)
  }
})

t.test('A6 key confusion: HS256 signed with the public key as the HMAC secret', async (t) => {
  for (const kind of ASYMMETRIC) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      const encodings = publicKeyEncodings(config.key as KeyObject)
      t.ok(new X509Certificate(encodings.find(([name]) => name === 'X.509 certificate DER')?.[1] as Buffer).verify(config.publicKey as KeyObject),
        'the certificate encoding is a real certificate of the server key')
      for (const [encoding, secret] of encodings) {
        for (const alg of ['HS256', 'HS384', 'HS512']) {
          const token = jws(alg, secret, header(config, { alg }), claims(config, { sub: 'admin' }))
          const failure = await expectOutcome(t, harness, token, 'R401', `${alg} keyed with the ${encoding}`)
          t.equal(failure?.reason, 'algorithm_not_allowed', `${alg} keyed with the ${encoding}: refused for its algorithm`)
        }
      }
    }, kind)
    // The riskiest set-up: the app is given only the public key, as PEM text.
    const verifyOnly = makeConfig('default', kind)
    const pemConfig: Config = {
      ...verifyOnly,
      name: `public key only, as PEM text (${kind})`,
      options: { algorithm: kind, publicKey: (verifyOnly.publicKey as KeyObject).export({ type: 'spki', format: 'pem' }) as string }
    }
    await t.test(pemConfig.name, async (t) => {
      const harness = await buildHarness(t, pemConfig)
      for (const [encoding, secret] of publicKeyEncodings(pemConfig.key as KeyObject)) {
        const token = jws('HS256', secret, header(pemConfig, { alg: 'HS256' }), claims(pemConfig, { sub: 'admin' }))
        await expectOutcome(t, harness, token, 'R401', `HS256 keyed with the ${encoding}`)
      }
    })
  }
})

t.test('A7 algorithm/key type mismatch never becomes a 500', async (t) => {
  for (const kind of ASYMMETRIC) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      for (const [name, key] of [['a random secret', randomBytes(32)], ['an empty secret', Buffer.alloc(0)]] as const) {
        const failure = await expectOutcome(t, harness, jws('HS256', key, header(config, { alg: 'HS256' }), claims(config)), 'R401', `HS256 signed with ${name}`)
        t.equal(failure?.reason, 'algorithm_not_allowed')
      }
      const other = ASYMMETRIC.find((alg) => alg !== kind) as string
      const otherKey = makeConfig('default', other as KeyKind).key
      await expectOutcome(t, harness, jws(other, otherKey, header(config, { alg: other }), claims(config)), 'R401', `${other} token to a ${kind} verifier`)
    }, kind)
  }
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const rsa = makeConfig('default', 'RS256').key
    await expectOutcome(t, harness, jws('RS256', rsa, header(config, { alg: 'RS256' }), claims(config)), 'R401', 'RS256 token to an HMAC verifier')
  })
})

t.test('A8 empty or weak HMAC secret', async (t) => {
  const dictionary = ['', 'secret', 'Hello, World!', 'My super secret key!', 'password', 'changeme', 'your-256-bit-secret', 'jwt_secret', '1']
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    for (const secret of dictionary) {
      const failure = await expectOutcome(t, harness, jws(config.alg, secret, header(config), claims(config, { sub: 'admin' })), 'R401', `signed with ${JSON.stringify(secret)}`)
      t.equal(failure?.reason, 'signature_invalid')
    }
    // CFG: a configured secret shorter than the hash output, empty, a password, or low-entropy.
    const minimum = config.alg === 'HS256' ? 32 : 64
    const weak: Array<[string, string | Buffer]> = [
      [`${minimum - 1} random bytes`, randomSecret(minimum - 1)],
      ['an empty secret', ''],
      ['an empty buffer', Buffer.alloc(0)],
      ...dictionary.filter((secret) => secret !== '').map((secret): [string, string] => [JSON.stringify(secret), secret]),
      ['"secret" repeated to 66 bytes', 'secret'.repeat(11)]
    ]
    for (const [name, secret] of weak) {
      await expectCfg(t, { ...config.options, secret }, 'FST_JWT_SECURITY_WEAK_SECRET', /"secret"/, name)
    }
  })
  for (const [algorithm, bytes] of [['HS256', 32], ['HS384', 48], ['HS512', 64]] as const) {
    await expectCfg(t, { algorithm, secret: randomSecret(bytes - 1) }, 'FST_JWT_SECURITY_WEAK_SECRET', new RegExp(`${algorithm} needs at least ${bytes} bytes`), `${algorithm} with ${bytes - 1} bytes`)
  }
})

t.test('A9 kid injection values: R401, no delay, no file or process access', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const kids: Array<[unknown, string]> = [
      ['', ''],
      ['', 'null'],
      [null, ''],
      ['../../../../../../dev/null', ''],
      ['/dev/null', ''],
      ['/invalid_path', ''],
      ['|sleep 10', ''],
      ['; sleep 10 #', ''],
      ["x' UNION SELECT '1';--", '1']
    ]
    const fsAndProcess: Array<[object, string]> = [
      ...['open', 'openSync', 'readFile', 'readFileSync', 'createReadStream'].map((name): [object, string] => [fs, name]),
      ...['open', 'readFile'].map((name): [object, string] => [fs.promises, name]),
      ...['exec', 'execSync', 'execFile', 'execFileSync', 'spawn', 'spawnSync', 'fork'].map((name): [object, string] => [childProcess, name])
    ]
    const failures: Array<string | undefined> = []
    const accesses = await countCalls(fsAndProcess, async () => {
      syncBuiltinESMExports()
      for (const [kid, key] of kids) {
        const started = process.hrtime.bigint()
        const failure = await expectOutcome(t, harness, jws(config.alg, key, header(config, { kid }), claims(config, { sub: 'admin' })), 'R401', `kid ${JSON.stringify(kid)}`)
        const elapsed = Number(process.hrtime.bigint() - started) / 1e6
        t.ok(elapsed < 2000, `kid ${JSON.stringify(kid)}: answered without delay (${elapsed.toFixed(0)} ms)`)
        failures.push(failure?.reason)
      }
    })
    syncBuiltinESMExports()
    t.equal(accesses, 0, 'no file or process access during the requests')
    // A lone secret has no kid, so every kid is an unknown key: a Map lookup refuses it before any
    // signature check, and expectOutcome saw the very response a bad signature gets.
    t.strictSame(new Set(failures), new Set(['key_unknown']), 'every kid is refused as an unknown key')
    // The same wrong key without a kid: the same answer.
    const withoutKid = await expectOutcome(t, harness, jws(config.alg, '', header(config), claims(config, { sub: 'admin' })), 'R401', 'no kid, empty key')
    t.equal(withoutKid?.reason, 'signature_invalid')
  })
})

t.test('A11 embedded jwk header (self-signed key injection)', async (t) => {
  for (const kind of ALL_KINDS) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      const { alg, privateKey, publicKey } = attacker(config)
      const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'jwt_tool' }
      const token = jws(alg, privateKey, header(config, { alg, jwk }), claims(config, { sub: 'admin' }))
      const failure = await expectOutcome(t, harness, token, 'R401', `${alg} signed by the key in its jwk header`)
      t.equal(failure?.reason, alg === config.alg ? 'signature_invalid' : 'algorithm_not_allowed', 'the embedded key is never used')
    }, kind)
  }
})

t.test('A12 jku and x5u headers are never fetched', async (t) => {
  const hits: string[] = []
  const listener = createServer((request, response) => {
    hits.push(request.url ?? '')
    response.setHeader('content-type', 'application/json')
    response.end('{"keys":[]}')
  })
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  t.teardown(() => new Promise<void>((resolve) => listener.close(() => resolve())))
  const base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`
  // The listener works: a request to it is counted.
  await fetch(`${base}/probe`).then(async (response) => await response.text())
  t.strictSame(hits, ['/probe'], 'the loopback listener counts requests')
  hits.length = 0
  for (const kind of ALL_KINDS) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      const { alg, privateKey } = attacker(config)
      const members: Array<[string, Record<string, unknown>]> = [
        ['jku', { jku: `${base}/jwks.json`, kid: 'jwt_tool' }],
        ['x5u', { x5u: `${base}/cert.pem` }],
        ['jku and x5u', { jku: `${base}/jwks.json`, x5u: `${base}/cert.pem`, kid: 'jwt_tool' }]
      ]
      for (const [name, extra] of members) {
        await expectOutcome(t, harness, jws(alg, privateKey, header(config, { alg, ...extra }), claims(config, { sub: 'admin' })), 'R401', `${name} with the attacker's ${alg} key`)
        // With the server's own algorithm name but the attacker's key (HMAC apps: a guessed secret).
        const key = config.alg.startsWith('HS') ? Buffer.from('secret') : privateKey
        await expectOutcome(t, harness, jws(config.alg, key, header(config, extra), claims(config, { sub: 'admin' })), 'R401', `${name} with the server's algorithm`)
      }
    }, kind)
  }
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.strictSame(hits, [], 'no request reached the listener')
})

t.test('A13 x5c and x5t headers carrying an attacker certificate', async (t) => {
  for (const kind of ALL_KINDS) {
    await eachConfig(t, async (t, config) => {
      const harness = await buildHarness(t, config)
      const { alg, privateKey } = attacker(config)
      const certificate = selfSignedCertificate(privateKey, 'attacker.example')
      const { x5t, x5tS256 } = thumbprints(certificate)
      const members: Array<[string, Record<string, unknown>]> = [
        ['x5c', { x5c: [certificate.toString('base64')] }],
        ['x5c with x5t and x5t#S256', { x5c: [certificate.toString('base64')], x5t, 'x5t#S256': x5tS256 }]
      ]
      for (const [name, extra] of members) {
        const failure = await expectOutcome(t, harness, jws(alg, privateKey, header(config, { alg, ...extra }), claims(config, { sub: 'admin' })), 'R401', name)
        t.equal(failure?.reason, alg === config.alg ? 'signature_invalid' : 'algorithm_not_allowed')
      }
    }, kind)
  }
})

t.test('A14 crit header', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const crits: Array<[string, Record<string, unknown>]> = [
      ['crit ["foo"] with foo', { crit: ['foo'], foo: 1 }],
      ['crit []', { crit: [] }],
      ['crit ["exp"]', { crit: ['exp'] }],
      ['crit "foo"', { crit: 'foo' }],
      ['crit ["foo"] without foo', { crit: ['foo'] }],
      ['crit ["alg"]', { crit: ['alg'] }],
      ['crit null', { crit: null }]
    ]
    for (const [name, extra] of crits) {
      await expectOutcome(t, harness, signed(config, header(config, extra), claims(config)), 'R401', name)
    }
  })
})

t.test('A15 unencoded payload (b64: false)', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const sign = (input: string) => `${input}.${signatureBytes(config.alg, config.key, input).toString('base64url')}`
    const hdr = b64u(header(config, { b64: false, crit: ['b64'] }))
    await expectOutcome(t, harness, sign(`${hdr}.${JSON.stringify(claims(config))}`), 'R401', 'b64 false with crit, raw JSON payload')
    await expectOutcome(t, harness, sign(`${hdr}.${b64u(claims(config))}`), 'R401', 'b64 false with crit, base64url payload')
    await expectOutcome(t, harness, sign(`${hdr}.foo`), 'R401', 'the jose test vector shape (payload "foo")')
    // Without crit, b64 is ignored and the token is a normal JWS (jose "ignores b64 false without crit").
    await expectOutcome(t, harness, validToken(config, {}, { b64: false }), 'OK', 'b64 false without crit')
  })
})

t.test('A16 invalid ECDSA signatures', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const [h, p] = segments(harness.genuine)
    const der = cryptoSign('sha256', Buffer.from(`${h}.${p}`), config.key as KeyObject)
    const cases: Array<[string, string]> = [
      ['64 zero bytes (r = s = 0)', Buffer.alloc(64).toString('base64url')],
      ['empty', ''],
      ['the DER encoding of a valid signature', der.toString('base64url')],
      ['r = s = n (the group order)', Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'.repeat(2), 'hex').toString('base64url')],
      ['63 bytes', Buffer.from(segments(harness.genuine)[2], 'base64url').subarray(1).toString('base64url')]
    ]
    for (const [name, signature] of cases) await expectOutcome(t, harness, `${h}.${p}.${signature}`, 'R401', name)
  }, 'ES256')
})
