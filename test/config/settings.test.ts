import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Fastify, { type FastifyInstance } from 'fastify'
import { decodeJwt, jwtVerify, SignJWT } from 'jose'
import tap from 'tap'
import jwtSecurity, { decodePyramidCookie, encodePyramidCookie, JwtCookiePolicy, JwtHeaderPolicy, type JwtSecurityOptions } from '../../lib/index.js'
import { fromEnv as realFromEnv, fromSettings as realFromSettings, SETTING_NAMES } from '../../lib/config/settings.js'
import { SECRET } from '../helpers/app.js'
import { caught, rejected } from '../helpers/errors.js'
import { keyPair } from '../helpers/keys.js'

const INVALID_OPTION = 'FST_JWT_SECURITY_INVALID_OPTION'

// Without transport settings the result holds pyramid_jwt's default transport, a header policy
// with the JWT scheme (asserted once below); the other tests compare the rest of the options.
function withoutDefaultPolicy (options: JwtSecurityOptions): JwtSecurityOptions {
  const { policy, ...rest } = options
  const isDefault = policy instanceof JwtHeaderPolicy && policy.header === 'authorization' && policy.authType === 'JWT'
  return isDefault ? rest : options
}
const fromSettings = (...args: Parameters<typeof realFromSettings>) => withoutDefaultPolicy(realFromSettings(...args))
const fromEnv = (...args: Parameters<typeof realFromEnv>) => withoutDefaultPolicy(realFromEnv(...args))
const TRUE_WORDS = ['true', 'TRUE', 'True', 'yes', 'Yes', 'on', 'ON', 'y', 'Y', 't', 'T', '1']
const FALSE_WORDS = ['false', 'FALSE', 'False', 'no', 'No', 'off', 'OFF', 'n', 'N', 'f', 'F', '0']

/** Asserts that `fn` throws FST_JWT_SECURITY_INVALID_OPTION naming `key`, with a message matching `reason`. */
function refuses (t: Pick<typeof tap, 'equal' | 'ok' | 'match'>, fn: () => unknown, key: string, reason: RegExp, label: string): void {
  const error = caught(fn)
  t.equal(error.code, INVALID_OPTION, `${label}: code`)
  t.ok(error.message.startsWith(`Invalid option "${key}": `), `${label}: names ${key} (${error.message})`)
  t.match(error.message, reason, `${label}: says what was expected`)
}

/** An app with the plugin registered with exactly `options`: GET /me for any signed-in user, GET /view for permission view. */
async function appWith (t: Pick<typeof tap, 'teardown'>, options: JwtSecurityOptions): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtSecurity, options)
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => ({ userid: request.authenticatedUserid }))
  app.get('/view', { config: { permission: 'view' } }, async (request) => ({ userid: request.authenticatedUserid }))
  await app.ready()
  return app
}

tap.test('SETTING_NAMES lists pyramid_jwt\'s ini settings and ours, frozen', async (t) => {
  t.strictSame(SETTING_NAMES, [
    'private_key', 'public_key', 'private_key_passphrase', 'algorithm', 'expiration', 'leeway', 'audience', 'audiences',
    'http_header', 'auth_type', 'cookie_name', 'cookie_path', 'cookie_host_domain', 'https_only_cookie', 'samesite', 'cookie_reissue_time',
    'cookie_format'
  ])
  t.ok(Object.isFrozen(SETTING_NAMES))
})

tap.test('docs/settings.md has a row per setting, with its ini key and environment variable', async (t) => {
  const doc = readFileSync(new URL('../../docs/settings.md', import.meta.url), 'utf8')
  const rows = doc.split('\n').filter((line) => line.startsWith('| `jwt.'))
  t.equal(rows.length, SETTING_NAMES.length)
  for (const name of SETTING_NAMES) {
    t.ok(rows.some((row) => row.startsWith(`| \`jwt.${name}\` | \`JWT_${name.toUpperCase()}\` |`)), name)
  }
})

tap.test('without transport settings, the transport is pyramid_jwt\'s: Authorization: JWT <token>', async (t) => {
  for (const options of [realFromSettings({}), realFromEnv({}), realFromSettings({ 'jwt.private_key': SECRET })]) {
    t.ok(options.policy instanceof JwtHeaderPolicy)
    t.equal((options.policy as JwtHeaderPolicy).header, 'authorization')
    t.equal((options.policy as JwtHeaderPolicy).authType, 'JWT')
  }
})

tap.test('absent settings give no option at all; settings without the prefix are ignored', async (t) => {
  t.strictSame(fromSettings({}), {})
  t.strictSame(fromSettings({ 'pyramid.reload_templates': 'true', 'sqlalchemy.url': 'sqlite://', ' jwt.expiration': 'x', 'JWT.expiration': 'x' }), {})
  t.strictSame(fromSettings({ 'jwt.private_key': undefined, 'jwt.expiration': undefined }), {}, 'undefined is absent, as process.env.X may be')
})

tap.test('the plugin settings: private_key is the secret of HS* algorithms', async (t) => {
  t.strictSame(fromSettings({ 'jwt.private_key': SECRET }), { secret: SECRET }, 'HS512 by default, as pyramid_jwt')
  for (const algorithm of ['HS256', 'HS384', 'HS512']) {
    t.strictSame(fromSettings({ 'jwt.private_key': SECRET, 'jwt.algorithm': algorithm }), { secret: SECRET, algorithm })
  }
  t.strictSame(fromSettings({
    'jwt.private_key': SECRET,
    'jwt.algorithm': 'HS256',
    'jwt.expiration': '3600',
    'jwt.leeway': '10',
    'jwt.audience': 'example.org'
  }), { secret: SECRET, algorithm: 'HS256', expiresIn: 3600, leeway: 10, audience: 'example.org' })
})

