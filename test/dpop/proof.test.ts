import { constants, generateKeyPairSync, sign } from 'node:crypto'
import { generateKeyPair, exportJWK, SignJWT, calculateJwkThumbprint, type CryptoKey, type GenerateKeyPairResult, type JWK } from 'jose'
import * as oauth from 'oauth4webapi'
import t from 'tap'
import { accessTokenHash, normalizeHtu, verifyProof, type ProofRules } from '../../lib/dpop/proof.js'

// oauth4webapi signs with Ed25519 keys under the fully-specified alg Ed25519, not EdDSA.
const RULES: ProofRules = { algorithms: ['ES256', 'EdDSA', 'Ed25519'], maxAge: 60, leeway: 5 }
const URL_OF_API = 'https://api.example.test/orders'
const TOKEN = 'an.access.token'

// A proof as a maintained client makes it: oauth4webapi's DPoP handle, its request caught before it leaves.
async function clientProof (keyPair: GenerateKeyPairResult, method = 'GET', url = `${URL_OF_API}?page=2#top`): Promise<string> {
  let proof = ''
  const DPoP = oauth.DPoP({}, keyPair)
  await oauth.protectedResourceRequest(TOKEN, method, new URL(url), new Headers(), null, {
    DPoP,
    [oauth.customFetch]: async (_url: string, init: RequestInit) => {
      proof = new Headers(init.headers).get('dpop') ?? ''
      return new Response('{}', { status: 200 })
    }
  })
  return proof
}

async function handProof (key: CryptoKey, jwk: JWK, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return await new SignJWT({ jti: crypto.randomUUID(), htm: 'GET', htu: URL_OF_API, ath: accessTokenHash(TOKEN), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk, ...header })
    .setIssuedAt()
    .sign(key)
}

const expect = (overrides: Partial<{ method: string, url: string, accessToken: string | null, jkt: string | null, now: number }> = {}) =>
  ({ method: 'GET', url: URL_OF_API, accessToken: TOKEN, jkt: null, now: Date.now(), ...overrides })

t.test('a proof made by oauth4webapi verifies, with the thumbprint of its key', async (t) => {
  for (const alg of ['ES256', 'EdDSA'] as const) {
    const keyPair = await generateKeyPair(alg, { extractable: false })
    const proof = await clientProof(keyPair)
    const verified = await verifyProof(proof, expect(), RULES)
    t.equal(verified.jkt, await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)), alg)
    t.type(verified.jti, 'string')
    t.equal(verified.nonce, undefined)
  }
})

