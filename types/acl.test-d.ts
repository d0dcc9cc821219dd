import Fastify from 'fastify'
import { expectAssignable, expectError, expectType } from 'tsd'
import jwtSecurity, {
  ACLAllowed, ACLDenied, ACLHelper, ALL_PERMISSIONS, Allow, Authenticated, Deny, DENY_ALL, Everyone, NO_PERMISSION_REQUIRED,
  type ACE, type ACL, type Resource
} from 'fastify-jwt-security'

class Root implements Resource {
  __acl__: ACL = [[Allow, 'role:admin', ALL_PERMISSIONS], [Allow, 'role:reports', 'reports'], [Allow, Authenticated, 'view']]
}
const app = Fastify()
await app.register(jwtSecurity, {
  secret: 'x'.repeat(64),
  rootFactory: () => new Root(),
  defaultPermission: 'view',
  debugAuthorization: true,
  callback: (userid, request) => (request.jwtClaims?.roles as string[]).map((role) => `role:${role}`)
})
app.get('/open', { config: { permission: NO_PERMISSION_REQUIRED } }, async () => 'ok')
app.get('/articles/:id', { preHandler: app.permits('edit', { context: async (request) => ({ __parent__: new Root(), id: request.params }) }) }, async () => 'ok')

const helper = new ACLHelper()
const result = helper.permits(new Root(), [Everyone], 'view')
expectType<ACLAllowed | ACLDenied>(result)
expectType<Set<string>>(helper.principalsAllowedByPermission(new Root(), 'view'))
expectAssignable<ACE>(DENY_ALL)
expectAssignable<ACE>([Deny, Everyone, ['edit', 'delete']])
expectError<ACE>(['allow', Everyone, 'view'])
expectError<ACE>([Allow, Everyone])