tap.test('the plugin settings: private_key, public_key and the passphrase with asymmetric algorithms', async (t) => {
  const { privateKey, publicKey } = keyPair('ed25519')
  t.strictSame(fromSettings({
    'jwt.private_key': privateKey,
    'jwt.public_key': publicKey,
    'jwt.private_key_passphrase': 'correct horse',
    'jwt.algorithm': 'EdDSA',
    'jwt.expiration': '2h',
    'jwt.leeway': '30s',
    'jwt.audiences': 'api web'
  }), {
    privateKey: privateKey.trim(),
    publicKey: publicKey.trim(),
    passphrase: 'correct horse',
    algorithm: 'EdDSA',
    expiresIn: '2h',
    leeway: '30s',
    audience: ['api', 'web']
  })
  t.strictSame(fromSettings({ 'jwt.public_key': publicKey, 'jwt.algorithm': 'RS256' }), { publicKey: publicKey.trim(), algorithm: 'RS256' }, 'verify only')
})

tap.test('http_header and auth_type build a JwtHeaderPolicy, with pyramid_jwt\'s JWT scheme by default', async (t) => {
  const jwt = realFromSettings({ 'jwt.http_header': 'Authorization' })
  t.strictSame(Object.keys(jwt), ['policy'])
  t.ok(jwt.policy instanceof JwtHeaderPolicy)
  t.match(jwt.policy, { header: 'authorization', authType: 'JWT', challengeScheme: 'JWT' })

  const bearer = fromSettings({ 'jwt.auth_type': 'Bearer' })
  t.strictSame(Object.keys(bearer), ['policy'])
  t.match(bearer.policy, { header: 'authorization', authType: 'Bearer', challengeScheme: 'Bearer' })

  const custom = fromSettings({ 'jwt.http_header': 'X-My-Header', 'jwt.private_key': SECRET })
  t.strictSame(Object.keys(custom).sort(), ['policy', 'secret'])
  t.ok(custom.policy instanceof JwtHeaderPolicy)
  t.match(custom.policy, { header: 'x-my-header', authType: null, challengeScheme: 'Bearer' }, 'a bare token, as pyramid_jwt')
})

tap.test('any cookie setting builds a JwtCookiePolicy, in pyramid_jwt\'s cookie format by default', async (t) => {
  const options = fromSettings({
    'jwt.private_key': SECRET,
    'jwt.expiration': '7200',
    'jwt.cookie_name': 'session',
    'jwt.cookie_path': '/',
    'jwt.https_only_cookie': 'true',
    'jwt.cookie_reissue_time': '900'
  })
  t.strictSame(Object.keys(options).sort(), ['expiresIn', 'policy', 'secret'])
  t.ok(options.policy instanceof JwtCookiePolicy)
  t.match(options.policy, { cookieName: 'session', csrfCookieName: 'session-csrf', reissueTime: 900, cookieFormat: 'pyramid', maxSessionAge: 604800 })

  const jwtFormat = fromSettings({ 'jwt.cookie_format': 'jwt' })
  t.ok(jwtFormat.policy instanceof JwtCookiePolicy)
  t.match(jwtFormat.policy, { cookieName: 'Authorization', reissueTime: null, cookieFormat: 'jwt' }, 'pyramid_jwt\'s cookie name; the policy defaults otherwise')
  t.match(fromSettings({ 'jwt.cookie_reissue_time': '15m' }).policy, { reissueTime: 900, cookieFormat: 'pyramid' })
  t.match(fromSettings({ 'jwt.https_only_cookie': 'yes' }).policy, { cookieName: 'Authorization' })
  for (const value of ['Lax', 'strict', 'NONE']) t.ok(fromSettings({ 'jwt.samesite': value }).policy instanceof JwtCookiePolicy, `samesite ${value}`)
})

tap.test('a cookie policy from settings sets the cookie pyramid_jwt would (path, Secure, format)', async (t) => {
  const options = fromSettings({
    'jwt.private_key': SECRET,
    'jwt.cookie_name': 'session',
    'jwt.cookie_path': '/app',
    'jwt.https_only_cookie': 'off',
    'jwt.samesite': 'Strict'
  })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtSecurity, options)
  app.post('/app/login', async (request, reply) => {
    await reply.remember('alice', { roles: ['view'] })
    return { ok: true }
  })
  app.get('/app/me', { config: { permission: 'view' } }, async (request) => ({ userid: request.authenticatedUserid }))
  const login = await app.inject({ method: 'POST', url: '/app/login' })
  const cookie = ([] as string[]).concat(login.headers['set-cookie'] ?? [])[0] as string
  t.match(cookie, /^session=[A-Za-z0-9_-]+=*; Max-Age=3600; Path=\/app; Expires=[^;]+; HttpOnly; SameSite=Strict$/, 'Path=/app, no Secure, SameSite=Strict')
  const value = login.cookies.find((item) => item.name === 'session')?.value as string
  const token = decodePyramidCookie(value) as string
  t.equal(decodeJwt(token).sub, 'alice', 'the cookie holds the token in pyramid_jwt\'s format')
  const me = await app.inject({ url: '/app/me', cookies: { session: value } })
  t.strictSame(me.json(), { userid: 'alice' })
})

