import { JwtCookiePolicy } from '../policies/cookie-policy.js'
import { toSeconds, type Duration } from './option-checks.js'
import { InvalidOptionError } from '../errors.js'
import { JwtHeaderPolicy } from '../policies/header-policy.js'
import { checkKnownOptions } from './option-checks.js'
import { ALGORITHMS, isHmac, type Algorithm } from '../keys/keys.js'
import { resolveOptions, type JwtSecurityOptions } from './options.js'

/**
 * Options of {@link fromSettings} and {@link fromEnv}.
 * @example
 * ```ts
 * import jwtSecurity, { fromEnv, type SettingsSourceOptions } from 'fastify-jwt-security'
 *
 * const source: SettingsSourceOptions = { prefix: 'API_JWT_' } // API_JWT_PRIVATE_KEY, API_JWT_EXPIRATION…
 * await app.register(jwtSecurity, fromEnv(process.env, source))
 * ```
 */
export interface SettingsSourceOptions {
  /** What every setting name starts with: `'jwt.'` for {@link fromSettings}, `'JWT_'` for {@link fromEnv}. */
  prefix?: string
  /**
   * Where to say, in one info line, which settings were read but ignored (the header settings
   * beside cookie settings). Any logger with an `info(message)` method: `app.log`, `console`.
   * Default: none, and nothing is said.
   */
  log?: { info: (message: string) => void }
}

type Scalar = string | number | boolean
type Coerce = (key: string, value: Scalar) => unknown
type Target = 'plugin' | 'header' | 'cookie'

interface Setting {
  /** A plugin option, or an option of the policy the transport settings build. */
  readonly target: Target
  readonly option: string
  /**
   * The option under an HS* algorithm, when it differs: pyramid_jwt signs HS* tokens with
   * private_key as the shared secret. null: the setting makes no sense with a shared secret.
   */
  readonly hmacOption?: string | null
  readonly coerce: Coerce
}

const ALGORITHM_LIST = [...ALGORITHMS].join(', ')
const WHOLE_SECONDS = /^\d{1,15}$/
const AUDIENCE_SEPARATORS = /[\s,]+/
// Pyramid's asbool truthy spellings; the falsy ones are spelled out too, so that a typo such as
// "ture" is an error rather than a silent false.
const TRUE_WORDS: ReadonlySet<string> = new Set(['true', 'yes', 'on', 'y', 't', '1'])
const FALSE_WORDS: ReadonlySet<string> = new Set(['false', 'no', 'off', 'n', 'f', '0'])
// The messages of InvalidOptionError (lib/errors.ts). Any other message matches too, with no
// option name, so that an unexpected error is rethrown unchanged.
const OPTION_ERROR = /^(?:Invalid option "([^"]*)": )?([\s\S]*)$/
const SOURCE_OPTION_NAMES: ReadonlySet<string> = new Set(['prefix', 'log'])

function text (key: string, value: Scalar): string {
  if (typeof value === 'string' && value !== '') return value
  throw new InvalidOptionError(key, 'expected a non-empty string')
}

// Environment variables cannot hold newlines easily, so PEM keys often arrive with "\n" escapes.
function pem (key: string, value: Scalar): string {
  const body = text(key, value)
  return body.startsWith('-----BEGIN') ? body.replaceAll('\\n', '\n').trim() : body
}

function algorithm (key: string, value: Scalar): Algorithm {
  if (typeof value === 'string' && ALGORITHMS.has(value)) return value as Algorithm
  throw new InvalidOptionError(key, `expected one of ${ALGORITHM_LIST}`)
}

function duration (key: string, value: Scalar): Duration {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value
    throw new InvalidOptionError(key, 'expected a whole number of seconds, 0 or more')
  }
  if (typeof value === 'string' && WHOLE_SECONDS.test(value)) return Number(value)
  // A duration string such as '15m' passes; anything else throws, naming the key.
  toSeconds(key, value)
  return value as string
}

function boolean (key: string, value: Scalar): boolean {
  if (typeof value === 'boolean') return value
  if (typeof value === 'string') {
    const word = value.toLowerCase()
    if (TRUE_WORDS.has(word)) return true
    if (FALSE_WORDS.has(word)) return false
  }
  throw new InvalidOptionError(key, 'expected a boolean: true/false, yes/no, on/off, y/n, t/f or 1/0')
}

// jwt.audiences, not a pyramid_jwt setting: Pyramid's aslist splits on whitespace; commas are
// accepted too, as people write them. (pyramid_jwt hands jwt.audience to PyJWT as one string.)
function audiences (key: string, value: Scalar): string[] {
  const items = typeof value === 'string' ? value.split(AUDIENCE_SEPARATORS).filter((item) => item !== '') : []
  if (items.length === 0) throw new InvalidOptionError(key, 'expected audiences separated by spaces or commas')
  return items
}

