import { inspect } from 'node:util'
import t from 'tap'
import {
  ACLAllowed, ACLDenied, ACLHelper, ALL_PERMISSIONS, Allow, AllPermissionsList, DEFAULT_DENY, Deny, DENY_ALL, NO_ACL_FOUND,
  type ACE, type ACL, type Resource
} from '../../lib/authz/acl.js'
import { Allowed, Denied } from '../../lib/policies/policy.js'
import { Authenticated, Everyone } from '../../lib/authz/principals.js'

// A port of Pyramid 2.0's tests/test_authorization.py::TestACLHelper; each case asserts the
// result's fields, not only whether it allows.

class DummyContext implements Resource {
  __acl__?: Resource['__acl__']
  __parent__?: Resource | null
  __name__?: string
  constructor (fields: Partial<Resource> = {}) { Object.assign(this, fields) }
}

const VIEW = 'view'
const GUEST_PERMS = [VIEW, 'comment']
const MEMBER_PERMS = [...GUEST_PERMS, 'edit', 'create', 'delete']

t.test('constants have Pyramid\'s values', async (t) => {
  t.equal(Everyone, 'system.Everyone')
  t.equal(Authenticated, 'system.Authenticated')
  t.equal(Allow, 'Allow')
  t.equal(Deny, 'Deny')
  t.same(DENY_ALL, [Deny, Everyone, ALL_PERMISSIONS])
  t.ok(Object.isFrozen(DENY_ALL))
  t.equal(ALL_PERMISSIONS.includes('anything at all'), true, 'ALL_PERMISSIONS contains every permission')
  t.same([...ALL_PERMISSIONS], [], 'and iterates as empty')
  t.ok(ALL_PERMISSIONS instanceof AllPermissionsList)
  t.equal(JSON.stringify(DENY_ALL), '["Deny","system.Everyone","ALL_PERMISSIONS"]')
})

t.test('test_no_acl', async (t) => {
  const context = new DummyContext()
  const result = new ACLHelper().permits(context, ['foo'], 'permission')
  t.ok(result instanceof ACLDenied)
  t.ok(result instanceof Denied)
  t.equal(result.allowed, false)
  t.equal(result.ace, DEFAULT_DENY)
  t.equal(result.ace, '<default deny>')
  t.equal(result.acl, '<No ACL found on any object in resource lineage>')
  t.equal(result.acl, NO_ACL_FOUND)
  t.equal(result.permission, 'permission')
  t.same(result.principals, ['foo'])
  t.equal(result.context, context)
  t.equal(result.msg, "ACLDenied permission 'permission' via ACE '<default deny>' in ACL '<No ACL found on any object in resource lineage>' on context <DummyContext> for principals [ 'foo' ]")
})

t.test('test_acl: lineage with DENY_ALL', async (t) => {
  const helper = new ACLHelper()
  const root = new DummyContext()
  const community = new DummyContext({ __name__: 'community', __parent__: root })
  const blog = new DummyContext({ __name__: 'blog', __parent__: community })
  root.__acl__ = [[Allow, Authenticated, VIEW]]
  community.__acl__ = [[Allow, 'fred', ALL_PERMISSIONS], [Allow, 'wilma', VIEW], DENY_ALL]
  blog.__acl__ = [[Allow, 'barney', MEMBER_PERMS], [Allow, 'wilma', VIEW]]

  const expect = (result: ACLAllowed | ACLDenied, allowed: boolean, context: object, ace: ACE | string, acl?: ACL | string) => {
    t.equal(result.allowed, allowed)
    t.ok(allowed ? result instanceof ACLAllowed && result instanceof Allowed : result instanceof ACLDenied)
    t.equal(result.context, context)
    t.same(result.ace, ace)
    if (acl !== undefined) t.equal(result.acl, acl)
  }

  expect(helper.permits(blog, [Everyone, Authenticated, 'wilma'], 'view'), true, blog, [Allow, 'wilma', VIEW], blog.__acl__)
  expect(helper.permits(blog, [Everyone, Authenticated, 'wilma'], 'delete'), false, community, [Deny, Everyone, ALL_PERMISSIONS], community.__acl__)
  expect(helper.permits(blog, [Everyone, Authenticated, 'fred'], 'view'), true, community, [Allow, 'fred', ALL_PERMISSIONS])
  expect(helper.permits(blog, [Everyone, Authenticated, 'fred'], 'doesntevenexistyet'), true, community, [Allow, 'fred', ALL_PERMISSIONS], community.__acl__)
  expect(helper.permits(blog, [Everyone, Authenticated, 'barney'], 'view'), true, blog, [Allow, 'barney', MEMBER_PERMS])
  expect(helper.permits(blog, [Everyone, Authenticated, 'barney'], 'administer'), false, community, [Deny, Everyone, ALL_PERMISSIONS], community.__acl__)
  expect(helper.permits(root, [Everyone, Authenticated, 'someguy'], 'view'), true, root, [Allow, Authenticated, VIEW])
  expect(helper.permits(blog, [Everyone, Authenticated, 'someguy'], 'view'), false, community, [Deny, Everyone, ALL_PERMISSIONS], community.__acl__)
  expect(helper.permits(root, [Everyone], 'view'), false, root, DEFAULT_DENY, root.__acl__ as ACL)
  const context = new DummyContext()
  expect(helper.permits(context, [Everyone], 'view'), false, context, DEFAULT_DENY, NO_ACL_FOUND)

  const wilma = helper.permits(blog, [Everyone, Authenticated, 'wilma'], 'view')
  t.equal(wilma.msg, "ACLAllowed permission 'view' via ACE [ 'Allow', 'wilma', 'view' ] in ACL [ [ 'Allow', 'barney', [ 'view', 'comment', 'edit', 'create', 'delete' ] ], [ 'Allow', 'wilma', 'view' ] ] on context <DummyContext 'blog'> for principals [ 'system.Everyone', 'system.Authenticated', 'wilma' ]")
  t.match(helper.permits(blog, [Everyone, 'someguy'], 'delete').msg, /^ACLDenied permission 'delete' via ACE \[ 'Deny', 'system.Everyone', ALL_PERMISSIONS \]/)
})