tap.test('booleans: Pyramid\'s asbool spellings in any case, and real booleans; "false" is false', async (t) => {
  // A __Secure- cookie needs secure: true, so the policy shows which way each value went.
  for (const word of [...TRUE_WORDS, ` ${TRUE_WORDS[0] as string}\t`, true]) {
    t.ok(fromSettings({ 'jwt.cookie_name': '__Secure-s', 'jwt.https_only_cookie': word }).policy, `${String(word)} is true`)
  }
  for (const word of [...FALSE_WORDS, ' off ', false]) {
    refuses(t, () => fromSettings({ 'jwt.cookie_name': '__Secure-s', 'jwt.https_only_cookie': word }),
      'jwt.cookie_name', /__Secure- cookies need secure: true/, `${String(word)} is false`)
    t.ok(fromSettings({ 'jwt.cookie_name': 's', 'jwt.https_only_cookie': word }).policy, `${String(word)} is accepted`)
  }
})

tap.test('numbers: real whole numbers, decimal strings and duration strings', async (t) => {
  const cases: Array<[unknown, unknown, number]> = [
    ['3600', 3600, 3600], [3600, 3600, 3600], [' 600\n', 600, 600], ['007', 7, 7], ['1h', '1h', 3600], ['15m', '15m', 900],
    [' 7d ', '7d', 604800], ['90s', '90s', 90]
  ]
  for (const [value, expected, seconds] of cases) {
    t.strictSame(fromSettings({ 'jwt.expiration': value }), { expiresIn: expected }, `expiration ${JSON.stringify(value)}`)
    t.match(fromSettings({ 'jwt.cookie_reissue_time': value, 'jwt.cookie_name': 's' }).policy, { reissueTime: seconds })
  }
  t.strictSame(fromSettings({ 'jwt.leeway': '0' }), { leeway: 0 })
  t.strictSame(fromSettings({ 'jwt.leeway': 0 }), { leeway: 0 })
  t.strictSame(fromSettings({ 'jwt.leeway': '5m' }), { leeway: '5m' })
  t.match(fromSettings({ 'jwt.cookie_reissue_time': 0 }).policy, { reissueTime: 0 })
  t.match(fromSettings({ 'jwt.cookie_reissue_time': '1w' }).policy, { reissueTime: 604800 })
})

tap.test('audience: one string, never split, as pyramid_jwt gives it to PyJWT', async (t) => {
  const cases: Array<[string, string]> = [
    ['example.org', 'example.org'],
    ['  example.org  ', 'example.org'],
    ['api web', 'api web'],
    ['api,web', 'api,web'],
    [',example.org,', ',example.org,']
  ]
  for (const [value, audience] of cases) t.strictSame(fromSettings({ 'jwt.audience': value }), { audience }, JSON.stringify(value))
  t.strictSame(fromEnv({ JWT_AUDIENCE: 'api web' }), { audience: 'api web' }, 'fromEnv alike')
})

tap.test('audiences: several (spaces, commas, lines), always an array; not a pyramid_jwt setting', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['example.org', ['example.org']],
    [',example.org,', ['example.org']],
    ['api web', ['api', 'web']],
    ['api,web', ['api', 'web']],
    ['api, web\n  mobile', ['api', 'web', 'mobile']],
    ['\n  https://a.example\n  https://b.example', ['https://a.example', 'https://b.example']]
  ]
  for (const [value, audience] of cases) t.strictSame(fromSettings({ 'jwt.audiences': value }), { audience }, JSON.stringify(value))
  t.strictSame(fromEnv({ JWT_AUDIENCES: 'api,web' }), { audience: ['api', 'web'] }, 'fromEnv alike')
})

tap.test('end to end: an audience with a space is one audience, both ways, as with pyramid_jwt', async (t) => {
  const app = await appWith(t, fromSettings({ 'jwt.private_key': SECRET, 'jwt.audience': 'api web', 'jwt.auth_type': 'Bearer' }))
  const token = await app.createJwtToken('alice')
  t.equal(decodeJwt(token).aud, 'api web', 'created tokens carry it whole')
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 200, 'and are accepted')
  const pyramid = await new SignJWT({ sub: 'bob', aud: 'api web' }).setProtectedHeader({ alg: 'HS512', typ: 'JWT' })
    .setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${pyramid}` } })).statusCode, 200, 'a token with aud "api web", as pyramid_jwt makes')
  const other = await new SignJWT({ sub: 'bob', aud: 'api' }).setProtectedHeader({ alg: 'HS512' })
    .setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${other}` } })).statusCode, 401, 'aud "api" is another audience')
})

