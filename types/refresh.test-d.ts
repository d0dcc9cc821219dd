import Fastify, { type RouteHandlerMethod } from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import jwtSecurity, {
  MemoryRefreshStore, MemoryRevocationStore, RedisRefreshStore,
  type RefreshCookieOptions, type RefreshFamily, type RefreshOptions, type RefreshRotation, type RefreshSessionInfo, type RefreshStore, type TokenPair, type TokenResponse
} from 'fastify-jwt-security'

const app = Fastify()
await app.register(jwtSecurity, {
  secret: 'x'.repeat(64),
  revocation: new MemoryRevocationStore(),
  refresh: {
    store: new RedisRefreshStore({ url: 'redis://127.0.0.1:6379', prefix: 'app:refresh:', timeout: '500ms' }),
    accessTokenLifetime: '5m',
    idleTimeout: 7 * 86_400,
    maxSessionAge: '30d',
    reuseGrace: '2s',
    cookie: { path: '/auth/refresh', name: '__Secure-refresh', header: 'x-refresh' }
  }
})
await app.register(jwtSecurity, { secret: 'x'.repeat(64), revocation: new MemoryRevocationStore(), refresh: {} })
expectError(app.register(jwtSecurity, { secret: 'x'.repeat(64), refresh: { reuseGrace: true } }))
expectError(app.register(jwtSecurity, { secret: 'x'.repeat(64), refresh: { store: new MemoryRevocationStore() } }))

// The options.
expectAssignable<RefreshOptions>({})
expectAssignable<RefreshOptions>({ store: new MemoryRefreshStore({ maxFamilies: 1000, now: () => 0 }) })
expectNotAssignable<RefreshOptions>({ accessTokenLifetime: null })
expectNotAssignable<RefreshOptions>({ cookie: {} })
expectNotAssignable<RefreshOptions>({ cookie: { path: '/auth/refresh', sameSite: 'lax' } })
expectAssignable<RefreshCookieOptions>({ path: '/auth/refresh' })
expectNotAssignable<RefreshCookieOptions>({ name: 'refresh' })
expectError(new MemoryRefreshStore({ maxFamilies: '10' }))

// A store of the app's own, sync or async.
declare const family: RefreshFamily
expectAssignable<RefreshStore>({
  create: async () => {},
  get: async () => family,
  rotate: async (): Promise<RefreshRotation> => ({ rotated: true, family }),
  delete: async () => true,
  listFor: async () => [family]
})
expectAssignable<RefreshStore>({ create: () => {}, get: () => null, rotate: () => ({ rotated: false, family: null }), delete: () => false, listFor: () => [] })
expectNotAssignable<RefreshStore>({ create: () => {}, get: () => null, rotate: () => ({ rotated: false, family: null }), delete: () => false })
expectType<number>(family.generation)
expectType<string | null>(family.jkt)

// reply.issueTokens: the token response of RFC 6749 §5.1, the refresh token absent in cookie mode.
app.post('/login', async (request, reply) => {
  const response = reply.issueTokens('alice', { roles: ['editor'] })
  expectType<Promise<TokenResponse>>(response)
  const pair = await response
  expectType<string>(pair.access_token)
  expectType<'Bearer' | 'DPoP'>(pair.token_type)
  expectType<number>(pair.expires_in)
  expectType<string | undefined>(pair.refresh_token)
  expectType<Promise<TokenResponse>>(reply.issueTokens(42))
  const { jkt } = await request.dpopProof()
  expectType<Promise<TokenResponse>>(reply.issueTokens('alice', {}, { jkt }))
  expectError(reply.issueTokens({ id: 'alice' }))
  expectError(reply.issueTokens('alice', {}, { jkt: 42 }))
  expectError(pair.access_token = 'replaced')
  return pair
})
expectAssignable<TokenResponse>({ access_token: 'a', token_type: 'Bearer', expires_in: 300 })
expectAssignable<TokenPair>({ access_token: 'a', token_type: 'DPoP', expires_in: 300, refresh_token: 'r' })
expectNotAssignable<TokenPair>({ access_token: 'a', token_type: 'Bearer', expires_in: 300 })
expectNotAssignable<TokenPair>({ access_token: 'a', token_type: 'MAC', expires_in: 300, refresh_token: 'r' })

// app.refreshHandler(): a route handler.
expectType<RouteHandlerMethod>(app.refreshHandler())
app.post('/auth/refresh', app.refreshHandler())
expectError(app.refreshHandler({ path: '/auth/refresh' }))

// The account page: listSessions' elements, endSession's answer.
const sessions = await app.listSessions('alice')
expectType<RefreshSessionInfo[]>(sessions)
const [session] = sessions
if (session !== undefined) {
  expectType<string>(session.id)
  expectType<Date>(session.createdAt)
  expectType<Date>(session.lastUsedAt)
  expectType<Date>(session.expiresAt)
  expectType<boolean>(session.dpopBound)
  expectError(session.secret)
  expectError(session.refresh_token)
  expectType<Promise<boolean>>(app.endSession('alice', session.id))
}
expectType<Promise<RefreshSessionInfo[]>>(app.listSessions(42))
expectError(app.endSession('alice', 42))
expectError(app.listSessions({ sub: 'alice' }))
