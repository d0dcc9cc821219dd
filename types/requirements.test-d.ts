import Fastify from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import jwtSecurity, { type AccessRequirement, type PermissionHook, type ProtectedResourceOptions } from 'fastify-jwt-security'

const app = Fastify()
await app.register(jwtSecurity, {
  secret: 'x'.repeat(64),
  protectedResource: {
    resource: 'https://api.example.com',
    authorizationServers: ['https://auth.example.com'],
    bearerMethodsSupported: ['header'],
    extra: { resource_policy_uri: 'https://example.com/policy' }
  }
})
expectError(app.register(jwtSecurity, { secret: 'x'.repeat(64), protectedResource: {} }))
expectError(app.register(jwtSecurity, { secret: 'x'.repeat(64), protectedResource: { resource: 'https://api.example.com', bearerMethodsSupported: ['cookie'] } }))

// app.requires(): a hook like app.permits(), with done or as a promise.
expectType<PermissionHook>(app.requires({ scopes: ['messages:read'] }))
app.get('/messages', { preHandler: app.requires({ scopes: { anyOf: ['a', 'b'] }, acr: ['urn:mfa'], maxAge: '5m' }) }, async () => 'ok')
app.get('/inside', async (request, reply) => {
  expectType<Promise<void>>(app.requires({ maxAge: 300 })(request, reply))
  return 'ok'
})
expectError(app.requires({ scopes: 'messages:read' }))
expectError(app.requires({ acr: 'urn:mfa' }))
expectError(app.requires({ maxAge: true }))
expectError(app.requires({ scope: ['a'] }))

// config.requires
app.post('/transfers', { config: { requires: { scopes: ['payments'], acr: ['urn:mfa'], maxAge: 300 }, permission: 'pay' } }, async () => 'ok')
expectError(app.get('/x', { config: { requires: { scopes: { allOf: ['a'] } } } }, async () => 'ok'))

expectAssignable<AccessRequirement>({ scopes: ['a'] })
expectAssignable<AccessRequirement>({ scopes: { anyOf: ['a'] } as const, maxAge: 60 })
expectNotAssignable<AccessRequirement>({ scopes: [1] })
expectAssignable<ProtectedResourceOptions>({ resource: 'https://api.example.com', path: '/meta', scopesSupported: ['a'], resourceName: 'API' })
expectNotAssignable<ProtectedResourceOptions>({ path: '/meta' })