tap.test('PEM keys with literal \\n escapes get their newlines back; values are trimmed', async (t) => {
  const { privateKey, publicKey } = keyPair('ec256')
  const escaped = (pem: string): string => pem.replaceAll('\n', '\\n')
  t.notOk(escaped(privateKey).includes('\n'))
  t.strictSame(fromSettings({ 'jwt.private_key': escaped(privateKey), 'jwt.public_key': `  ${escaped(publicKey)}  `, 'jwt.algorithm': 'ES256' }), {
    privateKey: privateKey.trim(), publicKey: publicKey.trim(), algorithm: 'ES256'
  })
  const secret = `${SECRET}\\n`
  t.strictSame(fromSettings({ 'jwt.private_key': ` ${secret}\n` }), { secret }, 'only PEM text is unescaped')
  t.strictSame(fromSettings({ 'jwt.algorithm': '\tHS384 ', 'jwt.auth_type': ' Bearer ' }).algorithm, 'HS384')
  t.match(fromSettings({ 'jwt.auth_type': ' Bearer ' }).policy, { authType: 'Bearer' })
  t.match(fromSettings({ 'jwt.cookie_name': ' sid ', 'jwt.cookie_format': ' jwt ' }).policy, { cookieName: 'sid', cookieFormat: 'jwt' })
})

