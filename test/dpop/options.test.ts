import Fastify from 'fastify'
import t from 'tap'
import jwtSecurity, { JwtCookiePolicy, JwtHeaderPolicy, MemoryDpopReplayStore, PolicyChain, type JwtSecurityOptions } from '../../lib/index.js'
import { DpopNonces } from '../../lib/dpop/nonces.js'
import { resolveDpop, type ResolvedDpop } from '../../lib/dpop/options.js'
import { SECRET } from '../helpers/app.js'

const ORIGIN = 'https://api.example.com'
const resolve = (value: unknown, protectedResource?: unknown): ResolvedDpop => resolveDpop(value, protectedResource, Date.now) as ResolvedDpop
const optionError = (option: string) => ({ code: 'FST_JWT_SECURITY_INVALID_OPTION', message: new RegExp(`^Invalid option "${option.replace(/[[\].]/g, '\\$&')}"`) })

t.test('absent, the option resolves to null; given, to its defaults', async (t) => {
  t.equal(resolveDpop(undefined, undefined, Date.now), null)
  const resolved = resolve({ publicOrigin: ORIGIN })
  t.equal(resolved.mode, 'allowed')
  t.equal(resolved.origin, ORIGIN)
  t.same(resolved.rules, { algorithms: ['ES256', 'EdDSA', 'Ed25519'], maxAge: 60, leeway: 5 })
  t.ok(resolved.replay instanceof MemoryDpopReplayStore, 'one instance: proofs are remembered in memory')
  t.ok(resolved.tokenRequestReplay instanceof MemoryDpopReplayStore && resolved.tokenRequestReplay !== resolved.replay, 'logins\' proofs, which need no account, in a store of their own')
  t.equal(resolved.nonces, null)
  t.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.rules))
})

t.test('publicOrigin: an origin only, normalised; protectedResource\'s origin by default', async (t) => {
  t.equal(resolve({ publicOrigin: 'HTTPS://API.Example.com:443/' }).origin, ORIGIN)
  t.equal(resolve({ publicOrigin: 'http://127.0.0.1:8080' }).origin, 'http://127.0.0.1:8080')
  t.equal(resolve({}, { resource: 'https://api.example.com/v1' }).origin, ORIGIN)
  t.equal(resolve({ publicOrigin: 'https://other.example.com' }, { resource: 'https://api.example.com/v1' }).origin, 'https://other.example.com', 'given wins')
  t.throws(() => resolve({}), optionError('dpop.publicOrigin'), 'never guessed from a request')
  for (const bad of ['api.example.com', 'http://api.example.com', 'https://api.example.com/v1', 'https://api.example.com?x=1', 'https://api.example.com#a',
    'https://user:pw@api.example.com', 'ftp://api.example.com', 42]) {
    t.throws(() => resolve({ publicOrigin: bad }), optionError('dpop.publicOrigin'), String(bad))
  }
})

t.test('mode, maxAge, leeway, algorithms, replay and nonce are checked', async (t) => {
  t.equal(resolve({ publicOrigin: ORIGIN, mode: 'required' }).mode, 'required')
  t.equal(resolve({ publicOrigin: ORIGIN, mode: 'off' }).mode, 'off')
  t.throws(() => resolve({ publicOrigin: ORIGIN, mode: 'on' }), optionError('dpop.mode'))
  t.equal(resolve({ publicOrigin: ORIGIN, maxAge: '10m' }).rules.maxAge, 600)
  t.equal(resolve({ publicOrigin: ORIGIN, maxAge: 1 }).rules.maxAge, 1)
  for (const maxAge of [0, 601, '1h', 'soon']) t.throws(() => resolve({ publicOrigin: ORIGIN, maxAge }), optionError('dpop.maxAge'), String(maxAge))
  t.equal(resolve({ publicOrigin: ORIGIN, leeway: 0 }).rules.leeway, 0)
  t.throws(() => resolve({ publicOrigin: ORIGIN, leeway: '6m' }), optionError('dpop.leeway'))
  t.same(resolve({ publicOrigin: ORIGIN, algorithms: ['PS256', 'PS256', 'Ed25519'] }).rules.algorithms, ['PS256', 'Ed25519'])
  for (const algorithms of [[], ['HS256'], ['none'], 'ES256', ['ES256', 7]]) {
    t.throws(() => resolve({ publicOrigin: ORIGIN, algorithms }), optionError('dpop.algorithms'), JSON.stringify(algorithms))
  }
  const replay = { firstUse: () => true }
  t.equal(resolve({ publicOrigin: ORIGIN, replay }).replay, replay)
  t.equal(resolve({ publicOrigin: ORIGIN, replay }).tokenRequestReplay, replay, 'a store given serves both')
  for (const bad of [{}, null, 'redis']) t.throws(() => resolve({ publicOrigin: ORIGIN, replay: bad }), optionError('dpop.replay'))
  t.ok(resolve({ publicOrigin: ORIGIN, nonce: { secret: 'n'.repeat(16) + 'o'.repeat(4) + 'abcdefghijklmnop' } }).nonces instanceof DpopNonces)
  t.throws(() => resolve({ publicOrigin: ORIGIN, nonce: { secret: 'short' } }), { code: 'FST_JWT_SECURITY_WEAK_SECRET', message: /dpop\.nonce\.secret/ })
  t.throws(() => resolve({ publicOrigin: ORIGIN, replays: {} }), optionError('dpop.replays'), 'a typo fails')
  t.throws(() => resolve('on'), optionError('dpop'))
})

