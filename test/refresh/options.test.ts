import t from 'tap'
import { MemoryRefreshStore } from '../../lib/refresh/memory-store.js'
import { resolveRefresh, type ResolvedRefresh } from '../../lib/refresh/options.js'

const resolve = (value: unknown, maxTokenAge?: number): ResolvedRefresh => resolveRefresh(value, maxTokenAge) as ResolvedRefresh
const optionError = (option: string) => ({ code: 'FST_JWT_SECURITY_INVALID_OPTION', message: new RegExp(`^Invalid option "${option.replace(/\./g, '\\.')}"`) })

t.test('absent, null; given, its defaults: 5 minutes, 7 days idle, 30 days in all, a 2 s grace, the body', async (t) => {
  t.equal(resolveRefresh(undefined, undefined), null)
  const resolved = resolve({})
  t.ok(resolved.store instanceof MemoryRefreshStore)
  t.same({ ...resolved, store: null }, { store: null, accessTokenLifetime: 300, idleTimeout: 604_800, maxSessionAge: 2_592_000, reuseGrace: 2, cookie: null })
  t.ok(Object.isFrozen(resolved))
  const custom = resolve({ accessTokenLifetime: 60, idleTimeout: '1h', maxSessionAge: '1d', reuseGrace: 0 })
  t.same([custom.accessTokenLifetime, custom.idleTimeout, custom.maxSessionAge, custom.reuseGrace], [60, 3600, 86_400, 0])
  const store = new MemoryRefreshStore()
  t.equal(resolve({ store }).store, store)
})

t.test('every mistake is refused, naming its option', async (t) => {
  const cases: Array<[unknown, string]> = [
    ['yes', 'refresh'],
    [{ lifetime: '5m' }, 'refresh.lifetime'],
    [{ accessTokenLifetime: 0 }, 'refresh.accessTokenLifetime'],
    [{ accessTokenLifetime: '5 minutes' }, 'refresh.accessTokenLifetime'],
    [{ idleTimeout: -1 }, 'refresh.idleTimeout'],
    [{ maxSessionAge: 0 }, 'refresh.maxSessionAge'],
    [{ idleTimeout: '31d' }, 'refresh.idleTimeout'],
    [{ idleTimeout: '5m' }, 'refresh.idleTimeout'],
    [{ reuseGrace: '61s' }, 'refresh.reuseGrace'],
    [{ store: {} }, 'refresh.store'],
    [{ store: null }, 'refresh.store'],
    [{ cookie: 'yes' }, 'refresh.cookie'],
    [{ cookie: {} }, 'refresh.cookie.path'],
    [{ cookie: { path: 'auth/refresh' } }, 'refresh.cookie.path'],
    [{ cookie: { path: '/a;b' } }, 'refresh.cookie.path'],
    [{ cookie: { path: '/auth', name: '__Host-refresh' } }, 'refresh.cookie.name'],
    [{ cookie: { path: '/auth', name: 'a b' } }, 'refresh.cookie.name'],
    [{ cookie: { path: '/auth', header: 'x:y' } }, 'refresh.cookie.header'],
    [{ cookie: { path: '/auth', domain: 'example.com' } }, 'refresh.cookie.domain'],
    [{ cookie: { path: '/auth', header: 'Content-Type' } }, 'refresh.cookie.header'],
    [{ cookie: { path: '/auth', header: 'origin' } }, 'refresh.cookie.header'],
    [{ cookie: { path: '/auth', header: 'Sec-Fetch-Site' } }, 'refresh.cookie.header'],
    [{ accessTokenLifetime: 90.5 }, 'refresh.accessTokenLifetime'],
    [{ accessTokenLifetime: '367d', idleTimeout: '400d', maxSessionAge: '400d' }, 'refresh.accessTokenLifetime']
  ]
  for (const [value, option] of cases) t.throws(() => resolve(value), optionError(option), JSON.stringify(value))
  t.throws(() => resolve({ accessTokenLifetime: '10m' }, 300), optionError('refresh.accessTokenLifetime'), 'longer than maxTokenAge')
  t.equal(resolve({ accessTokenLifetime: '5m' }, 300).accessTokenLifetime, 300)
})

t.test('the cookie transport: its path, a name of its own, the header in lower case', async (t) => {
  t.same(resolve({ cookie: { path: '/auth/refresh' } }).cookie, { path: '/auth/refresh', name: '__Secure-refresh', header: 'x-refresh' })
  t.same(resolve({ cookie: { path: '/', name: 'rt', header: 'X-Refresh-Request' } }).cookie, { path: '/', name: 'rt', header: 'x-refresh-request' })
})