tap.test('every bad value is a coded error naming the setting key and what was expected', async (t) => {
  const production = process.env.NODE_ENV
  t.teardown(() => { process.env.NODE_ENV = production })
  process.env.NODE_ENV = 'test'
  const STRING = /expected a non-empty string/
  const SCALAR = /expected a string, a number or a boolean/
  const SECONDS = /expected (a whole number of seconds|seconds or a duration)/
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ 'jwt.private_key': '' }, 'jwt.private_key', STRING],
    [{ 'jwt.private_key': '   ' }, 'jwt.private_key', STRING],
    [{ 'jwt.private_key': 42 }, 'jwt.private_key', STRING],
    [{ 'jwt.private_key': true }, 'jwt.private_key', STRING],
    [{ 'jwt.private_key': { pem: 'x' } }, 'jwt.private_key', SCALAR],
    [{ 'jwt.public_key': '' }, 'jwt.public_key', STRING],
    [{ 'jwt.public_key': keyPair('ed25519').publicKey }, 'jwt.public_key', /only for asymmetric algorithms/],
    [{ 'jwt.public_key': 'x', 'jwt.algorithm': 'HS256' }, 'jwt.public_key', /only for asymmetric algorithms/],
    [{ 'jwt.private_key_passphrase': '' }, 'jwt.private_key_passphrase', STRING],
    [{ 'jwt.private_key_passphrase': 1234 }, 'jwt.private_key_passphrase', STRING],
    [{ 'jwt.private_key_passphrase': 'pw', 'jwt.private_key': SECRET }, 'jwt.private_key_passphrase', /only for asymmetric algorithms/],
    [{ 'jwt.algorithm': 'none' }, 'jwt.algorithm', /expected one of HS256, HS384, HS512, RS256/],
    [{ 'jwt.algorithm': 'hs256' }, 'jwt.algorithm', /expected one of/],
    [{ 'jwt.algorithm': '' }, 'jwt.algorithm', /expected one of/],
    [{ 'jwt.algorithm': 256 }, 'jwt.algorithm', /expected one of/],
    [{ 'jwt.expiration': '1.5' }, 'jwt.expiration', SECONDS],
    [{ 'jwt.expiration': '-1' }, 'jwt.expiration', SECONDS],
    [{ 'jwt.expiration': 'abc' }, 'jwt.expiration', SECONDS],
    [{ 'jwt.expiration': '1 hour' }, 'jwt.expiration', SECONDS],
    [{ 'jwt.expiration': '1e3' }, 'jwt.expiration', SECONDS],
    [{ 'jwt.expiration': '' }, 'jwt.expiration', SECONDS],
    [{ 'jwt.expiration': 1.5 }, 'jwt.expiration', /expected a whole number of seconds, 0 or more/],
    [{ 'jwt.expiration': -1 }, 'jwt.expiration', /expected a whole number of seconds/],
    [{ 'jwt.expiration': Number.NaN }, 'jwt.expiration', /expected a whole number of seconds/],
    [{ 'jwt.expiration': true }, 'jwt.expiration', SECONDS],
    [{ 'jwt.expiration': '0' }, 'jwt.expiration', /must be more than 0 seconds/],
    [{ 'jwt.expiration': '367d' }, 'jwt.expiration', /at most 31622400 seconds/],
    [{ 'jwt.leeway': '1.5' }, 'jwt.leeway', SECONDS],
    [{ 'jwt.leeway': '-1' }, 'jwt.leeway', SECONDS],
    [{ 'jwt.leeway': 'abc' }, 'jwt.leeway', SECONDS],
    [{ 'jwt.leeway': false }, 'jwt.leeway', SECONDS],
    [{ 'jwt.leeway': '301' }, 'jwt.leeway', /at most 300 seconds/],
    [{ 'jwt.audience': '' }, 'jwt.audience', STRING],
    [{ 'jwt.audience': '  ' }, 'jwt.audience', STRING],
    [{ 'jwt.audience': 5 }, 'jwt.audience', STRING],
    [{ 'jwt.audience': ['api', 'web'] }, 'jwt.audience', SCALAR],
    [{ 'jwt.audiences': '' }, 'jwt.audiences', /expected audiences separated by spaces or commas/],
    [{ 'jwt.audiences': ' , ' }, 'jwt.audiences', /expected audiences separated/],
    [{ 'jwt.audiences': 5 }, 'jwt.audiences', /expected audiences separated/],
    [{ 'jwt.audience': 'api', 'jwt.audiences': 'api web' }, 'jwt.audiences', /cannot be combined with jwt.audience: give one audience there, or several here/],
    [{ 'jwt.cookie_host_domain': 'maybe' }, 'jwt.cookie_host_domain', /expected a boolean/],
    [{ 'jwt.cookie_host_domain': 1 }, 'jwt.cookie_host_domain', /expected a boolean/],
    [{ 'jwt.cookie_host_domain': 'yes', 'jwt.cookie_name': '__Host-s' }, 'jwt.cookie_name', /__Host-/],
    [{ 'jwt.http_header': '' }, 'jwt.http_header', STRING],
    [{ 'jwt.http_header': 'X My Header' }, 'jwt.http_header', /expected an HTTP header name/],
    [{ 'jwt.http_header': 1 }, 'jwt.http_header', STRING],
    [{ 'jwt.auth_type': 'Bearer x' }, 'jwt.auth_type', /expected an HTTP authentication scheme name/],
    [{ 'jwt.auth_type': '' }, 'jwt.auth_type', STRING],
    [{ 'jwt.auth_type': false }, 'jwt.auth_type', STRING],
    [{ 'jwt.cookie_name': 'bad name' }, 'jwt.cookie_name', /expected a cookie name/],
    [{ 'jwt.cookie_name': '' }, 'jwt.cookie_name', STRING],
    [{ 'jwt.cookie_name': '__Host-s', 'jwt.https_only_cookie': 'false' }, 'jwt.cookie_name', /__Host- cookies need secure: true/],
    [{ 'jwt.cookie_name': '__Host-s', 'jwt.cookie_path': '/app' }, 'jwt.cookie_name', /__Host- cookies need .* path "\/"/],
    [{ 'jwt.cookie_path': 'app' }, 'jwt.cookie_path', /expected a path starting with \//],
    [{ 'jwt.cookie_path': '' }, 'jwt.cookie_path', STRING],
    [{ 'jwt.https_only_cookie': 'maybe' }, 'jwt.https_only_cookie', /expected a boolean: true\/false, yes\/no, on\/off, y\/n, t\/f or 1\/0/],
    [{ 'jwt.https_only_cookie': 'ture' }, 'jwt.https_only_cookie', /expected a boolean/],
    [{ 'jwt.https_only_cookie': '' }, 'jwt.https_only_cookie', /expected a boolean/],
    [{ 'jwt.https_only_cookie': 1 }, 'jwt.https_only_cookie', /expected a boolean/],
    [{ 'jwt.samesite': 'sometimes' }, 'jwt.samesite', /expected Lax, Strict or None/],
    [{ 'jwt.samesite': '' }, 'jwt.samesite', /expected Lax, Strict or None/],
    [{ 'jwt.samesite': true }, 'jwt.samesite', /expected Lax, Strict or None/],
    [{ 'jwt.samesite': 'None', 'jwt.cookie_name': 'sid', 'jwt.https_only_cookie': 'false' }, 'jwt.samesite', /'none' needs secure: true/],
    [{ 'jwt.cookie_reissue_time': '1.5' }, 'jwt.cookie_reissue_time', SECONDS],
    [{ 'jwt.cookie_reissue_time': '-1' }, 'jwt.cookie_reissue_time', SECONDS],
    [{ 'jwt.cookie_reissue_time': 'abc' }, 'jwt.cookie_reissue_time', SECONDS],
    [{ 'jwt.cookie_reissue_time': 0.5 }, 'jwt.cookie_reissue_time', SECONDS],
    [{ 'jwt.cookie_format': 'webob' }, 'jwt.cookie_format', /expected 'jwt' or 'pyramid'/],
    [{ 'jwt.cookie_format': 'JWT' }, 'jwt.cookie_format', /expected 'jwt' or 'pyramid'/],
    [{ 'jwt.cookie_format': true }, 'jwt.cookie_format', /expected 'jwt' or 'pyramid'/],
    [{ 'jwt.expiraton': '3600' }, 'jwt.expiraton', /unknown setting; the known ones are jwt\.private_key, jwt\.public_key/],
    [{ 'jwt.secret': SECRET }, 'jwt.secret', /unknown setting/],
    [{ 'jwt.https_only': 'true' }, 'jwt.https_only', /unknown setting/],
    [{ 'jwt.json_encoder': 'x' }, 'jwt.json_encoder', /unknown setting/],
    [{ 'jwt.expiration ': '3600' }, 'jwt.expiration ', /unknown setting/],
    [{ 'jwt.': 'x' }, 'jwt.', /unknown setting/],
    [{ 'jwt.algorithm': null }, 'jwt.algorithm', SCALAR],
    [{ 'jwt.leeway': {} }, 'jwt.leeway', SCALAR],
    [{ 'jwt.http_header': () => 'Authorization' }, 'jwt.http_header', SCALAR],
    [{ 'jwt.expiration': 10n }, 'jwt.expiration', SCALAR],
    [{ 'jwt.auth_type': '', 'jwt.cookie_name': 'session' }, 'jwt.auth_type', STRING]
  ]
  for (const [settings, key, reason] of cases) {
    const label = Object.entries(settings).map(([name, value]) => `${name}=${typeof value === 'string' ? JSON.stringify(value) : String(value)}`).join(' ')
    refuses(t, () => fromSettings(settings), key, reason, label)
  }
  process.env.NODE_ENV = 'production'
  refuses(t, () => fromSettings({ 'jwt.cookie_name': 'sid', 'jwt.https_only_cookie': 'no' }), 'jwt.https_only_cookie',
    /false is refused when NODE_ENV is production/, 'production')
})

