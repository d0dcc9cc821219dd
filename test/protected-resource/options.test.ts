import Fastify from 'fastify'
import t from 'tap'
import jwtSecurity, { type JwtSecurityOptions } from '../../lib/index.js'
import { resolveProtectedResource } from '../../lib/protected-resource/options.js'
import { SECRET } from '../helpers/app.js'
import { caught } from '../helpers/errors.js'

// The protectedResource option, checked at register: each mistake names its member.

t.test('absent, the option resolves to null', async (t) => {
  t.equal(resolveProtectedResource(undefined), null)
})

t.test('the path: RFC 9728 §3.1 puts the well-known string between the host and the resource\'s path', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['https://api.example.com', '/.well-known/oauth-protected-resource', 'https://api.example.com/.well-known/oauth-protected-resource'],
    ['https://api.example.com/', '/.well-known/oauth-protected-resource', 'https://api.example.com/.well-known/oauth-protected-resource'],
    ['https://api.example.com/v1', '/.well-known/oauth-protected-resource/v1', 'https://api.example.com/.well-known/oauth-protected-resource/v1'],
    ['https://api.example.com/v1/', '/.well-known/oauth-protected-resource/v1/', 'https://api.example.com/.well-known/oauth-protected-resource/v1/'],
    ['https://API.example.com:8443/tenants/acme', '/.well-known/oauth-protected-resource/tenants/acme', 'https://api.example.com:8443/.well-known/oauth-protected-resource/tenants/acme'],
    ['http://localhost:3000', '/.well-known/oauth-protected-resource', 'http://localhost:3000/.well-known/oauth-protected-resource'],
    ['http://127.0.0.1:3000/api', '/.well-known/oauth-protected-resource/api', 'http://127.0.0.1:3000/.well-known/oauth-protected-resource/api'],
    ['http://[::1]:3000', '/.well-known/oauth-protected-resource', 'http://[::1]:3000/.well-known/oauth-protected-resource']
  ]
  for (const [resource, path, metadataUrl] of cases) {
    const resolved = resolveProtectedResource({ resource })
    t.match(resolved, { resource, path, metadataUrl }, resource)
  }
  t.match(resolveProtectedResource({ resource: 'https://api.example.com/v1', path: '/meta/v1' }), { path: '/meta/v1', metadataUrl: 'https://api.example.com/meta/v1' }, 'an explicit path')
})

t.test('the members, as given, with bearer_methods_supported ["header"] by default', async (t) => {
  t.strictSame(resolveProtectedResource({ resource: 'https://api.example.com' }), {
    resource: 'https://api.example.com',
    path: '/.well-known/oauth-protected-resource',
    metadataUrl: 'https://api.example.com/.well-known/oauth-protected-resource',
    authorizationServers: null,
    jwksUri: null,
    scopesSupported: null,
    members: { bearer_methods_supported: ['header'] }
  })
  const full = resolveProtectedResource({
    resource: 'https://api.example.com',
    authorizationServers: ['https://auth.example.com', 'https://auth.example.com/tenant', 'https://auth.example.com'],
    scopesSupported: ['read', 'write'],
    jwksUri: 'https://api.example.com/jwks.json?v=2',
    bearerMethodsSupported: [],
    resourceSigningAlgValuesSupported: ['ES256'],
    resourceName: 'Example API',
    resourceDocumentation: 'https://docs.example.com/api',
    extra: { resource_policy_uri: 'https://example.com/policy', dpop_bound_access_tokens_required: false, nested: { list: [1, null, 'x'] } }
  })
  t.strictSame(full, {
    resource: 'https://api.example.com',
    path: '/.well-known/oauth-protected-resource',
    metadataUrl: 'https://api.example.com/.well-known/oauth-protected-resource',
    authorizationServers: ['https://auth.example.com', 'https://auth.example.com/tenant'],
    jwksUri: 'https://api.example.com/jwks.json?v=2',
    scopesSupported: ['read', 'write'],
    members: {
      bearer_methods_supported: [],
      resource_signing_alg_values_supported: ['ES256'],
      resource_name: 'Example API',
      resource_documentation: 'https://docs.example.com/api',
      resource_policy_uri: 'https://example.com/policy',
      dpop_bound_access_tokens_required: false,
      nested: { list: [1, null, 'x'] }
    }
  })
  t.ok(Object.isFrozen(full) && Object.isFrozen(full?.members))
  const extra = { nested: { a: 1 } }
  const copied = resolveProtectedResource({ resource: 'https://api.example.com', extra })
  extra.nested.a = 2
  t.strictSame(copied?.members.nested, { a: 1 }, 'extra is copied')
  t.strictSame(resolveProtectedResource({ resource: 'https://api.example.com', extra: Object.assign(Object.create(null) as object, { a: 1 }) })?.members, { bearer_methods_supported: ['header'], a: 1 })
})