t.test('test_string_permissions_in_acl: a string is one permission, not a substring', async (t) => {
  const root = new DummyContext({ __acl__: [[Allow, 'wilma', 'view_stuff']] })
  const result = new ACLHelper().permits(root, ['wilma'], 'view')
  t.equal(result.allowed, false)
  t.equal(result.ace, DEFAULT_DENY)
  t.equal(result.acl, root.__acl__)
})

t.test('test_callable_acl: __acl__ may be a method, called on its object', async (t) => {
  const context = new DummyContext()
  context.__acl__ = function (this: DummyContext) { return [[Allow, this === context ? 'bob' : 'nobody', 'read']] }
  const result = new ACLHelper().permits(context, ['bob'], 'read')
  t.equal(result.allowed, true)
  t.same(result.acl, [[Allow, 'bob', 'read']], 'the result carries the list the method returned')
})

t.test('ACE permissions may also be a Set; a class with __acl__ works as a root', async (t) => {
  class Root { __acl__: ACL = [[Allow, 'role:admin', ALL_PERMISSIONS], [Allow, 'role:reports', new Set(['reports'])]] }
  const helper = new ACLHelper()
  t.equal(helper.permits(new Root(), ['role:reports'], 'reports').allowed, true)
  t.equal(helper.permits(new Root(), ['role:reports'], 'edit').allowed, false)
  t.equal(helper.permits(new Root(), ['role:admin'], 'edit').allowed, true)
  t.equal(helper.permits(new Root(), ['role:admin'], 'edit').msg.includes('<Root>'), true)
})

t.test('contexts without an object, and malformed ACLs', async (t) => {
  const helper = new ACLHelper()
  for (const context of [null, undefined, 'a string', 42]) {
    const result = helper.permits(context, ['a'], 'view')
    t.equal(result.acl, NO_ACL_FOUND)
    t.equal(result.context, context)
  }
  t.match(helper.permits(null, [], 'x').msg, /on context null for/)
  const bare = Object.assign(Object.create(null) as Resource, { __acl__: [[Allow, 'a', 'view']] })
  t.match(helper.permits(bare, ['a'], 'view').msg, /on context <Object> for/, 'a context without a prototype')
  t.equal(helper.permits(new DummyContext({ __acl__: null }), ['a'], 'view').acl, NO_ACL_FOUND, 'a null __acl__ is no ACL')
  t.equal(helper.permits(new DummyContext({ __acl__: [] }), ['a'], 'view').acl.length, 0, 'an empty ACL is an ACL')
  const bad: Array<[unknown, RegExp]> = [
    [{ __acl__: 'Allow everyone' }, /__acl__ must be an array/],
    [{ __acl__: () => 'x' }, /__acl__ must be an array/],
    [{ __acl__: [['Allow', 'a']] }, /an ACE must be/],
    [{ __acl__: [['allow', 'a', 'view']] }, /an ACE must be/],
    [{ __acl__: [[Allow, 'a', 3]] }, /ACE permissions must be/]
  ]
  for (const [context, message] of bad) t.throws(() => helper.permits(context, ['a'], 'view'), message)
  const cycle: Resource = {}
  cycle.__parent__ = { __parent__: cycle }
  t.throws(() => helper.permits(cycle, ['a'], 'view'), /lineage deeper than 1000/)
})

t.test('test_principals_allowed_by_permission_direct', async (t) => {
  const context = new DummyContext({ __acl__: [[Allow, 'chrism', ['read', 'write']], DENY_ALL, [Allow, 'other', 'read']] })
  t.same([...new ACLHelper().principalsAllowedByPermission(context, 'read')].sort(), ['chrism'])
})

