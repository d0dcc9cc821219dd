import Fastify from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import jwtSecurity, {
  MemoryDpopReplayStore, RedisDpopReplayStore, type AuthFailure, type DpopMode, type DpopOptions, type DpopReplayStore, type PolicyContext, type TrustedIssuer
} from 'fastify-jwt-security'

const app = Fastify()
await app.register(jwtSecurity, {
  secret: 'x'.repeat(64),
  dpop: {
    publicOrigin: 'https://api.example.com',
    mode: 'required',
    algorithms: ['ES256', 'Ed25519'],
    maxAge: '2m',
    leeway: 5,
    replay: new RedisDpopReplayStore({ url: 'redis://127.0.0.1:6379' }),
    nonce: { secret: 'n'.repeat(40), rotation: '5m' }
  },
  issuers: [{ issuer: 'https://login.example.com', audience: 'api', dpop: 'allowed' }]
})
expectError(app.register(jwtSecurity, { secret: 'x'.repeat(64), dpop: { mode: 'always' } }))
expectNotAssignable<DpopOptions>({ nonce: {} })
expectNotAssignable<TrustedIssuer>({ issuer: 'https://idp.example', audience: 'api', dpop: true })
expectAssignable<DpopMode>('off')
expectAssignable<DpopReplayStore>(new MemoryDpopReplayStore({ maxEntries: 10 }))
expectAssignable<DpopReplayStore>({ firstUse: async () => true })
expectAssignable<AuthFailure['error']>('use_dpop_nonce')

app.post('/login', async (request) => {
  const proof = await request.dpopProof()
  expectType<{ jkt: string }>(proof)
  expectType<Promise<string>>(request.createJwtToken('alice', {}, { jkt: proof.jkt }))
  expectError(request.createJwtToken('alice', {}, { jkt: 42 }))
})

declare const context: PolicyContext
expectType<boolean>(context.dpop.acceptsScheme)
expectType<DpopMode>(context.dpop.ownMode)
expectType<void>(context.dpop.readsScheme())
expectType<AuthFailure | null>(context.dpop.bearerFailure(Object.freeze({ sub: 'alice', iat: 1 })))
