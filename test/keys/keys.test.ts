import { createSecretKey, randomBytes, webcrypto } from 'node:crypto'
import { types } from 'node:util'
import t from 'tap'
import { importKeys, isHmac, ALGORITHMS } from '../../lib/keys/keys.js'
import { rejected } from '../helpers/errors.js'
import { SECRET } from '../helpers/app.js'
import { keyPair } from '../helpers/keys.js'
// A public key of any size without generating primes (a 4160-bit key pair took 2 to 3 s, more under load).
import { rsaPublicKeyOfSize } from '../security/key-encodings.js'

t.test('HMAC secrets become one non-extractable CryptoKey for signing and verifying', async (t) => {
  for (const secret of [SECRET, Buffer.from(SECRET), createSecretKey(Buffer.from(SECRET))]) {
    const keys = await importKeys({ algorithm: 'HS512', secret })
    t.ok(types.isCryptoKey(keys.signingKey))
    t.equal(keys.signingKey, keys.verificationKey)
    t.equal(keys.verificationKey.extractable, false)
    t.same(keys.verificationKey.algorithm, { name: 'HMAC', hash: { name: 'SHA-512' }, length: 512 })
    t.ok(Object.isFrozen(keys))
  }
})

t.test('secrets shorter than the hash output are refused per algorithm', async (t) => {
  const cases = [['HS256', 32], ['HS384', 48], ['HS512', 64]] as const
  for (const [algorithm, bytes] of cases) {
    const short = randomBytes(bytes - 1)
    const error = await rejected(importKeys({ algorithm, secret: short }))
    t.equal(error.code, 'FST_JWT_SECURITY_WEAK_SECRET', algorithm)
    t.match(error.message, new RegExp(`"secret": ${algorithm} needs at least ${bytes} bytes, got ${bytes - 1}`))
    t.ok(await importKeys({ algorithm, secret: randomBytes(bytes) }))
  }
})

t.test('empty, missing, low-entropy and key-shaped secrets are refused', async (t) => {
  t.equal((await rejected(importKeys({ algorithm: 'HS256', secret: '' }))).code, 'FST_JWT_SECURITY_WEAK_SECRET')
  const missing = await rejected(importKeys({ algorithm: 'HS256' }))
  t.equal(missing.code, 'FST_JWT_SECURITY_INVALID_OPTION')
  t.match(missing.message, 'Invalid option "secret": is missing: HS256 needs a secret of at least 32 random bytes. Set it, for example to process.env.JWT_SECRET, and create one with: node -e', 'the message says the secret is missing and how to set it')
  t.equal((await rejected(importKeys({ algorithm: 'HS256', secret: null as unknown as string }))).code, 'FST_JWT_SECURITY_INVALID_OPTION')
  const repeated = await rejected(importKeys({ algorithm: 'HS256', secret: 'ab'.repeat(40) }))
  t.equal(repeated.code, 'FST_JWT_SECURITY_WEAK_SECRET')
  t.match(repeated.message, /distinct/)
  const jwk = keyPair('rsa').publicKeyObject.export({ format: 'jwk' })
  for (const keyLike of [keyPair('rsa').publicKey, `  ${keyPair('ec256').publicKey}`, `\uFEFF${keyPair('rsa').publicKey}`, `\u200B${keyPair('rsa').publicKey}`, JSON.stringify(jwk), JSON.stringify({ keys: [jwk] }), `ssh-ed25519 ${'A'.repeat(68)} me@host`, `ecdsa-sha2-nistp256 ${'A'.repeat(140)}`]) {
    const error = await rejected(importKeys({ algorithm: 'HS256', secret: keyLike }))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_KEY')
    t.match(error.message, /looks like a key/)
  }
  for (const notAKey of [`{${'k7Qp2Vx9Lm4Rt8Wz1Ny6Bc3Hd5Jf0Gs'}`, `{"a":1,"b":"${SECRET}"}`]) {
    t.ok(await importKeys({ algorithm: 'HS256', secret: notAKey }), 'a secret that starts with { but is not a JWK is a secret')
  }
  const wrongType = await rejected(importKeys({ algorithm: 'HS256', secret: 42 as unknown as string }))
  t.equal(wrongType.code, 'FST_JWT_SECURITY_INVALID_OPTION')
  const privateAsSecret = await rejected(importKeys({ algorithm: 'HS256', secret: keyPair('rsa').privateKeyObject }))
  t.equal(privateAsSecret.code, 'FST_JWT_SECURITY_INVALID_OPTION')
})

t.test('HMAC takes no key pair, asymmetric algorithms take no secret', async (t) => {
  t.match(await rejected(importKeys({ algorithm: 'HS256', secret: SECRET, privateKey: keyPair('rsa').privateKey })), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: /"privateKey"/ })
  t.match(await rejected(importKeys({ algorithm: 'HS256', publicKey: keyPair('rsa').publicKey })), { code: 'FST_JWT_SECURITY_INVALID_OPTION' })
  t.match(await rejected(importKeys({ algorithm: 'RS256', secret: SECRET })), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: /"secret"/ })
  t.match(await rejected(importKeys({ algorithm: 'ES256' })), { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: /needs privateKey/ })
})