t.test('each check of RFC 9449 §4.3 refuses with its own reason', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk = await exportJWK(publicKey)
  const reason = async (proof: string, expected = expect()) => await verifyProof(proof, expected, RULES).then(() => 'accepted', (error: { reason: string }) => error.reason)
  t.equal(await reason(await handProof(privateKey, jwk, {})), 'accepted')
  t.equal(await reason('not a jwt'), 'dpop_proof_malformed')
  t.equal(await reason(`${'a'.repeat(4096)}.b.c`), 'dpop_proof_malformed')
  t.equal(await reason(await handProof(privateKey, jwk, {}, { typ: 'JWT' })), 'dpop_proof_invalid', 'typ must be dpop+jwt')
  t.equal(await reason(await handProof(privateKey, { ...jwk, d: (await exportJWK(privateKey)).d }, {})), 'dpop_proof_invalid', 'a private jwk')
  const other = await generateKeyPair('ES256', { extractable: true })
  t.equal(await reason(await handProof(other.privateKey, jwk, {})), 'dpop_proof_invalid', 'signed by another key than its jwk')
  t.equal(await reason(await handProof(privateKey, jwk, { jti: undefined })), 'dpop_proof_invalid', 'no jti')
  t.equal(await reason(await handProof(privateKey, jwk, { jti: 'x'.repeat(257) })), 'dpop_proof_invalid', 'a jti too long')
  t.equal(await reason(await handProof(privateKey, jwk, { nonce: 7 })), 'dpop_proof_invalid', 'a nonce that is not a string')
  t.equal(await reason(await handProof(privateKey, jwk, { htm: 'POST' })), 'dpop_method_mismatch')
  t.equal(await reason(await handProof(privateKey, jwk, { htu: 'https://api.example.test/other' })), 'dpop_url_mismatch')
  t.equal(await reason(await handProof(privateKey, jwk, { htu: 42 })), 'dpop_url_mismatch')
  t.equal(await reason(await handProof(privateKey, jwk, { ath: accessTokenHash('another.token') })), 'dpop_ath_mismatch')
  t.equal(await reason(await handProof(privateKey, jwk, { ath: undefined }), expect({ accessToken: null })), 'accepted', 'without an access token, no ath')
  t.equal(await reason(await handProof(privateKey, jwk, {}), expect({ now: Date.now() + 70_000 })), 'dpop_proof_expired', 'an iat too old')
  t.equal(await reason(await handProof(privateKey, jwk, {}), expect({ now: Date.now() - 30_000 })), 'dpop_proof_invalid', 'an iat in the future')
  const rsa = await generateKeyPair('RS256', { extractable: true })
  const rsaProof = await new SignJWT({ jti: 'j', htm: 'GET', htu: URL_OF_API, ath: accessTokenHash(TOKEN) })
    .setProtectedHeader({ alg: 'RS256', typ: 'dpop+jwt', jwk: await exportJWK(rsa.publicKey) }).setIssuedAt().sign(rsa.privateKey)
  t.equal(await reason(rsaProof), 'dpop_proof_invalid', 'an algorithm off the list')
  const thumbprint = await calculateJwkThumbprint(jwk)
  t.equal(await reason(await handProof(privateKey, jwk, {}), expect({ jkt: thumbprint })), 'accepted', 'the key the token names')
  t.equal(await reason(await handProof(other.privateKey, jwk, {}), expect({ jkt: 'x'.repeat(43) })), 'dpop_key_mismatch', 'another key: refused before its signature is checked')
  t.equal(await reason(await handProof(privateKey, jwk, { htu: 'not a url' }), expect({ url: null as unknown as string })), 'dpop_url_mismatch', 'no expected URL matches nothing')
})

t.test('htu is compared after RFC 3986 normalisation, without query and fragment', async (t) => {
  t.equal(normalizeHtu('HTTPS://API.Example.TEST:443/a/./b/../c?x=1#f'), 'https://api.example.test/a/c')
  t.equal(normalizeHtu('https://api.example.test/%7euser/%2fx%2F'), 'https://api.example.test/~user/%2Fx%2F')
  t.equal(normalizeHtu('http://127.0.0.1:8080/'), 'http://127.0.0.1:8080/')
  t.equal(normalizeHtu('ftp://example.test/'), null)
  t.equal(normalizeHtu('/relative'), null)
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const proof = await handProof(privateKey, await exportJWK(publicKey), { htu: 'https://API.example.test:443/orders?ignored=1' })
  t.equal((await verifyProof(proof, expect(), RULES)).jti.length > 0, true)
})

