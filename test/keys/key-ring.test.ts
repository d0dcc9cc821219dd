import { createHmac, randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK } from 'jose'
import jwtSecurity, { type JwtSecurityOptions, type KeySpec } from '../../lib/index.js'
import { SECRET } from '../helpers/app.js'
import { keyPair } from '../helpers/keys.js'
import { EMPTY_KEY_RING } from '../../lib/keys/key-ring.js'

const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'
const S1 = randomBytes(64).toString('base64url')
const S2 = randomBytes(64).toString('base64url')
const b64u = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']

async function appWith (options: Partial<JwtSecurityOptions>): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(jwtSecurity, { expiresIn: '1h', ...options } as JwtSecurityOptions)
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => request.authenticatedUserid)
  app.get('/public', async (request) => ({ userid: request.authenticatedUserid, failure: request.authFailure }))
  await app.ready()
  return app
}

async function me (app: FastifyInstance, token: string) {
  const response = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  const failure = (await app.inject({ url: '/public', headers: { authorization: `Bearer ${token}` } })).json().failure
  return { status: response.statusCode, challenge: response.headers['www-authenticate'], failure }
}

function hmacToken (header: object, payload: object, secret: string): string {
  const input = `${b64u(header)}.${b64u(payload)}`
  return `${input}.${createHmac(header && (header as { alg?: string }).alg === 'HS256' ? 'sha256' : 'sha512', secret).update(input).digest('base64url')}`
}

t.test('rotation with EdDSA keys: the new key signs with its kid, the old one verifies until it is removed', async (t) => {
  const old = keyPair('ed25519')
  const fresh = keyPair('ec256')
  const before = await appWith({ keys: [{ kid: '2026-08', privateKey: old.privateKey, algorithm: 'EdDSA' }] })
  const during = await appWith({
    keys: [
      { kid: '2026-11', privateKey: fresh.privateKey, algorithm: 'ES256' },
      { kid: '2026-08', publicKey: old.publicKey, algorithm: 'EdDSA' }
    ]
  })
  const after = await appWith({ keys: [{ kid: '2026-11', privateKey: fresh.privateKey, algorithm: 'ES256' }] })
  t.teardown(async () => { await before.close(); await during.close(); await after.close() })

  const oldToken = await before.createJwtToken('alice')
  t.same(decodeProtectedHeader(oldToken), { alg: 'EdDSA', typ: 'JWT', kid: '2026-08' })
  const newToken = await during.createJwtToken('bob')
  t.same(decodeProtectedHeader(newToken), { alg: 'ES256', typ: 'JWT', kid: '2026-11' }, 'new tokens carry the signing key\'s kid')

  t.equal((await me(during, oldToken)).status, 200, 'old tokens verify while the old key is in the set')
  t.equal((await me(during, newToken)).status, 200)
  t.equal((await me(after, newToken)).status, 200)
  const removed = await me(after, oldToken)
  t.equal(removed.status, 401, 'old tokens are refused once the old key is removed')
  t.equal(removed.challenge, INVALID_TOKEN)
  t.same(removed.failure, { error: 'invalid_token', reason: 'algorithm_not_allowed' }, 'EdDSA left the set with its key: refused before any key lookup')
})

t.test('rotation with HMAC secrets: the first key signs; reordering rotates', async (t) => {
  const h1 = await appWith({ keys: [{ kid: 'h1', secret: S1, algorithm: 'HS512' }] })
  const both = await appWith({ keys: [{ kid: 'h2', secret: S2, algorithm: 'HS512' }, { kid: 'h1', secret: S1, algorithm: 'HS512' }] })
  t.teardown(async () => { await h1.close(); await both.close() })
  const fromH1 = await h1.createJwtToken('alice')
  const fromBoth = await both.createJwtToken('bob')
  t.equal(decodeProtectedHeader(fromBoth).kid, 'h2')
  t.equal((await me(both, fromH1)).status, 200)
  t.equal((await me(h1, fromBoth)).status, 401, 'a verifier without h2 refuses its tokens')
  t.same((await me(h1, fromBoth)).failure, { error: 'invalid_token', reason: 'key_unknown', claim: 'kid' })
})

