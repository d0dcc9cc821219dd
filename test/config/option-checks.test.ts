import t from 'tap'
import { toSeconds } from '../../lib/config/option-checks.js'
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