t.test('mistakes are coded errors naming the member, at register', async (t) => {
  const httpsUrl = (without: string): string => `expected an absolute https URL (http only for localhost) without ${without}fragment or credentials`
  let deep: unknown = 'leaf'
  for (let level = 0; level < 17; level++) deep = [deep]
  const cases: Array<[unknown, string, string]> = [
    ['https://api.example.com', 'protectedResource', 'expected an object with at least resource'],
    [null, 'protectedResource', 'expected an object with at least resource'],
    [[], 'protectedResource', 'expected an object with at least resource'],
    [{ resource: 'https://api.example.com', scopes: [] }, 'protectedResource.scopes', 'unknown option'],
    [{}, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 'api.example.com' }, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 42 }, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 'https://a"b.example/' }, 'protectedResource.resource', 'its origin holds a character a challenge cannot quote (" or \\ or a space)'],
    [{ resource: 'http://api.example.com' }, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 'http://localhost.example.com' }, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 'ftp://api.example.com' }, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 'https://api.example.com/#' }, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 'https://api.example.com/#top' }, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 'https://api.example.com/?tenant=a' }, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 'https://user:pass@api.example.com/' }, 'protectedResource.resource', httpsUrl('query, ')],
    [{ resource: 'https://api.example.com/a:b' }, 'protectedResource.resource', 'its path cannot be served as /.well-known/oauth-protected-resource<path> (only letters, digits and -._~!$&+,;=@/): set protectedResource.path'],
    [{ resource: 'https://api.example.com/caf%C3%A9' }, 'protectedResource.resource', 'its path cannot be served as /.well-known/oauth-protected-resource<path> (only letters, digits and -._~!$&+,;=@/): set protectedResource.path'],
    ...['', 'meta', '/a b', '/a:b', '/a*', '/a"b', '/a//b', '/a?b', 3].map((path): [unknown, string, string] =>
      [{ resource: 'https://api.example.com', path }, 'protectedResource.path', 'expected a path from the origin such as "/.well-known/oauth-protected-resource", with only letters, digits and -._~!$&+,;=@/']),
    [{ resource: 'https://api.example.com', authorizationServers: [] }, 'protectedResource.authorizationServers', 'expected a non-empty array of issuer identifiers (https URLs without query or fragment)'],
    [{ resource: 'https://api.example.com', authorizationServers: 'https://auth.example.com' }, 'protectedResource.authorizationServers', 'expected a non-empty array of issuer identifiers (https URLs without query or fragment)'],
    [{ resource: 'https://api.example.com', authorizationServers: ['https://auth.example.com?x=1'] }, 'protectedResource.authorizationServers', 'expected a non-empty array of issuer identifiers (https URLs without query or fragment)'],
    [{ resource: 'https://api.example.com', authorizationServers: ['http://auth.example.com'] }, 'protectedResource.authorizationServers', 'expected a non-empty array of issuer identifiers (https URLs without query or fragment)'],
    [{ resource: 'https://api.example.com', scopesSupported: ['read write'] }, 'protectedResource.scopesSupported', 'expected a non-empty array of scope names (printable ASCII without spaces, " or \\)'],
    [{ resource: 'https://api.example.com', scopesSupported: [] }, 'protectedResource.scopesSupported', 'expected a non-empty array of scope names (printable ASCII without spaces, " or \\)'],
    [{ resource: 'https://api.example.com', jwksUri: 'http://api.example.com/jwks.json' }, 'protectedResource.jwksUri', httpsUrl('')],
    [{ resource: 'https://api.example.com', bearerMethodsSupported: ['cookie'] }, 'protectedResource.bearerMethodsSupported', 'expected an array of "header", "body" or "query"'],
    [{ resource: 'https://api.example.com', bearerMethodsSupported: 'header' }, 'protectedResource.bearerMethodsSupported', 'expected an array of "header", "body" or "query"'],
    [{ resource: 'https://api.example.com', resourceSigningAlgValuesSupported: ['none'] }, 'protectedResource.resourceSigningAlgValuesSupported', 'expected a non-empty array of JWS algorithm names other than "none"'],
    [{ resource: 'https://api.example.com', resourceSigningAlgValuesSupported: [''] }, 'protectedResource.resourceSigningAlgValuesSupported', 'expected a non-empty array of JWS algorithm names other than "none"'],
    [{ resource: 'https://api.example.com', resourceName: '' }, 'protectedResource.resourceName', 'expected a non-empty string'],
    [{ resource: 'https://api.example.com', resourceDocumentation: 'docs.example.com' }, 'protectedResource.resourceDocumentation', httpsUrl('')],
    [{ resource: 'https://api.example.com', extra: [] }, 'protectedResource.extra', 'expected an object of metadata members'],
    [{ resource: 'https://api.example.com', extra: new Map() }, 'protectedResource.extra', 'expected an object of metadata members'],
    [{ resource: 'https://api.example.com', extra: { resource: 'https://other.example.com' } }, 'protectedResource.extra.resource', 'is set by protectedResource.resource'],
    [{ resource: 'https://api.example.com', extra: { scopes_supported: ['a'] } }, 'protectedResource.extra.scopes_supported', 'is set by protectedResource.scopesSupported'],
    ...[undefined, NaN, Infinity, 1n, () => 1, new Date(0), { a: undefined }, [Symbol('s')], deep].map((value): [unknown, string, string] =>
      [{ resource: 'https://api.example.com', extra: { member: value } }, 'protectedResource.extra.member', 'expected a JSON value (null, boolean, finite number, string, array, plain object; at most 16 levels)'])
  ]
  for (const [index, [protectedResource, option, message]] of cases.entries()) {
    const error = caught(() => resolveProtectedResource(protectedResource))
    t.match(error, { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: `Invalid option "${option}": ${message}` }, `case ${index}: ${option}`)
  }
  const app = Fastify()
  await t.rejects(async () => { await app.register(jwtSecurity, { secret: SECRET, protectedResource: { resource: 'http://api.example.com' } } as JwtSecurityOptions) },
    { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: `Invalid option "protectedResource.resource": ${httpsUrl('query, ')}` }, 'register rejects')
})