tap.test('errors keep the error they were renamed from as their cause', async (t) => {
  const error = caught(() => fromSettings({ 'jwt.cookie_name': 'bad name' }))
  t.match(error.cause, { code: INVALID_OPTION, message: 'Invalid option "cookieName": expected a cookie name' })
})

tap.test('a policy error names the setting that caused it', async (t) => {
  refuses(t, () => fromSettings({ 'jwt.cookie_name': '__Host-s', 'jwt.cookie_path': '/app' }), 'jwt.cookie_name', /__Host- cookies need/, 'path')
  refuses(t, () => fromSettings({ 'jwt.samesite': 'None', 'jwt.https_only_cookie': 'false' }), 'jwt.samesite', /'none' needs secure: true/, 'samesite')
  t.ok(fromSettings({ 'jwt.https_only_cookie': 'false', 'jwt.cookie_path': '/app' }).policy instanceof JwtCookiePolicy, 'pyramid_jwt\'s cookie name takes any path and Secure')
})

tap.test('the settings and the options are checked', async (t) => {
  for (const settings of [null, 'jwt.private_key=x', ['jwt.private_key']]) {
    refuses(t, () => fromSettings(settings as never), 'settings', /expected an object/, JSON.stringify(settings))
  }
  refuses(t, () => fromEnv(null as never), 'env', /expected an object/, 'env')
  for (const prefix of ['', 5, null]) {
    refuses(t, () => fromSettings({}, { prefix } as never), 'prefix', /expected a non-empty string/, `prefix ${String(prefix)}`)
    refuses(t, () => fromEnv({}, { prefix } as never), 'prefix', /expected a non-empty string/, `env prefix ${String(prefix)}`)
  }
  refuses(t, () => fromSettings({}, { prefx: 'auth.' } as never), 'prefx', /unknown option/, 'typo')
  for (const log of [null, {}, { warn: () => {} }, { info: 'x' }, 'console']) {
    refuses(t, () => fromSettings({}, { log } as never), 'log', /expected a logger with an info method, such as app.log/, `log ${JSON.stringify(log)}`)
    refuses(t, () => fromEnv({}, { log } as never), 'log', /expected a logger with an info method/, `env log ${JSON.stringify(log)}`)
  }
  refuses(t, () => fromSettings({}, null as never), 'options', /expected an object/, 'options')
})

tap.test('the prefix option', async (t) => {
  t.strictSame(fromSettings({ 'auth.algorithm': 'HS256', 'auth.expiration': '60', 'jwt.expiraton': 'ignored' }, { prefix: 'auth.' }), {
    algorithm: 'HS256', expiresIn: 60
  })
  refuses(t, () => fromSettings({ 'auth.expiraton': '60' }, { prefix: 'auth.' }), 'auth.expiraton', /unknown setting; the known ones are auth\.private_key/, 'typo')
  refuses(t, () => fromSettings({ 'auth.leeway': 'abc' }, { prefix: 'auth.' }), 'auth.leeway', /expected/, 'bad value')
  t.strictSame(fromEnv({ APP_JWT_ALGORITHM: 'HS384', JWT_ALGORITHM: 'none' }, { prefix: 'APP_JWT_' }), { algorithm: 'HS384' })
  refuses(t, () => fromEnv({ APP_JWT_LEEWAY: 'abc' }, { prefix: 'APP_JWT_' }), 'APP_JWT_LEEWAY', /expected/, 'env bad value')
})

tap.test('fromEnv: every variable is mapped as its setting', async (t) => {
  const { privateKey } = keyPair('ed25519')
  const options = fromEnv({
    JWT_PRIVATE_KEY: privateKey.replaceAll('\n', '\\n'),
    JWT_PUBLIC_KEY: keyPair('ed25519').publicKey,
    JWT_PRIVATE_KEY_PASSPHRASE: 'pw',
    JWT_ALGORITHM: 'EdDSA',
    JWT_EXPIRATION: '7200',
    JWT_LEEWAY: '5',
    JWT_AUDIENCES: 'api,web',
    JWT_COOKIE_NAME: 'sid',
    JWT_COOKIE_PATH: '/',
    JWT_COOKIE_HOST_DOMAIN: 'no',
    JWT_HTTPS_ONLY_COOKIE: 'on',
    JWT_SAMESITE: 'none',
    JWT_COOKIE_REISSUE_TIME: '30m',
    JWT_COOKIE_FORMAT: 'jwt'
  })
  const { policy, ...rest } = options
  t.strictSame(rest, {
    privateKey: privateKey.trim(),
    publicKey: keyPair('ed25519').publicKey.trim(),
    passphrase: 'pw',
    algorithm: 'EdDSA',
    expiresIn: 7200,
    leeway: 5,
    audience: ['api', 'web']
  })
  t.ok(policy instanceof JwtCookiePolicy)
  t.match(policy, { cookieName: 'sid', reissueTime: 1800, cookieFormat: 'jwt' })
  const header = fromEnv({ JWT_PRIVATE_KEY: SECRET, JWT_HTTP_HEADER: 'Authorization', JWT_AUTH_TYPE: 'bearer' })
  t.strictSame(Object.keys(header), ['secret', 'policy'])
  t.match(header.policy, { header: 'authorization', authType: 'bearer' })
  t.match(fromEnv({ JWT_HTTP_HEADER: 'X-Token' }).policy, { header: 'x-token', authType: null })
  t.match(fromEnv({ JWT_COOKIE_NAME: 'sid', JWT_HTTPS_ONLY_COOKIE: 'off' }).policy, { cookieName: 'sid', cookieFormat: 'pyramid' })
})