t.test('the plugin: per-issuer modes, and what DPoP needs of the other options', async (t) => {
  const issuer = { issuer: 'https://login.example.com', audience: 'api', keys: [{ kid: 'k', secret: SECRET, algorithm: 'HS256' as const }] }
  const register = async (options: Partial<JwtSecurityOptions>) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(jwtSecurity, { secret: SECRET, ...options } as JwtSecurityOptions)
    await app.ready()
    return app
  }
  await t.rejects(register({ issuers: [{ ...issuer, dpop: 'allowed' }] }), optionError('issuers[0].dpop'), 'a mode needs the dpop option')
  await t.rejects(register({ issuers: [{ ...issuer, dpop: 'sometimes' as 'off' }] }), optionError('issuers[0].dpop'))
  const off = await register({ issuers: [{ ...issuer, dpop: 'off' }] })
  t.equal((await off.inject({ url: '/x' })).statusCode, 404, 'off needs nothing')
  await t.rejects(register({
    dpop: { publicOrigin: ORIGIN },
    protectedResource: { resource: ORIGIN, extra: { dpop_bound_access_tokens_required: false } }
  }), optionError('protectedResource.extra'), 'the metadata\'s DPoP members come from the dpop option')
  const unstated = await register({ dpop: { publicOrigin: ORIGIN, mode: 'off' }, protectedResource: { resource: ORIGIN, extra: { dpop_bound_access_tokens_required: false } } })
  t.same((await unstated.inject({ url: '/.well-known/oauth-protected-resource' })).json().dpop_bound_access_tokens_required, false, 'with DPoP off everywhere, the app may say it')
  t.throws(() => new JwtHeaderPolicy({ authType: 'DPoP' }), optionError('authType'), 'DPoP is not a bearer scheme')
})

t.test('the protected resource metadata names the proof algorithms, and whether every token must be bound', async (t) => {
  for (const [mode, required] of [['allowed', false], ['required', true]] as const) {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(jwtSecurity, { secret: SECRET, dpop: { mode, algorithms: ['ES256'] }, protectedResource: { resource: `${ORIGIN}/v1` } })
    app.get('/v1/me', { preHandler: app.permits('system.Authenticated') }, async () => 'me')
    const document = (await app.inject({ url: '/.well-known/oauth-protected-resource/v1' })).json()
    t.same(document, { resource: `${ORIGIN}/v1`, bearer_methods_supported: ['header'], dpop_signing_alg_values_supported: ['ES256'], dpop_bound_access_tokens_required: required }, mode)
    const metadata = `resource_metadata="${ORIGIN}/.well-known/oauth-protected-resource/v1"`
    const dpopChallenge = `DPoP realm="api", algs="ES256", ${metadata}`
    t.same((await app.inject({ url: '/v1/me' })).headers['www-authenticate'], required ? dpopChallenge : [`Bearer realm="api", ${metadata}`, dpopChallenge])
  }
})

t.test('DPoP needs a policy that reads the DPoP scheme: a custom header or a cookie policy alone fails at register', async (t) => {
  for (const policy of [new JwtHeaderPolicy({ header: 'X-Token' }), new JwtCookiePolicy()]) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: ORIGIN }, policy }) }, optionError('dpop'), policy.constructor.name)
  }
  const chain = Fastify()
  t.teardown(() => chain.close())
  await chain.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: ORIGIN }, policy: new PolicyChain([new JwtCookiePolicy(), new JwtHeaderPolicy()]) })
  t.equal((await chain.inject({ url: '/x' })).statusCode, 404, 'a chain with a header policy reads it')
  const off = Fastify()
  t.teardown(() => off.close())
  await off.register(jwtSecurity, { secret: SECRET, dpop: { publicOrigin: ORIGIN, mode: 'off' }, policy: new JwtCookiePolicy() })
  t.equal((await off.inject({ url: '/x' })).statusCode, 404, 'with every mode off, nothing needs to read it')
})

t.test('without keys of its own, the app\'s mode does not count: issuers all required offer DPoP alone', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtSecurity, {
    dpop: { publicOrigin: ORIGIN },
    issuers: [{ issuer: 'https://login.example.com', audience: 'api', keys: [{ kid: 'k', secret: SECRET, algorithm: 'HS256' as const }], dpop: 'required' }]
  })
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async () => 'me')
  t.equal((await app.inject({ url: '/me' })).headers['www-authenticate'], 'DPoP realm="api", algs="ES256 EdDSA Ed25519"')
})
