import Fastify from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import jwtSecurity, { Allow, Authenticated, Everyone, NO_PERMISSION_REQUIRED, type ACE } from 'fastify-jwt-security'

// An app that declares its permissions gets typos caught at compile time, and its own types for
// request.identity and request.jwtClaims.
interface User { id: string, name: string }
declare module 'fastify-jwt-security' {
  interface Permissions { view: true, edit: true }
  interface SecurityTypes { identity: User, claims: { roles: string[] } }
}

const app = Fastify()
await app.register(jwtSecurity, { secret: 'x'.repeat(64), defaultPermission: 'view' })
app.get('/articles', { preHandler: app.permits('view') }, async (request) => {
  expectType<User | null>(request.identity)
  expectType<readonly string[] | undefined>(request.jwtClaims?.roles)
  await request.hasPermission('edit')
  expectError(await request.hasPermission('veiw'))
  return 'ok'
})
expectError(app.permits('veiw'))
app.post('/articles', { config: { permission: 'edit' } }, async () => 'ok')
expectError(app.post('/x', { config: { permission: 'delete' } }, async () => 'ok'))
// The way out of defaultPermission stays open when permissions are declared.
app.get('/health', { config: { permission: NO_PERMISSION_REQUIRED } }, async () => 'ok')
// So do the principals the default rule grants as permissions.
app.get('/me', { preHandler: app.permits(Authenticated) }, async () => 'ok')
app.get('/hello', { config: { permission: Everyone } }, async () => 'ok')
expectError(app.permits('system.Authenticatd'))
expectError(app.register(jwtSecurity, { secret: 'x'.repeat(64), defaultPermission: 'admin' }))
expectAssignable<ACE>([Allow, Everyone, 'view'])
expectError<ACE>([Allow, Everyone, 'publish'])
