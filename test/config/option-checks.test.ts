import t from 'tap'
import { resolveMemoryStoreOptions, toSeconds } from '../../lib/config/option-checks.js'
import { caught } from '../helpers/errors.js'

t.test('numbers are seconds', async (t) => {
  t.equal(toSeconds('expiresIn', 0), 0)
  t.equal(toSeconds('expiresIn', 90.5), 90.5)
})

t.test('strings take one integer and one unit', async (t) => {
  t.equal(toSeconds('x', '90s'), 90)
  t.equal(toSeconds('x', '15m'), 900)
  t.equal(toSeconds('x', '2h'), 7200)
  t.equal(toSeconds('x', '7d'), 604800)
  t.equal(toSeconds('x', '1w'), 604800)
})

t.test('anything else is a coded TypeError naming the option', async (t) => {
  for (const bad of [NaN, Infinity, -1, '1 hour', '1.5h', '-1h', '1y', '', 'h', null, undefined, {}, '10000000000s']) {
    const error = caught(() => toSeconds('leeway', bad))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION', String(bad))
    t.match(error.message, /"leeway"/)
    t.ok(error instanceof TypeError)
  }
})

t.test('resolveMemoryStoreOptions: a capacity under the store\'s own name, and a clock', async (t) => {
  const names = new Set(['maxThings', 'now'])
  const clock = () => 42
  t.same(resolveMemoryStoreOptions({}, names, 'maxThings'), { capacity: 100_000, now: Date.now })
  t.same(resolveMemoryStoreOptions({ maxThings: 3, now: clock }, names, 'maxThings'), { capacity: 3, now: clock })
  for (const capacity of [0, -1, 1.5, '10', Number.MAX_SAFE_INTEGER + 2]) {
    t.throws(() => resolveMemoryStoreOptions({ maxThings: capacity }, names, 'maxThings'), { message: /^Invalid option "maxThings"/ }, String(capacity))
  }
  t.throws(() => resolveMemoryStoreOptions({ now: 5 }, names, 'maxThings'), { message: /^Invalid option "now"/ })
  t.throws(() => resolveMemoryStoreOptions({ maxEntries: 5 }, names, 'maxThings'), { message: /^Invalid option "maxEntries": unknown option/ })
})