// WebOb, which sets pyramid_jwt's cookie, accepts these in any case.
function sameSite (key: string, value: Scalar): 'lax' | 'strict' | 'none' {
  const word = typeof value === 'string' ? value.toLowerCase() : ''
  if (word === 'lax' || word === 'strict' || word === 'none') return word
  throw new InvalidOptionError(key, 'expected Lax, Strict or None')
}

function cookieFormat (key: string, value: Scalar): 'jwt' | 'pyramid' {
  if (value === 'jwt' || value === 'pyramid') return value
  throw new InvalidOptionError(key, "expected 'jwt' or 'pyramid'")
}

// One table for fromSettings and fromEnv, so that the two sources cannot drift apart.
const SETTINGS: ReadonlyMap<string, Setting> = new Map(Object.entries({
  private_key: { target: 'plugin', option: 'privateKey', hmacOption: 'secret', coerce: pem },
  public_key: { target: 'plugin', option: 'publicKey', hmacOption: null, coerce: pem },
  private_key_passphrase: { target: 'plugin', option: 'passphrase', hmacOption: null, coerce: text },
  algorithm: { target: 'plugin', option: 'algorithm', coerce: algorithm },
  expiration: { target: 'plugin', option: 'expiresIn', coerce: duration },
  leeway: { target: 'plugin', option: 'leeway', coerce: duration },
  audience: { target: 'plugin', option: 'audience', coerce: text },
  audiences: { target: 'plugin', option: 'audience', coerce: audiences },
  http_header: { target: 'header', option: 'header', coerce: text },
  auth_type: { target: 'header', option: 'authType', coerce: text },
  cookie_name: { target: 'cookie', option: 'cookieName', coerce: text },
  cookie_path: { target: 'cookie', option: 'path', coerce: text },
  cookie_host_domain: { target: 'cookie', option: 'hostDomain', coerce: boolean },
  https_only_cookie: { target: 'cookie', option: 'secure', coerce: boolean },
  samesite: { target: 'cookie', option: 'sameSite', coerce: sameSite },
  cookie_reissue_time: { target: 'cookie', option: 'reissueTime', coerce: duration },
  cookie_format: { target: 'cookie', option: 'cookieFormat', coerce: cookieFormat }
} satisfies Record<string, Setting>))

/**
 * The supported setting names, without prefix: `jwt.<name>` in settings, `JWT_<NAME>` in the environment.
 * @example
 * ```ts
 * import { SETTING_NAMES } from 'fastify-jwt-security'
 *
 * // For a deployment checklist: JWT_PRIVATE_KEY, JWT_PUBLIC_KEY, …
 * console.log(SETTING_NAMES.map((name) => `JWT_${name.toUpperCase()}`).join('\n'))
 * ```
 */
export const SETTING_NAMES: readonly string[] = Object.freeze([...SETTINGS.keys()])

interface Found {
  /** The full setting key, as the user wrote it, to name it in errors. */
  readonly key: string
  readonly value: unknown
}

/**
 * Plugin options from pyramid_jwt's ini settings (`jwt.private_key`, `jwt.expiration`…), as
 * Pyramid's `get_settings()` or an ini parser gives them: strings are trimmed and coerced.
 * Absent settings (or `undefined` values) give no option, so the plugin's defaults apply. Only the
 * keys under `prefix` are read; an unknown one is an error, to catch typos. Cookie settings build
 * a cookie policy, which ignores `http_header` and `auth_type` as pyramid_jwt's does (saying so in
 * one info line to `options.log`). docs/settings.md lists every setting and how its default differs
 * from pyramid_jwt's.
 * @throws `FST_JWT_SECURITY_INVALID_OPTION` naming the setting key, for any bad value.
 * @example
 * ```ts
 * import jwtSecurity, { fromSettings } from 'fastify-jwt-security'
 *
 * await app.register(jwtSecurity, fromSettings({ 'jwt.private_key': process.env.JWT_PRIVATE_KEY, 'jwt.expiration': '3600' }))
 * ```
 */
export function fromSettings (settings: Record<string, unknown>, options: SettingsSourceOptions = {}): JwtSecurityOptions {
  const { prefix, log } = sourceOptions(options, 'jwt.')
  checkSource('settings', settings)
  const found = new Map<string, Found>()
  for (const [key, value] of Object.entries(settings)) {
    if (!key.startsWith(prefix)) continue
    const name = key.slice(prefix.length)
    if (!SETTINGS.has(name)) throw new InvalidOptionError(key, `unknown setting; the known ones are ${prefix}${SETTING_NAMES.join(`, ${prefix}`)}`)
    if (value !== undefined) found.set(name, { key, value })
  }
  return toOptions(found, log)
}

/**
 * Plugin options from environment variables (`JWT_PRIVATE_KEY`, `JWT_EXPIRATION`…), with the
 * coercions of {@link fromSettings}. The environment is shared with other software, so unknown
 * `JWT_*` variables are ignored, and empty ones count as absent.
 * @throws `FST_JWT_SECURITY_INVALID_OPTION` naming the variable, for any bad value.
 * @example
 * ```ts
 * import jwtSecurity, { fromEnv } from 'fastify-jwt-security'
 *
 * // The options no variable gives, such as functions, are added to the result.
 * await app.register(jwtSecurity, { ...fromEnv(), callback: findGroups })
 * ```
 */
