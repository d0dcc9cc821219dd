import t from 'tap'
import { Allowed, Denied, PermitsResult, toPermitsResult } from '../lib/policy.js'

t.test('Allowed and Denied explain themselves with util.format', async (t) => {
  const allowed = new Allowed('%s may %o', 'alice', 'edit')
  t.equal(allowed.allowed, true)
  t.equal(allowed.msg, "alice may 'edit'")
  t.equal(String(allowed), "alice may 'edit'")
  t.equal(allowed.template, '%s may %o')
  t.same(allowed.args, ['alice', 'edit'])
  const denied = new Denied('no principal of %o', ['system.Everyone'])
  t.equal(denied.allowed, false)
  t.equal(denied.msg, "no principal of [ 'system.Everyone', [length]: 1 ]")
  t.ok(denied instanceof PermitsResult)
})

t.test('toPermitsResult accepts results and booleans only', async (t) => {
  const denied = new Denied('x')
  t.equal(toPermitsResult(denied, 'view'), denied)
  t.equal(toPermitsResult(true, 'view').allowed, true)
  t.equal(toPermitsResult(true, 'view').msg, 'the security policy allowed view')
  t.equal(toPermitsResult(false, 'view').allowed, false)
  for (const bad of [undefined, null, 1, 'yes', {}]) {
    t.throws(() => toPermitsResult(bad, 'view'), TypeError)
  }
})
