import { createHmac } from 'node:crypto'
import Fastify from 'fastify'
import t from 'tap'
import { decodeJwt, decodeProtectedHeader, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose'
import { buildKeyRing } from '../../lib/keys/key-ring.js'
import { fingerprintOf } from '../../lib/tokens/token-cache.js'
import type { Algorithm } from '../../lib/keys/keys.js'
import { isCompactJws, TokenService, type TokenSettings } from '../../lib/tokens/tokens.js'
import { SECRET } from '../helpers/app.js'
import { rejected } from '../helpers/errors.js'
import { keyPair } from '../helpers/keys.js'
import { withBadSignature } from '../helpers/tokens.js'

const NOW = 1_800_000_000_000
const nowSeconds = NOW / 1000

const NO_LOG = Fastify().log
const NO_KEYS = { secret: undefined, privateKey: undefined, publicKey: undefined, passphrase: undefined, keys: undefined, jwks: undefined }

async function service (overrides: Partial<TokenSettings> = {}, algorithm: Algorithm = 'HS256'): Promise<TokenService> {
  const keys = algorithm.startsWith('HS')
    ? await buildKeyRing({ ...NO_KEYS, algorithm, secret: SECRET }, NO_LOG)
    : await buildKeyRing({ ...NO_KEYS, algorithm, privateKey: keyPair(algorithm === 'ES256' ? 'ec256' : algorithm === 'EdDSA' ? 'ed25519' : 'rsa').privateKey }, NO_LOG)
  return new TokenService({
    keys,
    issuers: [],
    ownKeys: true,
    expiresIn: 3600,
    audience: undefined,
    issuer: undefined,
    leeway: 0,
    maxTokenAge: undefined,
    typ: undefined,
    maxTokenLength: 8192,
    encodeClaim: null,
    now: () => NOW,
    cache: null,
    dpop: null,
    ...overrides
  })
}

const b64u = (value: string | object) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
function hs256 (header: object, payload: string | object, secret = SECRET): string {
  const signingInput = `${b64u(header)}.${b64u(payload)}`
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`
}

t.test('sign sets sub, iat, exp, a random jti, iss, aud, alg and typ', async (t) => {
  const tokens = await service({ issuer: 'https://auth.example', audience: ['api', 'web'], typ: 'at+jwt' })
  const token = await tokens.sign('alice', { roles: ['admin'], nested: { a: [1, true, null] } })
  t.same(decodeProtectedHeader(token), { alg: 'HS256', typ: 'at+jwt' })
  const claims = decodeJwt(token)
  t.same(claims, {
    roles: ['admin'],
    nested: { a: [1, true, null] },
    sub: 'alice',
    iat: nowSeconds,
    jti: claims.jti,
    exp: nowSeconds + 3600,
    iss: 'https://auth.example',
    aud: ['api', 'web']
  })
  t.match(claims.jti, /^[0-9a-f-]{36}$/)
  t.not(decodeJwt(await tokens.sign('alice')).jti, claims.jti)
  t.equal(decodeProtectedHeader(await (await service()).sign('a')).typ, 'JWT', 'typ defaults to JWT')
})

t.test('sign: numbers become string subjects; options override lifetime and audience', async (t) => {
  const tokens = await service({ audience: 'api' })
  const claims = decodeJwt(await tokens.sign(42, undefined, { expiresIn: '5m', audience: 'other' }))
  t.equal(claims.sub, '42')
  t.equal(claims.exp, nowSeconds + 300)
  t.equal(claims.aud, 'other')
  t.equal(decodeJwt(await tokens.sign('a', {}, { audience: ['x', 'y'] })).aud?.length, 2)
})

t.test('sign without expiry when expiresIn is null', async (t) => {
  const tokens = await service({ expiresIn: null })
  const claims = decodeJwt(await tokens.sign('alice'))
  t.equal(claims.exp, undefined)
  t.equal((await tokens.verify(await tokens.sign('alice'))).sub, 'alice')
})

t.test('verify: a token verified twice is then answered from the cache, with the same frozen claims', async (t) => {
  const tokens = await service({ cache: {} })
  const token = await tokens.sign('alice')
  t.equal(tokens.cached(token), undefined, 'not cached before any verification')
  const first = await tokens.verify(token)
  const second = await tokens.verify(token)
  t.not(first, second, 'admitted on the second verification: two copies so far')
  t.equal(tokens.cached(token)?.claims, second)
  t.equal(await tokens.verify(token), second, 'the third is the cached copy')
})

t.test('verifyAnew: calls for a token whose verification is under way share it, its refusal included', async (t) => {
  const subtle = globalThis.crypto.subtle
  const original = subtle.verify
  let verifications = 0
  subtle.verify = async function (...args: Parameters<typeof original>) { verifications++; return await original.apply(subtle, args) }
  t.teardown(() => { subtle.verify = original })
  for (const cache of [null, {}]) {
    const tokens = await service({ cache })
    const token = await tokens.sign('alice')
    verifications = 0
    const together = [tokens.verifyAnew(token), tokens.verifyAnew(token), tokens.verify(token)]
    t.equal(together[0], together[1], `the same promise (cache ${cache === null ? 'off' : 'on'})`)
    const claims = await Promise.all(together)
    t.equal(verifications, 1, 'three calls at once, one signature verification')
    t.ok(claims.every((each) => each === claims[0] && each.sub === 'alice'), 'the same frozen claims for all')
    await tokens.verifyAnew(token)
    t.equal(verifications, 2, 'once settled, nothing is shared: the next call verifies again')
    const forged = withBadSignature(token)
    const refusals = await Promise.all([rejected(tokens.verifyAnew(forged)), rejected(tokens.verifyAnew(forged))])
    t.equal(verifications, 3, 'a refused token at once: one verification')
    t.match(refusals, [{ reason: 'signature_invalid' }, { reason: 'signature_invalid' }])
    t.match(await rejected(tokens.verifyAnew(forged)), { reason: 'signature_invalid' })
    t.equal(verifications, 4, 'refusals are not kept either')
  }
  // Two different tokens whose fingerprints collide, in flight at once: each verified on its own.
  const byKey = new Map<number, string>()
  let pair: [string, string] | undefined
  for (let index = 0; pair === undefined; index++) {
    const token = hs256({ alg: 'HS256' }, { sub: `user-${index}`, iat: nowSeconds, exp: nowSeconds + 60 })
    const earlier = byKey.get(fingerprintOf(token))
    if (earlier !== undefined) pair = [earlier, token]
    byKey.set(fingerprintOf(token), token)
  }
  const tokens = await service({ maxTokenLength: 64 })
  const colliding = await service()
  verifications = 0
  const [one, two] = await Promise.all([colliding.verifyAnew(pair[0]), colliding.verifyAnew(pair[1]), colliding.verifyAnew(pair[0])])
  t.equal(verifications, 2, 'a colliding token in flight is not shared: one verification each')
  t.same([one?.sub, two?.sub], [decodeJwt(pair[0]).sub, decodeJwt(pair[1]).sub], 'each gets its own claims')
  t.match(await rejected(tokens.verifyAnew('x'.repeat(65))), { reason: 'token_too_long' })
  t.match(await rejected(tokens.verifyAnew('not a token')), { reason: 'token_malformed' })
})

t.test('verifyAnew: a protected header seen on a token with a valid signature gets its key without the key ring', async (t) => {
  const ring = await buildKeyRing({ ...NO_KEYS, algorithm: 'HS256', secret: SECRET }, NO_LOG)
  const headers: string[] = []
  // jose is given the resolver only when the service does not know the header yet.
  const keys = { ...ring, resolve: (header: JWSHeaderParameters, input: FlattenedJWSInput) => { headers.push(JSON.stringify(header)); return ring.resolve(header, input) } }
  const tokens = await service({ keys })
  const claims = (n: number) => ({ sub: `user-${n}`, iat: nowSeconds, exp: nowSeconds + 60 })
  t.equal((await tokens.verifyAnew(hs256({ alg: 'HS256' }, claims(1)))).sub, 'user-1')
  t.equal((await tokens.verifyAnew(hs256({ alg: 'HS256' }, claims(2)))).sub, 'user-2', 'another token, the same header')
  t.same(headers, ['{"alg":"HS256"}'], 'the ring was asked once')
  t.match(await rejected(tokens.verifyAnew(withBadSignature(hs256({ alg: 'HS256' }, claims(3))))), { reason: 'signature_invalid' }, 'a known header still needs a valid signature')
  t.match(await rejected(tokens.verifyAnew(hs256({ alg: 'HS256' }, { ...claims(4), exp: nowSeconds - 1 }))), { reason: 'token_expired' }, 'and valid claims')
  t.match(await rejected(tokens.verifyAnew(hs256({ alg: 'HS256', kid: 'k1' }, claims(5)))), { reason: 'key_unknown' }, 'an unknown kid goes to the ring')
  const forgedHeader = { alg: 'HS256', typ: 'JWT' }
  t.match(await rejected(tokens.verifyAnew(withBadSignature(hs256(forgedHeader, claims(6))))), { reason: 'signature_invalid' })
  t.equal((await tokens.verifyAnew(hs256(forgedHeader, claims(7)))).sub, 'user-7')
  t.equal((await tokens.verifyAnew(hs256(forgedHeader, claims(8)))).sub, 'user-8')
  t.same(headers.slice(1), ['{"alg":"HS256","kid":"k1"}', '{"alg":"HS256","typ":"JWT"}', '{"alg":"HS256","typ":"JWT"}'], 'a header is learnt from a valid signature, not from a forged one')
  // At most 64 headers are learnt: two more were seen above.
  for (let n = 0; n < 70; n++) await tokens.verifyAnew(hs256({ alg: 'HS256', n }, claims(n)))
  headers.length = 0
  await tokens.verifyAnew(hs256({ alg: 'HS256', n: 61 }, claims(9)))
  t.same(headers, [], 'the 64th header is known')
  await tokens.verifyAnew(hs256({ alg: 'HS256', n: 62 }, claims(10)))
  t.same(headers, ['{"alg":"HS256","n":62}'], 'the 65th is asked for every time')
  // A remote key set may change: the ring is asked for every token.
  const remote = await service({ keys: { ...keys, maxAge: 60_000 } })
  headers.length = 0
  for (const n of [1, 2]) await remote.verifyAnew(hs256({ alg: 'HS256' }, claims(n)))
  t.same(headers, ['{"alg":"HS256"}', '{"alg":"HS256"}'])
})

t.test('verifyAnew: with several kids, a known header still gets the key its kid names, and only that one', async (t) => {
  const secrets = { a: SECRET, b: [...SECRET].reverse().join('') }
  const keys = await buildKeyRing({ ...NO_KEYS, algorithm: 'HS256', keys: [{ kid: 'a', secret: secrets.a }, { kid: 'b', secret: secrets.b }] }, NO_LOG)
  const tokens = await service({ keys })
  const signed = (kid: 'a' | 'b', secret: string, n: number) => hs256({ alg: 'HS256', kid }, { sub: `user-${n}`, iat: nowSeconds, exp: nowSeconds + 60 }, secret)
  t.equal((await tokens.verifyAnew(signed('a', secrets.a, 1))).sub, 'user-1', 'kid a, learnt')
  t.match(await rejected(tokens.verifyAnew(signed('a', secrets.b, 2))), { reason: 'signature_invalid' }, 'kid a signed with b\'s secret')
  t.equal((await tokens.verifyAnew(signed('b', secrets.b, 3))).sub, 'user-3', 'kid b')
  t.match(await rejected(tokens.verifyAnew(signed('b', secrets.a, 4))), { reason: 'signature_invalid' }, 'kid b, once known, signed with a\'s secret')
  t.equal((await tokens.verifyAnew(signed('a', secrets.a, 5))).sub, 'user-5')
})

t.test('sign refuses bad userids, claims and options with TypeErrors', async (t) => {
  const tokens = await service({ maxTokenAge: 600 })
  const badCalls: Array<[string, () => Promise<string>]> = [
    ['empty userid', () => tokens.sign('')],
    ['long userid', () => tokens.sign('x'.repeat(1025))],
    ['float userid', () => tokens.sign(1.5)],
    ['object userid', () => tokens.sign({ id: 1 })],
    ['reserved claim', () => tokens.sign('a', { exp: 1 })],
    ['array claims', () => tokens.sign('a', ['x'])],
    ['zero lifetime', () => tokens.sign('a', {}, { expiresIn: 0 })],
    ['NaN lifetime', () => tokens.sign('a', {}, { expiresIn: NaN })],
    ['Infinity lifetime', () => tokens.sign('a', {}, { expiresIn: Infinity })],
    ['negative lifetime', () => tokens.sign('a', {}, { expiresIn: -1 })],
    ['malformed lifetime', () => tokens.sign('a', {}, { expiresIn: '1 hour' })],
    ['lifetime above maxTokenAge', () => tokens.sign('a', {}, { expiresIn: 601 })],
    ['empty audience', () => tokens.sign('a', {}, { audience: '' })],
    ['bad audience array', () => tokens.sign('a', {}, { audience: ['ok', 3 as unknown as string] })],
    ['empty audience array', () => tokens.sign('a', {}, { audience: [] })],
    ['null options', () => tokens.sign('a', {}, null as unknown as object)]
  ]
  for (const [name, call] of badCalls) {
    const error = await rejected(call())
    t.ok(error instanceof TypeError, name)
    t.match(error.code, /^FST_JWT_SECURITY_INVALID_(CLAIMS|OPTION)$/, name)
  }
  t.ok(await tokens.sign('a', {}, { expiresIn: 600 }))
})

t.test('sign binds a token to a DPoP key with jkt, which it checks', async (t) => {
  const jkt = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'
  const tokens = await service({ dpop: { mode: 'allowed' } })
  t.same(decodeJwt(await tokens.sign('alice', {}, { jkt })).cnf, { jkt })
  t.equal(decodeJwt(await tokens.sign('alice')).cnf, undefined)
  for (const bad of ['', jkt.slice(1), `${jkt}=`, jkt.replace('N', '+'), 42]) {
    t.match(await rejected(tokens.sign('alice', {}, { jkt: bad as string })), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS', message: /RFC 7638/ }, String(bad))
  }
  t.match(await rejected(tokens.sign('alice', { cnf: { jkt } })), { message: /"cnf" is a reserved claim/ }, 'only through jkt')
  for (const dpop of [null, { mode: 'off' }]) {
    const unbindable = await service({ dpop })
    t.match(await rejected(unbindable.sign('alice', {}, { jkt })), { message: /jkt needs the dpop option/ }, JSON.stringify(dpop))
  }
})

t.test('sign needs a signing key', async (t) => {
  const keys = await buildKeyRing({ ...NO_KEYS, algorithm: 'ES256', publicKey: keyPair('ec256').publicKey }, NO_LOG)
  const tokens = new TokenService({ keys, issuers: [], ownKeys: true, expiresIn: 60, audience: undefined, issuer: undefined, leeway: 0, maxTokenAge: undefined, typ: undefined, maxTokenLength: 8192, encodeClaim: null, now: null, cache: null, dpop: null })
  t.equal((await rejected(tokens.sign('alice'))).code, 'FST_JWT_SECURITY_NO_SIGNING_KEY')
})

t.test('verify returns frozen, prototype-free claims', async (t) => {
  const tokens = await service()
  const claims = await tokens.verify(hs256({ alg: 'HS256' }, `{"sub":"alice","iat":${nowSeconds},"exp":${nowSeconds + 60},"constructor":{"admin":true},"deep":{"list":[{"a":1}]}}`))
  t.equal(claims.sub, 'alice')
  t.equal(Object.getPrototypeOf(claims), null)
  t.ok(Object.isFrozen(claims))
  t.ok(Object.isFrozen(claims.deep))
  t.ok(Object.isFrozen((claims.deep as { list: unknown[] }).list))
  t.same(claims.constructor, { admin: true }, 'a "constructor" claim is plain data')
})

t.test('verify round-trips every algorithm', async (t) => {
  for (const algorithm of ['HS256', 'HS384', 'HS512', 'RS256', 'PS256', 'ES256', 'EdDSA'] as const) {
    const tokens = await service({}, algorithm)
    t.equal((await tokens.verify(await tokens.sign('alice', { roles: ['x'] }))).sub, 'alice', algorithm)
  }
})

t.test('verify without an injected clock uses the real time', async (t) => {
  const tokens = await service({ now: null })
  t.equal((await tokens.verify(await tokens.sign('alice'))).sub, 'alice')
})

t.test('verify rejects with a reason code and never the token', async (t) => {
  const tokens = await service({ audience: 'api', issuer: 'https://auth.example', leeway: 5 })
  const base = { sub: 'alice', iat: nowSeconds, exp: nowSeconds + 60, aud: 'api', iss: 'https://auth.example' }
  const cases: Array<[string, string, string, string?]> = [
    ['too long', 'a'.repeat(8193), 'token_too_long'],
    ['__proto__ key', hs256({ alg: 'HS256' }, `{"sub":"a","iat":${nowSeconds},"exp":${nowSeconds + 60},"aud":"api","iss":"https://auth.example","x":[{"__proto__":{}}]}`), 'claim_invalid', '__proto__'],
    ['two segments', 'a.b', 'token_malformed'],
    ['bad alphabet', 'a+b.c.d', 'token_malformed'],
    ['header not JSON', `${b64u('nope')}.${b64u(base)}.AAAA`, 'token_malformed'],
    ['none', `${b64u({ alg: 'none' })}.${b64u(base)}.AAAA`, 'algorithm_not_allowed'],
    ['wrong alg', `${b64u({ alg: 'HS512' })}.${b64u(base)}.AAAA`, 'algorithm_not_allowed'],
    ['bad signature', withBadSignature(hs256({ alg: 'HS256' }, base)), 'signature_invalid'],
    ['crit', hs256({ alg: 'HS256', crit: ['foo'], foo: 1 }, base), 'token_unsupported'],
    ['expired', hs256({ alg: 'HS256' }, { ...base, exp: nowSeconds - 5 }), 'token_expired', 'exp'],
    ['no exp', hs256({ alg: 'HS256' }, { ...base, exp: undefined }), 'claim_invalid', 'exp'],
    ['no iat', hs256({ alg: 'HS256' }, { ...base, iat: undefined }), 'claim_invalid', 'iat'],
    ['wrong aud', hs256({ alg: 'HS256' }, { ...base, aud: 'other' }), 'claim_invalid', 'aud'],
    ['wrong iss', hs256({ alg: 'HS256' }, { ...base, iss: 'evil' }), 'claim_invalid', 'iss'],
    ['nbf ahead', hs256({ alg: 'HS256' }, { ...base, nbf: nowSeconds + 6 }), 'claim_invalid', 'nbf'],
    ['sub number', hs256({ alg: 'HS256' }, { ...base, sub: 7 }), 'claim_invalid', 'sub'],
    ['sub empty', hs256({ alg: 'HS256' }, { ...base, sub: '' }), 'claim_invalid', 'sub'],
    ['sub too long', hs256({ alg: 'HS256' }, { ...base, sub: 'x'.repeat(1025) }), 'claim_invalid', 'sub'],
    ['exp infinite', hs256({ alg: 'HS256' }, `{"sub":"a","iat":${nowSeconds},"exp":1e999,"aud":"api","iss":"https://auth.example"}`), 'claim_invalid', 'exp'],
    ['exp beyond 9999', hs256({ alg: 'HS256' }, { ...base, exp: 253402300800 }), 'claim_invalid', 'exp'],
    ['iat negative', hs256({ alg: 'HS256' }, { ...base, iat: -1 }), 'claim_invalid', 'iat'],
    ['iat in the future', hs256({ alg: 'HS256' }, { ...base, iat: nowSeconds + 6 }), 'claim_invalid', 'iat'],
    ['jti number', hs256({ alg: 'HS256' }, { ...base, jti: 5 }), 'claim_invalid', 'jti'],
    ['aud of numbers', hs256({ alg: 'HS256' }, { ...base, aud: ['api', 5] }), 'claim_invalid', 'aud'],
    ['payload array', hs256({ alg: 'HS256' }, '[]'), 'token_malformed']
  ]
  for (const [name, token, reason, claim] of cases) {
    const error = await rejected(tokens.verify(token))
    t.match(error, { name: 'TokenRejection', reason, claim, message: reason }, name)
  }
  t.equal((await tokens.verify(hs256({ alg: 'HS256' }, { ...base, iat: nowSeconds + 5, nbf: nowSeconds + 5 }))).sub, 'alice', 'leeway applies to iat and nbf')
  const noAudienceCheck = await service({ issuer: undefined })
  t.match(await rejected(noAudienceCheck.verify(hs256({ alg: 'HS256' }, { ...base, iss: 7 }))), { reason: 'claim_invalid', claim: 'iss' })
  t.match(await rejected(noAudienceCheck.verify(hs256({ alg: 'HS256' }, { ...base, aud: { x: 1 } }))), { reason: 'claim_invalid', claim: 'aud' })
})

t.test('typ and maxTokenAge are enforced when configured', async (t) => {
  const tokens = await service({ typ: 'JWT', maxTokenAge: 600 })
  const base = { sub: 'alice', iat: nowSeconds, exp: nowSeconds + 60 }
  t.equal((await tokens.verify(hs256({ alg: 'HS256', typ: 'jwt' }, base))).sub, 'alice', 'typ is compared case-insensitively')
  t.match(await rejected(tokens.verify(hs256({ alg: 'HS256' }, base))), { reason: 'claim_invalid', claim: 'typ' })
  t.match(await rejected(tokens.verify(hs256({ alg: 'HS256', typ: 'at+jwt' }, base))), { reason: 'claim_invalid', claim: 'typ' })
  t.match(await rejected(tokens.verify(hs256({ alg: 'HS256', typ: 'JWT' }, { ...base, iat: nowSeconds - 601 }))), { reason: 'token_expired', claim: 'iat' })
})

t.test('isCompactJws: three canonical base64url segments and nothing else', async (t) => {
  t.equal(isCompactJws('eyJh.eyJz.AAAA'), true)
  t.equal(isCompactJws('eyJh.eyJz.AA'), true)
  t.equal(isCompactJws('eyJh.eyJz.AAA'), true)
  for (const bad of ['eyJh.eyJz.AB', 'eyJh.eyJz.AAB', 'eyJh.eyJz.A', 'eyJh.eyJz.AAAA=', 'eyJh.eyJz', 'eyJh.eyJz.AAAA.x', ' eyJh.eyJz.AAAA', 'eyJh.eyJz.AA\tAA', 'eyJh..AAAA', 'ey/h.eyJz.AAAA', 'eyJh.eyJz.AAAA\n', 'é.a.a']) {
    t.equal(isCompactJws(bad), false, JSON.stringify(bad))
  }
})