tap.test('fromEnv ignores unknown JWT_* variables and the rest of the environment; empty ones are absent', async (t) => {
  t.strictSame(fromEnv({
    JWT_SECRET: 'used by another app',
    JWT_EXPIRATON: 'typo',
    JWT_ISSUER: 'x',
    jwt_algorithm: 'none',
    PATH: '/usr/bin',
    HOME: '/root',
    JWT_LEEWAY: '10'
  }), { leeway: 10 })
  t.strictSame(fromEnv({ JWT_PRIVATE_KEY: '', JWT_ALGORITHM: '   ', JWT_EXPIRATION: undefined }), {})
  refuses(t, () => fromEnv({ JWT_EXPIRATION: 'soon' }), 'JWT_EXPIRATION', /expected seconds or a duration/, 'bad value')
  refuses(t, () => fromEnv({ JWT_HTTPS_ONLY_COOKIE: 'maybe' }), 'JWT_HTTPS_ONLY_COOKIE', /expected a boolean/, 'bad boolean')
  refuses(t, () => fromEnv({ JWT_PUBLIC_KEY: 'x' }), 'JWT_PUBLIC_KEY', /only for asymmetric algorithms/, 'HS512')
  refuses(t, () => fromEnv({ JWT_LEEWAY: {} } as never), 'JWT_LEEWAY', /expected a string, a number or a boolean/, 'not a string')
})

tap.test('fromEnv reads process.env by default', async (t) => {
  const saved = process.env.JWT_LEEWAY
  t.teardown(() => {
    if (saved === undefined) delete process.env.JWT_LEEWAY
    else process.env.JWT_LEEWAY = saved
  })
  process.env.JWT_LEEWAY = '42'
  t.equal(fromEnv().leeway, 42)
})

tap.test('end to end: HS256 from ini settings, a Bearer token that lives 600 seconds', async (t) => {
  const secret = randomBytes(48).toString('base64url')
  t.equal(secret.length, 64)
  const app = await appWith(t, fromSettings({
    'jwt.private_key': secret,
    'jwt.algorithm': 'HS256',
    'jwt.expiration': '600',
    'jwt.auth_type': 'Bearer'
  }))
  const token = await app.createJwtToken('alice', { roles: ['view'] })
  const claims = decodeJwt(token)
  t.equal((claims.exp as number) - (claims.iat as number), 600)
  await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ['HS256'] })
  const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200)
  t.equal(me.json().userid, 'alice')
  const view = await app.inject({ url: '/view', headers: { authorization: `Bearer ${token}` } })
  t.equal(view.statusCode, 200)
  const anonymous = await app.inject({ url: '/me' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.headers['www-authenticate'], 'Bearer realm="api"')
})

tap.test('end to end: without auth_type, a header policy from settings takes pyramid_jwt\'s "JWT <token>"', async (t) => {
  const app = await appWith(t, realFromSettings({ 'jwt.private_key': SECRET }))
  const token = await app.createJwtToken('alice')
  t.equal((await app.inject({ url: '/me', headers: { authorization: `JWT ${token}` } })).statusCode, 200)
  t.equal((await app.inject({ url: '/me', headers: { authorization: `JWT token="${token}"` } })).statusCode, 200)
  const bearer = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(bearer.statusCode, 401)
  t.equal(bearer.headers['www-authenticate'], 'JWT realm="api"')
})

tap.test('end to end: a passphrase-protected EdDSA key from the environment, with \\n escapes', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const encrypted = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse battery' }) as string
  t.match(encrypted, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/)
  const app = await appWith(t, realFromEnv({
    JWT_PRIVATE_KEY: encrypted.replaceAll('\n', '\\n'),
    JWT_PRIVATE_KEY_PASSPHRASE: 'correct horse battery',
    JWT_ALGORITHM: 'EdDSA',
    JWT_EXPIRATION: '5m',
    JWT_AUDIENCE: 'api.example',
    JWT_AUTH_TYPE: 'JWT',
    JWT_SECRET: 'ignored: belongs to another app'
  }))
  const token = await app.createJwtToken('bob')
  const { payload, protectedHeader } = await jwtVerify(token, publicKey, { algorithms: ['EdDSA'], audience: 'api.example' })
  t.equal(protectedHeader.alg, 'EdDSA')
  t.equal((payload.exp as number) - (payload.iat as number), 300)
  const me = await app.inject({ url: '/me', headers: { authorization: `JWT ${token}` } })
  t.equal(me.statusCode, 200)
  t.equal(me.json().userid, 'bob')

  const error = await rejected(appWith(t, fromEnv({
    JWT_PRIVATE_KEY: encrypted,
    JWT_PRIVATE_KEY_PASSPHRASE: 'wrong',
    JWT_ALGORITHM: 'EdDSA'
  })))
  t.match(error, { code: 'FST_JWT_SECURITY_INVALID_KEY', message: /"privateKey"/ }, 'key errors come at register, naming the option')
})

tap.test('checks that need the keys or the whole configuration come at register, naming the option', async (t) => {
  t.match(await rejected(appWith(t, fromSettings({ 'jwt.private_key': 'secret' }))), {
    code: 'FST_JWT_SECURITY_WEAK_SECRET', message: /"secret"/
  })
  t.match(await rejected(appWith(t, fromSettings({ 'jwt.private_key': SECRET, 'jwt.cookie_name': 'sid', 'jwt.cookie_reissue_time': '2h' }))), {
    code: INVALID_OPTION, message: /"reissueTime": must be shorter than expiresIn \(3600 s\)/
  })
})

