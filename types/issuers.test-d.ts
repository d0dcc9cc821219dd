import Fastify from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import jwtSecurity, { SCOPE_PREFIX, type ClaimPath, type ClaimsMapping, type PolicyContext, type RevokeAllOptions, type TrustedIssuer } from 'fastify-jwt-security'

const app = Fastify()
// Trusted issuers alone: no key of the app's own is needed.
await app.register(jwtSecurity, {
  issuers: [
    { issuer: 'https://sso.example.com/realms/acme', audience: 'orders-api', claims: { roles: [['realm_access', 'roles']] }, prefetch: true },
    { issuer: 'https://example.eu.auth0.com/', audience: ['https://orders.example.com'], profile: 'rfc9068', claims: { scopes: ['scope', 'permissions'] } },
    { issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc', audience: ['client-1'], audienceClaim: 'client_id', jwksUri: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json' },
    { issuer: 'billing', audience: 'orders-api', keys: [{ kid: 'b1', algorithm: 'EdDSA', publicKey: 'pem' }], leeway: '30s', typ: 'at+jwt' }
  ]
})
expectError(app.register(jwtSecurity, { issuers: [{ issuer: 'https://idp.example' }] }))
expectNotAssignable<TrustedIssuer>({ issuer: 'https://idp.example', audience: 'api', profile: 'oidc' })
expectNotAssignable<TrustedIssuer>({ issuer: 'https://idp.example', audience: 'api', algorithms: ['HS256'] })
expectNotAssignable<TrustedIssuer>({ issuer: 'https://idp.example', audience: 'api', audienceClaim: 'azp' })
expectAssignable<TrustedIssuer>({ issuer: 'http://127.0.0.1:4000', audience: 'api', allowHttpLoopback: true, staleIfError: '2h', retryDelay: 1 })

expectAssignable<ClaimPath>('cognito:groups')
expectAssignable<ClaimPath>(['resource_access', 'orders-api', 'roles'])
expectNotAssignable<ClaimsMapping>({ groups: ['groups'] })
expectType<'scope:'>(SCOPE_PREFIX)

expectType<Promise<void>>(app.revokeAllFor('alice', { issuer: 'https://sso.example.com/realms/acme' }))
expectAssignable<RevokeAllOptions>({})
expectError(app.revokeAllFor('alice', { iss: 'x' }))

declare const context: PolicyContext
expectType<string[]>(context.principalsOf({ sub: 'alice', scope: 'read' }))
