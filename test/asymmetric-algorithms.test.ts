import { sign as cryptoSign } from 'node:crypto'
import Fastify from 'fastify'
import t from 'tap'
import jwtSecurity, { type JwtSecurityOptions } from '../lib/index.js'
import { keyPair, type PemPair } from './helpers/keys.js'

const INVALID_TOKEN = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'
const b64u = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

// Node's sign() parameters that give a JWS signature for each algorithm (RFC 7518 §3).
const SIGNERS = {
  RS256: (pair: PemPair, input: Buffer) => cryptoSign('sha256', input, pair.privateKeyObject),
  PS256: (pair: PemPair, input: Buffer) => cryptoSign('sha256', input, { key: pair.privateKeyObject, padding: 6, saltLength: 32 }),
  ES256: (pair: PemPair, input: Buffer) => cryptoSign('sha256', input, { key: pair.privateKeyObject, dsaEncoding: 'ieee-p1363' }),
  EdDSA: (pair: PemPair, input: Buffer) => cryptoSign(null, input, pair.privateKeyObject)
}
const KINDS = { RS256: 'rsa', PS256: 'rsa', ES256: 'ec256', EdDSA: 'ed25519' } as const

function signed (algorithm: keyof typeof SIGNERS, pair: PemPair, payload: object): string {
  const input = `${b64u({ alg: algorithm, typ: 'JWT' })}.${b64u(payload)}`
  return `${input}.${SIGNERS[algorithm](pair, Buffer.from(input)).toString('base64url')}`
}

async function appWith (options: Partial<JwtSecurityOptions>) {
  const app = Fastify()
  await app.register(jwtSecurity, options as JwtSecurityOptions)
  app.get('/view', { config: { permission: 'view' } }, async (request) => request.authenticatedUserid)
  return app
}

for (const algorithm of Object.keys(SIGNERS) as Array<keyof typeof SIGNERS>) {
  t.test(`${algorithm}: tokens the plugin creates verify, tokens a key pair holder signs verify, others do not`, async (t) => {
    const pair = keyPair(KINDS[algorithm])
    const signer = await appWith({ algorithm, privateKey: pair.privateKey })
    const verifier = await appWith({ algorithm, publicKey: pair.publicKey })
    t.teardown(async () => { await signer.close(); await verifier.close() })

    const token = await signer.createJwtToken('alice', { roles: ['view'] })
    for (const app of [signer, verifier]) {
      const response = await app.inject({ url: '/view', headers: { authorization: `Bearer ${token}` } })
      t.equal(response.statusCode, 200)
      t.equal(response.body, 'alice')
    }
    t.equal((await verifier.inject({ url: '/view', headers: { authorization: `Bearer ${await signer.createJwtToken('bob')}` } })).statusCode, 403)

    const now = Math.floor(Date.now() / 1000)
    const external = signed(algorithm, pair, { sub: 'carol', iat: now, exp: now + 60, roles: ['view'] })
    t.equal((await verifier.inject({ url: '/view', headers: { authorization: `Bearer ${external}` } })).body, 'carol', 'a token signed elsewhere with the key verifies')

    const otherPair = algorithm === 'EdDSA' ? keyPair('ec256') : keyPair('ed25519')
    const foreign = await appWith(algorithm === 'EdDSA' ? { algorithm: 'ES256', privateKey: otherPair.privateKey } : { algorithm: 'EdDSA', privateKey: otherPair.privateKey })
    t.teardown(() => foreign.close())
    const refused = await verifier.inject({ url: '/view', headers: { authorization: `Bearer ${await foreign.createJwtToken('alice', { roles: ['view'] })}` } })
    t.equal(refused.statusCode, 401, 'a token of another algorithm is refused')
    t.equal(refused.headers['www-authenticate'], INVALID_TOKEN)

    const flipped = `${token.slice(0, -6)}${token.slice(-6) === 'AAAAAA' ? 'BAAAAA' : 'AAAAAA'}`
    t.equal((await verifier.inject({ url: '/view', headers: { authorization: `Bearer ${flipped}` } })).statusCode, 401, 'a changed signature is refused')

    const error = await signer.inject({ url: '/view' })
    t.equal(error.statusCode, 401)
  })
}

t.test('a verify-only registration cannot create tokens', async (t) => {
  const app = await appWith({ algorithm: 'ES256', publicKey: keyPair('ec256').publicKey })
  t.teardown(() => app.close())
  await t.rejects(app.createJwtToken('alice'), { code: 'FST_JWT_SECURITY_NO_SIGNING_KEY' })
})