t.test('test_principals_allowed_by_permission_callable_acl', async (t) => {
  const context = new DummyContext({ __acl__: () => [[Allow, 'chrism', ['read', 'write']], DENY_ALL, [Allow, 'other', 'read']] })
  t.same([...new ACLHelper().principalsAllowedByPermission(context, 'read')].sort(), ['chrism'])
})

t.test('test_principals_allowed_by_permission_string_permission', async (t) => {
  const context = new DummyContext({ __acl__: [[Allow, 'chrism', 'read_it']] })
  t.same([...new ACLHelper().principalsAllowedByPermission(context, 'read')], [])
})

t.test('test_principals_allowed_by_permission', async (t) => {
  const helper = new ACLHelper()
  const root = new DummyContext({ __name__: '', __parent__: null })
  const community = new DummyContext({ __name__: 'community', __parent__: root })
  const blog = new DummyContext({ __name__: 'blog', __parent__: community })
  root.__acl__ = [[Allow, 'chrism', ['read', 'write']], [Allow, 'other', ['read']], [Allow, 'jim', ALL_PERMISSIONS]]
  community.__acl__ = [[Deny, 'flooz', 'read'], [Allow, 'flooz', 'read'], [Allow, 'mork', 'read'], [Deny, 'jim', 'read'], [Allow, 'someguy', 'manage']]
  blog.__acl__ = [[Allow, 'fred', 'read'], DENY_ALL]
  t.same([...helper.principalsAllowedByPermission(blog, 'read')].sort(), ['fred'])
  t.same([...helper.principalsAllowedByPermission(community, 'read')].sort(), ['chrism', 'mork', 'other'])
  t.same([...helper.principalsAllowedByPermission(root, 'read')].sort(), ['chrism', 'jim', 'other'])
})

t.test('test_principals_allowed_by_permission_no_acls', async (t) => {
  t.same([...new ACLHelper().principalsAllowedByPermission(new DummyContext(), 'read')], [])
})

t.test('test_principals_allowed_by_permission_deny_not_permission_in_acl', async (t) => {
  const context = new DummyContext({ __acl__: [[Deny, Everyone, 'write']] })
  t.same([...new ACLHelper().principalsAllowedByPermission(context, 'read')], [])
})

t.test('test_principals_allowed_by_permission_deny_permission_in_acl', async (t) => {
  const context = new DummyContext({ __acl__: [[Deny, Everyone, 'read']] })
  t.same([...new ACLHelper().principalsAllowedByPermission(context, 'read')], [])
})

t.test('principalsAllowedByPermission: a Deny of Everyone clears what parents allowed, and later ACEs of its ACL', async (t) => {
  const root = new DummyContext({ __acl__: [[Allow, 'alice', 'read']] })
  const child = new DummyContext({ __parent__: root, __acl__: [[Allow, 'bob', 'read'], [Deny, Everyone, 'read'], [Allow, 'carol', 'read']] })
  t.same([...new ACLHelper().principalsAllowedByPermission(child, 'read')].sort(), ['bob'])
})

t.test('ACL results: args are Pyramid\'s format arguments; inspect and toString show the class and the message', async (t) => {
  const ace: ACE = [Allow, 'wilma', 'view']
  const context = new DummyContext({ __name__: 'blog', __acl__: [ace] })
  const allowed = new ACLHelper().permits(context, ['wilma'], 'view')
  t.ok(allowed instanceof ACLAllowed)
  t.strictSame(allowed.args, ['ACLAllowed', 'view', ace, context.__acl__, context, ['wilma']], 'class name, permission, ace, acl, context, principals')
  t.equal(allowed.args[2], ace, 'the values themselves, not copies')
  t.equal(allowed.args[4], context)
  const msg = "ACLAllowed permission 'view' via ACE [ 'Allow', 'wilma', 'view' ] in ACL [ [ 'Allow', 'wilma', 'view' ] ] on context <DummyContext 'blog'> for principals [ 'wilma' ]"
  t.equal(allowed.msg, msg)
  t.equal(inspect(allowed), `<ACLAllowed with msg "${msg}">`)
  t.equal(String(allowed), inspect(allowed))

  const denied = new ACLHelper().permits(null, ['foo'], 'edit')
  t.strictSame(denied.args, ['ACLDenied', 'edit', DEFAULT_DENY, NO_ACL_FOUND, null, ['foo']])
  t.equal(inspect(denied), '<ACLDenied with msg "ACLDenied permission \'edit\' via ACE \'<default deny>\' in ACL \'<No ACL found on any object in resource lineage>\' on context null for principals [ \'foo\' ]">')
  t.equal(String(denied), inspect(denied))
  t.notMatch(inspect(denied), /template|args/, 'no raw fields')
})