tap.test('an error that names no setting surfaces unchanged', async (t) => {
  const failure = new Error('not an option error')
  const { fromSettings: mocked } = await t.mockImport<typeof import('../../lib/config/settings.js')>('../../lib/config/settings.js', {
    '../../lib/policies/header-policy.js': { JwtHeaderPolicy: class { constructor () { throw failure } } }
  })
  t.equal(caught(() => mocked({})), failure)
})

tap.test('header settings beside cookie settings are ignored, as pyramid_jwt\'s cookie policy ignores them, with one info line', async (t) => {
  const lines: string[] = []
  const log = { info (message: string) { lines.push(message) } }
  const options = fromSettings({
    'jwt.private_key': SECRET,
    'jwt.http_header': 'Authorization',
    'jwt.auth_type': 'Bearer',
    'jwt.cookie_name': 'session',
    'jwt.cookie_reissue_time': '900'
  }, { log })
  t.strictSame(Object.keys(options).sort(), ['policy', 'secret'])
  t.ok(options.policy instanceof JwtCookiePolicy)
  t.match(options.policy, { cookieName: 'session', reissueTime: 900 })
  t.strictSame(lines, [
    'jwt.http_header and jwt.auth_type ignored: jwt.cookie_name selects the cookie policy, which reads no header (as pyramid_jwt\'s)'
  ])

  const env: string[] = []
  const fromEnvironment = fromEnv({ JWT_AUTH_TYPE: 'JWT', JWT_COOKIE_PATH: '/' }, { log: { info: (message) => env.push(message) } })
  t.ok(fromEnvironment.policy instanceof JwtCookiePolicy)
  t.strictSame(env, ['JWT_AUTH_TYPE ignored: JWT_COOKIE_PATH selects the cookie policy, which reads no header (as pyramid_jwt\'s)'])

  t.ok(fromSettings({ 'jwt.auth_type': 'JWT', 'jwt.cookie_name': 'session' }).policy instanceof JwtCookiePolicy, 'without a log, silently')
  fromSettings({ 'jwt.auth_type': 'Bearer' }, { log })
  fromSettings({ 'jwt.cookie_name': 'session' }, { log })
  t.equal(lines.length, 1, 'nothing to say without both kinds of settings')
  t.throws(() => fromSettings({ 'jwt.auth_type': 'JWT', 'jwt.cookie_name': 'bad name' }, { log }), { code: INVALID_OPTION })
  t.equal(lines.length, 1, 'nothing said when the settings are refused')
})

tap.test('end to end: the cookie policy built beside header settings takes the cookie, never the header', async (t) => {
  const lines: string[] = []
  const app = await appWith(t, fromSettings({
    'jwt.private_key': SECRET,
    'jwt.auth_type': 'JWT',
    'jwt.cookie_name': 'session',
    'jwt.https_only_cookie': 'false'
  }, { log: { info: (message) => lines.push(message) } }))
  t.equal(lines.length, 1)
  const token = await app.createJwtToken('alice')
  t.equal((await app.inject({ url: '/me', headers: { authorization: `JWT ${token}` } })).statusCode, 401, 'the header is not read')
  const cookie = await app.inject({ url: '/me', cookies: { session: encodePyramidCookie(token) } })
  t.equal(cookie.statusCode, 200)
  t.strictSame(cookie.json(), { userid: 'alice' })
})

tap.test('cookie_host_domain sets and clears the cookie with Domain=<the request\'s host>, as pyramid_jwt', async (t) => {
  const settings = { 'jwt.private_key': SECRET, 'jwt.cookie_name': 'session', 'jwt.https_only_cookie': 'false', 'jwt.cookie_format': 'pyramid' }
  for (const [value, domain] of [['true', 'Domain=app.example; '], ['ON', 'Domain=app.example; '], [true, 'Domain=app.example; '], ['false', ''], [false, '']] as const) {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(jwtSecurity, fromSettings({ ...settings, 'jwt.cookie_host_domain': value }))
    app.post('/login', async (request, reply) => { await reply.remember('alice'); return { ok: true } })
    app.post('/logout', async (request, reply) => { await reply.forget(); return { ok: true } })
    const headers = { host: 'app.example:8080' }
    const login = await app.inject({ method: 'POST', url: '/login', headers })
    // With hostDomain a host-only cookie left from before is cleared first: the one set has a value.
    const set = ([] as string[]).concat(login.headers['set-cookie'] ?? []).find((line) => line.startsWith('session=') && !line.startsWith('session=;')) as string
    t.match(set, new RegExp(`^session=[A-Za-z0-9_-]+=*; Max-Age=3600; ${domain}Path=/; Expires=[^;]+; HttpOnly; SameSite=Lax$`), `${String(value)}: set`)
    const logout = await app.inject({ method: 'POST', url: '/logout', headers })
    t.equal(logout.statusCode, 200)
    const cleared = ([] as string[]).concat(logout.headers['set-cookie'] ?? []).find((line) => line.startsWith('session=')) as string
    t.match(cleared, new RegExp(`^session=; Max-Age=0; ${domain}Path=/;`), `${String(value)}: cleared`)
  }
})