export function fromEnv (env: Record<string, string | undefined> = process.env, options: SettingsSourceOptions = {}): JwtSecurityOptions {
  const { prefix, log } = sourceOptions(options, 'JWT_')
  checkSource('env', env)
  const found = new Map<string, Found>()
  for (const name of SETTING_NAMES) {
    const key = `${prefix}${name.toUpperCase()}`
    const value = env[key]
    if (value !== undefined && !(typeof value === 'string' && value.trim() === '')) found.set(name, { key, value })
  }
  return toOptions(found, log)
}

type Log = SettingsSourceOptions['log']

function sourceOptions (options: SettingsSourceOptions, fallback: string): { prefix: string, log: Log } {
  checkKnownOptions(options, SOURCE_OPTION_NAMES)
  const { prefix = fallback, log } = options
  if (typeof prefix !== 'string' || prefix === '') throw new InvalidOptionError('prefix', 'expected a non-empty string')
  if (log !== undefined && typeof (log as { info?: unknown } | null)?.info !== 'function') {
    throw new InvalidOptionError('log', 'expected a logger with an info method, such as app.log')
  }
  return { prefix, log }
}

function checkSource (name: string, source: unknown): void {
  if (typeof source !== 'object' || source === null || Array.isArray(source)) throw new InvalidOptionError(name, 'expected an object')
}

function toOptions (found: ReadonlyMap<string, Found>, log: Log): JwtSecurityOptions {
  const audience = found.get('audience')
  const audienceList = found.get('audiences')
  if (audience !== undefined && audienceList !== undefined) {
    throw new InvalidOptionError(audienceList.key, `cannot be combined with ${audience.key}: give one audience there, or several here`)
  }
  const values = new Map<string, unknown>()
  for (const [name, { key, value }] of found) values.set(name, (SETTINGS.get(name) as Setting).coerce(key, scalar(key, value)))
  const hmac = isHmac((values.get('algorithm') ?? 'HS512') as Algorithm)
  const groups: Record<Target, Record<string, unknown>> = { plugin: {}, header: {}, cookie: {} }
  const firstKeys: Partial<Record<Target, string>> = {}
  const headerKeys: string[] = []
  // option → the setting key it came from, for named()
  const keys = new Map<string, string>()
  for (const [name, { key }] of found) {
    const setting = SETTINGS.get(name) as Setting
    const option = hmac && setting.hmacOption !== undefined ? setting.hmacOption : setting.option
    if (option === null) {
      throw new InvalidOptionError(key, 'is only for asymmetric algorithms: an HS* algorithm signs and verifies with private_key, a shared secret')
    }
    groups[setting.target][option] = values.get(name)
    firstKeys[setting.target] ??= key
    if (setting.target === 'header') headerKeys.push(key)
    keys.set(option, key)
  }
  const options = groups.plugin as JwtSecurityOptions
  let ignored: string | null = null
  if (firstKeys.cookie !== undefined) {
    // pyramid_jwt's cookie name and value format by default: a Pyramid app configured from the
    // same ini then reads the same cookie.
    options.policy = named(keys, () => new JwtCookiePolicy({ cookieName: 'Authorization', cookieFormat: 'pyramid', ...groups.cookie }))
    // pyramid_jwt's cookie policy reads no header, whatever http_header and auth_type say; a chain
    // would accept header tokens that the Pyramid app configured from the same file refuses.
    if (headerKeys.length > 0) {
      ignored = `${headerKeys.join(' and ')} ignored: ${firstKeys.cookie} selects the cookie policy, which reads no header (as pyramid_jwt's)`
    }
  } else {
    // pyramid_jwt's default scheme, even without header settings, so that its clients'
    // "Authorization: JWT <token>" keeps working.
    options.policy = named(keys, () => new JwtHeaderPolicy({ authType: 'JWT', ...groups.header }))
  }
  // Range checks (expiration 0, leeway over 300 s…) fail here, naming the setting, not at register.
  named(keys, () => resolveOptions(options))
  if (ignored !== null) log?.info(ignored)
  return options
}

function scalar (key: string, value: unknown): Scalar {
  if (typeof value === 'string') return value.trim()
  if (typeof value === 'number' || typeof value === 'boolean') return value
  throw new InvalidOptionError(key, 'expected a string, a number or a boolean')
}

// The user wrote a setting, not an option: name the setting in errors of the policies and of
// resolveOptions, keeping the original as the cause.
function named<T> (keys: ReadonlyMap<string, string>, build: () => T): T {
  try {
    return build()
  } catch (error) {
    const [, option = '', reason] = OPTION_ERROR.exec(String((error as Error).message)) as RegExpExecArray
    const key = keys.get(option)
    throw key === undefined ? error : new InvalidOptionError(key, reason, { cause: error })
  }
}
