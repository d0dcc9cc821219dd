import t from 'tap'
import { ClaimsPrincipals, DEFAULT_SCOPE_CLAIMS, resolveClaimsMapping } from '../../lib/authz/claims-mapping.js'
import type { JwtClaims } from '../../lib/tokens/claims.js'
import { caught } from '../helpers/errors.js'

const claims = (extra: Record<string, unknown>): JwtClaims => Object.freeze({ sub: 'alice', ...extra })

t.test('scopes become scope: principals, from a space-delimited string or an array', async (t) => {
  const mapper = new ClaimsPrincipals({ roles: ['roles'], scopes: DEFAULT_SCOPE_CLAIMS })
  t.same(mapper.of(claims({ scope: 'read:messages  write:messages' }), true), ['scope:read:messages', 'scope:write:messages'])
  t.same(mapper.of(claims({ scp: ['User.Read', 7, ''] }), true), ['scope:User.Read'], 'Okta and Entra ID: scp')
  t.same(mapper.of(claims({ scp: 'a b' }), true), ['scope:a', 'scope:b'])
  t.same(mapper.of(claims({ scope: { read: true } }), true), [], 'an object is not a scope list')
  t.same(mapper.of(claims({ scope: 'a"b c\\d é ok' }), true), ['scope:ok'], 'what a challenge could not name grants nothing')
})

t.test('roles come first, as they are, and never in the form of a scope', async (t) => {
  const mapper = new ClaimsPrincipals({ roles: ['roles', ['realm_access', 'roles'], 'cognito:groups'], scopes: ['scope'] })
  const principals = mapper.of(claims({
    roles: ['admin', 'scope:write', 3],
    realm_access: { roles: ['editor'] },
    'cognito:groups': ['ops'],
    scope: 'read'
  }), true)
  t.same(principals, ['admin', 'editor', 'ops', 'scope:read'])
  t.same(mapper.of(claims({ roles: ['admin'], scope: 'read' }), false), ['scope:read'], 'with a callback: the scopes only')
  t.same(mapper.of(claims({ roles: 'admin', realm_access: ['roles'] }), true), [], 'a role claim that is not an array, or a path through an array, gives nothing')
  t.same(mapper.of(claims({ realm_access: null }), true), [])
})

t.test('a claim name is never split on dots', async (t) => {
  const mapper = new ClaimsPrincipals({ roles: ['https://example.com/roles'], scopes: [] })
  t.same(mapper.of(claims({ 'https://example.com/roles': ['admin'] }), true), ['admin'])
})

t.test('the mapping option is checked', async (t) => {
  const defaults = { roles: ['roles'] }
  t.same(resolveClaimsMapping('claims', undefined, defaults), { roles: ['roles'], scopes: DEFAULT_SCOPE_CLAIMS })
  t.same(resolveClaimsMapping('claims', { roles: [['resource_access', 'api', 'roles']] }, defaults), { roles: [['resource_access', 'api', 'roles']], scopes: DEFAULT_SCOPE_CLAIMS })
  t.same(resolveClaimsMapping('claims', { scopes: ['permissions'] }, defaults), { roles: ['roles'], scopes: ['permissions'] })
  for (const [value, option] of [
    [null, 'claims'], [[], 'claims'], ['roles', 'claims'],
    [{ groups: ['x'] }, 'claims.groups'],
    [{ roles: 'roles' }, 'claims.roles'], [{ roles: [''] }, 'claims.roles'], [{ roles: [[]] }, 'claims.roles'],
    [{ scopes: [['a', 1]] }, 'claims.scopes'], [{ scopes: [Array(9).fill('a')] }, 'claims.scopes']
  ] as Array<[unknown, string]>) {
    const error = caught(() => resolveClaimsMapping('claims', value, defaults))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_OPTION')
    t.match(error.message, option)
  }
})