t.test('each asymmetric algorithm imports its own kind of key, as PEM, JWK, KeyObject or CryptoKey', async (t) => {
  const cases = [
    ['RS256', 'rsa'], ['RS384', 'rsa'], ['RS512', 'rsa'], ['PS256', 'rsa'], ['PS384', 'rsa'], ['PS512', 'rsa'],
    ['ES256', 'ec256'], ['ES384', 'ec384'], ['ES512', 'ec521'], ['EdDSA', 'ed25519'], ['Ed25519', 'ed25519']
  ] as const
  for (const [algorithm, kind] of cases) {
    const pair = keyPair(kind)
    const keys = await importKeys({ algorithm, privateKey: pair.privateKey })
    t.equal(keys.signingKey?.type, 'private', algorithm)
    t.equal(keys.verificationKey.type, 'public', algorithm)
    const fromJwk = await importKeys({ algorithm, publicKey: pair.publicKeyObject.export({ format: 'jwk' }) })
    t.equal(fromJwk.signingKey, null)
    t.equal(fromJwk.verificationKey.type, 'public')
  }
  const pair = keyPair('ec256')
  t.ok(await importKeys({ algorithm: 'ES256', privateKey: pair.privateKeyObject, publicKey: pair.publicKeyObject }))
  t.ok(await importKeys({ algorithm: 'ES256', privateKey: Buffer.from(pair.privateKey) }))
  t.ok(await importKeys({ algorithm: 'ES256', privateKey: pair.privateKeyObject.export({ format: 'jwk' }) }))
  const cryptoKeys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  t.ok(await importKeys({ algorithm: 'ES256', privateKey: cryptoKeys.privateKey, publicKey: cryptoKeys.publicKey }))
  for (const privateKey of [pair.privateKey, pair.privateKeyObject]) {
    const derived = await importKeys({ algorithm: 'ES256', publicKey: privateKey })
    t.equal(derived.verificationKey.type, 'public', 'a private key given as publicKey only lends its public half')
    t.equal(derived.signingKey, null)
  }
})

t.test('a publicKey given with a privateKey must be its public half', async (t) => {
  for (const [algorithm, kind] of [['RS256', 'rsa'], ['ES256', 'ec256'], ['EdDSA', 'ed25519']] as const) {
    const mine = keyPair(kind)
    t.ok(await importKeys({ algorithm, privateKey: mine.privateKey, publicKey: mine.publicKey }), algorithm)
  }
  const other = (await import('node:crypto')).generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
  const error = await rejected(importKeys({ algorithm: 'ES256', privateKey: keyPair('ec256').privateKey, publicKey: other }))
  t.equal(error.code, 'FST_JWT_SECURITY_INVALID_KEY')
  t.match(error.message, /"publicKey": is not the public half of privateKey/)
})

t.test('encrypted PEM private keys take a passphrase', async (t) => {
  const encrypted = keyPair('ed25519').privateKeyObject.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' }) as string
  t.ok(await importKeys({ algorithm: 'EdDSA', privateKey: encrypted, passphrase: 'correct horse' }))
  t.match(await rejected(importKeys({ algorithm: 'EdDSA', privateKey: encrypted, passphrase: 'wrong' })), { code: 'FST_JWT_SECURITY_INVALID_KEY', message: /"privateKey"/ })
})

t.test('keys that do not fit the algorithm are refused at import', async (t) => {
  const mismatches = [
    ['RS256', 'ec256'], ['PS256', 'ed25519'], ['ES256', 'rsa'], ['ES256', 'ec384'], ['ES512', 'ec256'], ['EdDSA', 'ed448'], ['EdDSA', 'ec256']
  ] as const
  for (const [algorithm, kind] of mismatches) {
    const error = await rejected(importKeys({ algorithm, privateKey: keyPair(kind).privateKey }))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_KEY', `${algorithm} with ${kind}`)
    t.match(error.message, new RegExp(`does not fit ${algorithm}`))
  }
})

t.test('RSA keys must have 2048 to 4096 bits', async (t) => {
  t.match(await rejected(importKeys({ algorithm: 'RS256', publicKey: keyPair('rsa1024').publicKey })), { code: 'FST_JWT_SECURITY_INVALID_KEY', message: /got 1024/ })
  t.match(await rejected(importKeys({ algorithm: 'RS256', publicKey: rsaPublicKeyOfSize(4160) })), { code: 'FST_JWT_SECURITY_INVALID_KEY', message: /got 4160/ })
})

t.test('unreadable keys and keys of the wrong kind are refused with the option name', async (t) => {
  const pair = keyPair('rsa')
  t.match(await rejected(importKeys({ algorithm: 'RS256', privateKey: 'not a key' })), { code: 'FST_JWT_SECURITY_INVALID_KEY', message: /"privateKey": cannot be read as a private key/ })
  t.match(await rejected(importKeys({ algorithm: 'RS256', privateKey: pair.publicKey })), { code: 'FST_JWT_SECURITY_INVALID_KEY', message: /"privateKey"/ })
  t.match(await rejected(importKeys({ algorithm: 'RS256', privateKey: pair.publicKeyObject })), { code: 'FST_JWT_SECURITY_INVALID_KEY', message: /expected a private key, got a public key/ })
  t.match(await rejected(importKeys({ algorithm: 'RS256', publicKey: createSecretKey(Buffer.from(SECRET)) })), { code: 'FST_JWT_SECURITY_INVALID_KEY', message: /"publicKey": expected a public key, got a secret key/ })
  t.match(await rejected(importKeys({ algorithm: 'RS256', publicKey: { kty: 'RSA' } })), { code: 'FST_JWT_SECURITY_INVALID_KEY', message: /"publicKey"/ })
})

t.test('algorithm helpers', async (t) => {
  t.equal(isHmac('HS256'), true)
  t.equal(isHmac('RS256'), false)
  t.same([...ALGORITHMS].sort(), ['ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA', 'HS256', 'HS384', 'HS512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'])
})