t.test('a kid picks one key and its one algorithm: nothing else is tried', async (t) => {
  const app = await appWith({ keys: [{ kid: 'a', secret: S1, algorithm: 'HS256' }, { kid: 'b', secret: S2, algorithm: 'HS512' }] })
  t.teardown(() => app.close())
  const now = Math.floor(Date.now() / 1000)
  const claims = { sub: 'alice', iat: now, exp: now + 60 }
  t.equal((await me(app, hmacToken({ alg: 'HS256', kid: 'a' }, claims, S1))).status, 200)
  const cases: Array<[string, string, string]> = [
    ['no kid, two keys', hmacToken({ alg: 'HS256' }, claims, S1), 'key_unknown'],
    ['unknown kid', hmacToken({ alg: 'HS256', kid: 'c' }, claims, S1), 'key_unknown'],
    ['kid of the other key', hmacToken({ alg: 'HS256', kid: 'b' }, claims, S1), 'algorithm_not_allowed'],
    ['right key, another allowed algorithm', hmacToken({ alg: 'HS512', kid: 'a' }, claims, S1), 'algorithm_not_allowed'],
    ['kid __proto__', hmacToken({ alg: 'HS256', kid: '__proto__' }, claims, S1), 'key_unknown'],
    ['kid constructor', hmacToken({ alg: 'HS256', kid: 'constructor' }, claims, S1), 'key_unknown'],
    ['kid a number', hmacToken({ alg: 'HS256', kid: 1 }, claims, S1), 'key_unknown'],
    ['kid an object', hmacToken({ alg: 'HS256', kid: { a: 1 } }, claims, S1), 'key_unknown'],
    ['kid "../../dev/null", empty key', hmacToken({ alg: 'HS256', kid: '../../dev/null' }, claims, ''), 'key_unknown']
  ]
  for (const [name, token, reason] of cases) {
    const result = await me(app, token)
    t.equal(result.status, 401, name)
    t.equal(result.challenge, INVALID_TOKEN, name)
    t.equal(result.failure.reason, reason, name)
  }
})

t.test('a single key: HMAC tokens carry no kid and refuse one; asymmetric tokens carry the key\'s thumbprint', async (t) => {
  const hmac = await appWith({ secret: SECRET })
  const pair = keyPair('ec256')
  const ec = await appWith({ algorithm: 'ES256', privateKey: pair.privateKey })
  t.teardown(async () => { await hmac.close(); await ec.close() })
  t.equal(decodeProtectedHeader(await hmac.createJwtToken('alice')).kid, undefined)
  const now = Math.floor(Date.now() / 1000)
  const withKid = hmacToken({ alg: 'HS512', kid: 'x' }, { sub: 'alice', iat: now, exp: now + 60 }, SECRET)
  t.equal((await me(hmac, withKid)).failure.reason, 'key_unknown', 'a lone secret has no kid: a token naming one is refused')
  const thumbprint = await calculateJwkThumbprint(pair.publicKeyObject.export({ format: 'jwk' }) as JWK)
  t.equal(decodeProtectedHeader(await ec.createJwtToken('alice')).kid, thumbprint)
  t.same(ec.jwks(), { keys: [{ ...pair.publicKeyObject.export({ format: 'jwk' }), kid: thumbprint, alg: 'ES256', use: 'sig' }] })
  t.same(hmac.jwks(), { keys: [] }, 'a secret is never published')
})

t.test('app.jwks() publishes the public half of every asymmetric key, never a private member', async (t) => {
  const rsa = keyPair('rsa')
  const ed = keyPair('ed25519')
  const app = await appWith({
    keys: [
      { kid: 'rsa-1', privateKey: rsa.privateKey, algorithm: 'PS256' },
      { kid: 'ed-0', publicKey: ed.publicKey, algorithm: 'EdDSA' },
      { kid: 'hmac', secret: S1, algorithm: 'HS512' }
    ]
  })
  t.teardown(() => app.close())
  const jwks = app.jwks()
  t.same(jwks.keys.map((jwk) => [jwk.kid, jwk.alg, jwk.use, jwk.kty]), [['rsa-1', 'PS256', 'sig', 'RSA'], ['ed-0', 'EdDSA', 'sig', 'OKP']])
  for (const jwk of jwks.keys) for (const member of PRIVATE_MEMBERS) t.notOk(member in jwk, `${jwk.kid} has no "${member}"`)
  ;(jwks.keys[0] as { kid?: string }).kid = 'mutated'
  t.equal(app.jwks().keys[0]?.kid, 'rsa-1', 'each call returns a fresh copy')
})