t.test('the proof\'s jwk: a public key of a known type, its thumbprint over RFC 7638\'s members only', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk = await exportJWK(publicKey)
  const reason = async (proof: string) => await verifyProof(proof, expect(), RULES).then(({ jkt }) => jkt, (error: { reason: string }) => error.reason)
  const thumbprint = await calculateJwkThumbprint(jwk)
  t.equal(await reason(await handProof(privateKey, { ...jwk, kid: 'k1', use: 'sig', alg: 'ES256' }, {})), thumbprint, 'other members are left out of the thumbprint')
  t.equal(await reason(await handProof(privateKey, jwk, {})), thumbprint, 'the imported key is used again')
  const unsigned = (header: Record<string, unknown>) => [header, { jti: 'j', htm: 'GET', htu: URL_OF_API, iat: Math.floor(Date.now() / 1000), ath: accessTokenHash(TOKEN) }]
    .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url')).join('.') + '.' + Buffer.alloc(64, 1).toString('base64url')
  const cases: Array<[string, unknown]> = [
    ['no jwk', undefined], ['a jwk that is a string', 'key'], ['a jwk that is an array', [jwk]], ['a secret key', { kty: 'oct', k: 'c2VjcmV0' }],
    ['an EC key without y', { kty: 'EC', crv: 'P-256', x: jwk.x }], ['an RSA key with a private member', { kty: 'RSA', n: 'AQAB', e: 'AQAB', p: 'AQAB' }],
    ['a P-384 key under ES256', (await exportJWK((await generateKeyPair('ES384', { extractable: true })).publicKey))],
  ]
  for (const [what, value] of cases) {
    t.equal(await reason(unsigned({ alg: 'ES256', typ: 'dpop+jwt', jwk: value })), 'dpop_proof_invalid', what)
  }
  t.equal(await reason(unsigned({ alg: 'ES256', typ: 'dpop+jwt', jwk: cases[6]?.[1] })), 'dpop_proof_invalid', 'a key that failed to import is not kept failing')
})

t.test('an RSA proof key has the exponent 65537 and 2048 to 4096 bits: no key sets what a proof costs', async (t) => {
  const rules: ProofRules = { ...RULES, algorithms: ['PS256'] }
  const reason = async (options: { modulusLength: number, publicExponent?: number }) => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', options)
    const jwk = publicKey.export({ format: 'jwk' }) as JWK
    // Signed with node:crypto: jose refuses to sign with a key under 2048 bits.
    const input = [{ alg: 'PS256', typ: 'dpop+jwt', jwk }, { jti: crypto.randomUUID(), htm: 'GET', htu: URL_OF_API, ath: accessTokenHash(TOKEN), iat: Math.floor(Date.now() / 1000) }]
      .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url')).join('.')
    const signature = sign('sha256', Buffer.from(input), { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
    const proof = `${input}.${signature.toString('base64url')}`
    const thumbprint = await calculateJwkThumbprint(jwk)
    return await verifyProof(proof, expect(), rules).then(({ jkt }) => jkt === thumbprint ? 'accepted' : 'wrong jkt', (error: { reason: string }) => error.reason)
  }
  t.equal(await reason({ modulusLength: 2048 }), 'accepted')
  t.equal(await reason({ modulusLength: 4096 }), 'accepted')
  t.equal(await reason({ modulusLength: 2048, publicExponent: 3 }), 'dpop_proof_invalid', 'another exponent')
  t.equal(await reason({ modulusLength: 1024 }), 'dpop_proof_invalid', 'too short')
  t.equal(await reason({ modulusLength: 4104 }), 'dpop_proof_invalid', 'too long')
})

t.test('the imported keys are bounded: the oldest goes first, and is imported again when it comes back', async (t) => {
  const first = await generateKeyPair('EdDSA', { extractable: true })
  const firstJwk = await exportJWK(first.publicKey)
  const proofOf = async (key: CryptoKey, jwk: JWK) => await new SignJWT({ jti: crypto.randomUUID(), htm: 'GET', htu: URL_OF_API, ath: accessTokenHash(TOKEN) })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'dpop+jwt', jwk }).setIssuedAt().sign(key)
  await verifyProof(await proofOf(first.privateKey, firstJwk), expect(), RULES)
  for (let index = 0; index < 1024; index++) {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true })
    await verifyProof(await proofOf(privateKey, await exportJWK(publicKey)), expect(), RULES)
  }
  const again = await verifyProof(await proofOf(first.privateKey, firstJwk), expect(), RULES)
  t.equal(again.jkt, await calculateJwkThumbprint(firstJwk))
})
