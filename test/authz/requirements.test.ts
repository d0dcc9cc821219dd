import Fastify from 'fastify'
import t from 'tap'
import jwtSecurity, { type AccessRequirement } from '../../lib/index.js'
import { resolveRequirement } from '../../lib/authz/requirements.js'
import { SECRET } from '../helpers/app.js'
import { caught } from '../helpers/errors.js'

// A requirement is checked where it is declared: app.requires() when it is called, config.requires
// when the route is added. Each mistake is a coded error naming the option and where it was.

t.test('a requirement resolves to frozen lists, duplicates dropped, durations in seconds', async (t) => {
  const all = resolveRequirement('requires', { scopes: ['b', 'a', 'b'], acr: ['urn:mfa', 'urn:mfa'], maxAge: '5m' }, 'app.requires()')
  t.strictSame(all, { scopes: ['b', 'a'], anyOf: false, acr: ['urn:mfa'], maxAge: 300 })
  t.ok(Object.isFrozen(all) && Object.isFrozen(all.scopes) && Object.isFrozen(all.acr))
  t.strictSame(resolveRequirement('requires', { scopes: { anyOf: ['x', 'y'] } }, 'here'), { scopes: ['x', 'y'], anyOf: true, acr: null, maxAge: null })
  t.strictSame(resolveRequirement('requires', { maxAge: 0 }, 'here'), { scopes: [], anyOf: false, acr: null, maxAge: 0 })
  // RFC 6749 §3.3: any printable ASCII but space, " and \.
  t.strictSame(resolveRequirement('requires', { scopes: ['!#[]~', 'https://api.example.com/read'] }, 'here').scopes, ['!#[]~', 'https://api.example.com/read'])
})

t.test('mistakes are coded errors naming the option and where it was declared', async (t) => {
  const cases: Array<[unknown, string, string]> = [
    [undefined, 'requires', 'app.requires(): expected an object with scopes, acr and/or maxAge'],
    [['read'], 'requires', 'app.requires(): expected an object with scopes, acr and/or maxAge'],
    ['read', 'requires', 'app.requires(): expected an object with scopes, acr and/or maxAge'],
    [{}, 'requires', 'app.requires(): names no scopes, acr or maxAge'],
    [{ scope: ['read'] }, 'requires.scope', 'app.requires(): is not a requirement (expected scopes, acr or maxAge)'],
    [{ scopes: [] }, 'requires.scopes', 'app.requires(): expected a non-empty array of scope names, each printable ASCII without spaces, " or \\'],
    [{ scopes: ['read write'] }, 'requires.scopes', 'app.requires(): expected a non-empty array of scope names, each printable ASCII without spaces, " or \\'],
    [{ scopes: ['say "hi"'] }, 'requires.scopes', 'app.requires(): expected a non-empty array of scope names, each printable ASCII without spaces, " or \\'],
    [{ scopes: ['back\\slash'] }, 'requires.scopes', 'app.requires(): expected a non-empty array of scope names, each printable ASCII without spaces, " or \\'],
    [{ scopes: ['é'] }, 'requires.scopes', 'app.requires(): expected a non-empty array of scope names, each printable ASCII without spaces, " or \\'],
    [{ scopes: [''] }, 'requires.scopes', 'app.requires(): expected a non-empty array of scope names, each printable ASCII without spaces, " or \\'],
    [{ scopes: [3] }, 'requires.scopes', 'app.requires(): expected a non-empty array of scope names, each printable ASCII without spaces, " or \\'],
    [{ scopes: 'read' }, 'requires.scopes', 'app.requires(): expected an array of scope names (all needed) or { anyOf: [...] } (one needed)'],
    [{ scopes: null }, 'requires.scopes', 'app.requires(): expected an array of scope names (all needed) or { anyOf: [...] } (one needed)'],
    [{ scopes: { allOf: ['read'] } }, 'requires.scopes', 'app.requires(): expected an array of scope names (all needed) or { anyOf: [...] } (one needed)'],
    [{ scopes: { anyOf: ['read'], allOf: ['write'] } }, 'requires.scopes', 'app.requires(): expected an array of scope names (all needed) or { anyOf: [...] } (one needed)'],
    [{ scopes: { anyOf: [] } }, 'requires.scopes.anyOf', 'app.requires(): expected a non-empty array of scope names, each printable ASCII without spaces, " or \\'],
    [{ acr: 'urn:mfa' }, 'requires.acr', 'app.requires(): expected a non-empty array of acr values, each printable ASCII without spaces, " or \\'],
    [{ acr: ['two words'] }, 'requires.acr', 'app.requires(): expected a non-empty array of acr values, each printable ASCII without spaces, " or \\'],
    [{ maxAge: -1 }, 'requires.maxAge', 'app.requires(): expected a whole number of seconds or a duration such as "5m"'],
    [{ maxAge: 1.5 }, 'requires.maxAge', 'app.requires(): expected a whole number of seconds or a duration such as "5m"'],
    [{ maxAge: '5 minutes' }, 'requires.maxAge', 'app.requires(): expected a whole number of seconds or a duration such as "5m"'],
    [{ maxAge: Infinity }, 'requires.maxAge', 'app.requires(): expected a whole number of seconds or a duration such as "5m"'],
    [{ maxAge: null }, 'requires.maxAge', 'app.requires(): expected a whole number of seconds or a duration such as "5m"']
  ]
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET })
  for (const [requirement, option, message] of cases) {
    const error = caught(() => app.requires(requirement as AccessRequirement))
    t.match(error, { code: 'FST_JWT_SECURITY_INVALID_OPTION', message: `Invalid option "${option}": ${message}` }, JSON.stringify(requirement) ?? 'undefined')
  }
})

t.test('config.requires is checked when the route is added, and the message names the route', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET })
  t.throws(() => app.get('/bad', { config: { requires: { scopes: ['read write'] } } }, async () => 'x'), {
    code: 'FST_JWT_SECURITY_INVALID_OPTION',
    message: 'Invalid option "config.requires.scopes": route /bad: expected a non-empty array of scope names, each printable ASCII without spaces, " or \\'
  })
  t.throws(() => app.get('/empty', { config: { requires: {} } }, async () => 'x'), {
    code: 'FST_JWT_SECURITY_INVALID_OPTION',
    message: 'Invalid option "config.requires": route /empty: names no scopes, acr or maxAge'
  })
  t.throws(() => app.get('/null', { config: { requires: null as unknown as AccessRequirement } }, async () => 'x'), {
    message: 'Invalid option "config.requires": route /null: expected an object with scopes, acr and/or maxAge'
  })
})