t.test('key sets are validated at register, naming the key', async (t) => {
  const rsa = keyPair('rsa')
  const many: KeySpec[] = Array.from({ length: 33 }, (_, index) => ({ kid: `k${index}`, secret: randomBytes(64) }))
  const cases: Array<[Partial<JwtSecurityOptions>, string, RegExp]> = [
    [{ keys: [] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys": expected an array of 1 to 32 keys/],
    [{ keys: many }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys"/],
    [{ keys: 'k' as unknown as KeySpec[] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys"/],
    [{ keys: [{ kid: '', secret: S1 }] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys\[0\]\.kid"/],
    [{ keys: [{ kid: 'x'.repeat(257), secret: S1 }] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys\[0\]\.kid"/],
    [{ keys: [{ secret: S1 } as KeySpec] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys\[0\]\.kid"/],
    [{ keys: [{ kid: 'a', secret: S1 }, { kid: 'a', secret: S2 }] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys\[1\]\.kid": "a" is the kid of an earlier key/],
    [{ keys: [{ kid: 'a', secret: S1, sign: true } as KeySpec] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys\[0\]\.sign": unknown option/],
    [{ keys: [null as unknown as KeySpec] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys\[0\]": expected an object/],
    [{ keys: [{ kid: 'a', secret: S1 }, { kid: 'b', secret: 'short' }] }, 'FST_JWT_SECURITY_WEAK_SECRET', /"keys\[1\]\.secret"/],
    [{ keys: [{ kid: 'a', algorithm: 'RS256', secret: S1 }] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys\[0\]\.secret"/],
    [{ keys: [{ kid: 'a', algorithm: 'ES256', privateKey: rsa.privateKey }] }, 'FST_JWT_SECURITY_INVALID_KEY', /"keys\[0\]\.privateKey": this rsa key does not fit ES256/],
    [{ keys: [{ kid: 'a', algorithm: 'RS256', privateKey: rsa.privateKey, publicKey: keyPair('rsa1024').publicKey }] }, 'FST_JWT_SECURITY_INVALID_KEY', /"keys\[0\]\.publicKey"/],
    [{ keys: [{ kid: 'a', algorithm: 'none' as 'HS256', secret: S1 }] }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys\[0\]\.algorithm"/],
    [{ keys: [{ kid: 'a', secret: S1 }], secret: S2 }, 'FST_JWT_SECURITY_INVALID_OPTION', /"keys": replaces secret, privateKey and publicKey/],
    [{ keys: [{ kid: 'a', secret: S1 }], jwks: { url: 'https://auth.example/jwks.json' } }, 'FST_JWT_SECURITY_INVALID_OPTION', /"jwks": verifies with the remote keys only/]
  ]
  for (const [options, code, message] of cases) {
    const app = Fastify()
    app.register(jwtSecurity, options as JwtSecurityOptions)
    await t.rejects(async () => { await app.ready() }, { code, message }, String(message))
  }
})

t.test('keys default to the plugin algorithm; a verify-only set cannot create tokens', async (t) => {
  const byDefault = await appWith({ algorithm: 'HS384', keys: [{ kid: 'a', secret: randomBytes(48) }] })
  const verifyOnly = await appWith({ keys: [{ kid: 'p', publicKey: keyPair('ed25519').publicKey, algorithm: 'EdDSA' }] })
  t.teardown(async () => { await byDefault.close(); await verifyOnly.close() })
  t.equal(decodeProtectedHeader(await byDefault.createJwtToken('a')).alg, 'HS384')
  await t.rejects(verifyOnly.createJwtToken('a'), { code: 'FST_JWT_SECURITY_NO_SIGNING_KEY' })
})

t.test('the empty ring of an app with trusted issuers only: no algorithm, no signer, no key, no public key', async (t) => {
  t.same(EMPTY_KEY_RING.algorithms, [])
  t.equal(EMPTY_KEY_RING.signer, null)
  t.same(EMPTY_KEY_RING.jwks(), { keys: [] })
  t.equal(EMPTY_KEY_RING.validUntil(), Infinity)
  t.throws(() => EMPTY_KEY_RING.resolve({ alg: 'HS256' }, { payload: '', signature: '' }), { name: 'TokenRejection', message: 'key_unknown' })
})
