import { format, inspect } from 'node:util'
import t from 'tap'
import { Allowed, Denied, PermitsResult, toPermitsResult } from '../../lib/policies/policy.js'

t.test('Allowed and Denied explain themselves with util.format', async (t) => {
  const allowed = new Allowed('%s may %o', 'alice', 'edit')
  t.equal(allowed.allowed, true)
  t.equal(allowed.msg, "alice may 'edit'")
  t.equal(allowed.template, '%s may %o')
  t.same(allowed.args, ['alice', 'edit'])
  const denied = new Denied('no principal of %o', ['system.Everyone'])
  t.equal(denied.allowed, false)
  t.equal(denied.msg, "no principal of [ 'system.Everyone', [length]: 1 ]")
  t.ok(denied instanceof PermitsResult)
})

t.test('inspect and toString show the class and the message, as Pyramid\'s repr; args are the format arguments', async (t) => {
  const allowed = new Allowed('%s may %o', 'alice', 'edit')
  t.equal(inspect(allowed), '<Allowed with msg "alice may \'edit\'">')
  t.equal(String(allowed), '<Allowed with msg "alice may \'edit\'">')
  t.equal(`${allowed}`, String(allowed))
  t.equal(format('%s', allowed), String(allowed))
  t.equal(inspect({ result: new Denied('no grant') }), "{ result: <Denied with msg 'no grant'> }", 'inside another value too')
  class Refused extends Denied {}
  t.equal(inspect(new Refused('for %s', 'bob')), "<Refused with msg 'for bob'>", 'a subclass shows its own name')
  t.same(new Denied('for %s', 'bob').args, ['bob'])
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
