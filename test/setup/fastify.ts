// What `import Fastify from 'fastify'` gives test and library files under the log capture
// (./log-capture.ts redirects the import here): the real factory, plus, on every instance,
// - a pino logger at level trace whose every line is kept by the capture; the test's own logger
//   settings (stream, level) still decide what the test's stream receives and what
//   `log.level` / `log.isLevelEnabled()` answer, so no test sees a difference;
// - hooks and wrappers that record the sensitive values the instance handles: Authorization and
//   Cookie request headers and each cookie, Set-Cookie values, the tokens its `*Token` decorators
//   return, and the secrets and private keys in the options of every plugin registered on it.
import { createRequire } from 'node:module'
import realFastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import {
  captureLine, recordAuthorizationHeader, recordCookieHeader, recordOptions, recordSetCookie, recordToken
} from './capture.js'

interface PinoLogger {
  levels: { values: Record<string, number>, labels: Record<number, string> }
  child: (...args: unknown[]) => PinoLogger
}

/** What pino sets on a stream marked with Symbol.for('pino.metadata') before each write. */
interface TeeStream {
  lastLevel: number
  lastLogger: PinoLogger | undefined
  lastObj: unknown
  lastMsg: unknown
  lastTime: unknown
  write: (line: string) => void
  flush: (callback?: (error?: Error) => void) => void
}

type UserStream = { write: (line: string) => unknown } & Partial<Record<symbol | string, unknown>>

const METADATA = Symbol.for('pino.metadata')
// The pino Fastify itself uses, for its internal symbols.
const pino = createRequire(createRequire(import.meta.url).resolve('fastify'))('pino') as { symbols: Record<string, symbol> }
const SET_LEVEL = pino.symbols.setLevelSym as symbol
const TRACE = 10
// LOG_CAPTURE_ALL_LEVELS=1: isLevelEnabled() says yes down to trace on every instance, so that code
// that logs more when debug is on (the plugin's description of a refused token) runs everywhere.
// Off by default: it changes what the code under test does in tests that log at info or not at all.
const ALL_LEVELS = process.env.LOG_CAPTURE_ALL_LEVELS === '1'

/**
 * The logger options Fastify gets: the test's own, at level trace, writing to a stream that keeps
 * every line and passes on to the test's stream what the test's level lets through. Null when the
 * logger cannot be teed (a file, a transport, an instance): it is then left as the test made it.
 */
function teeLogger (logger: unknown): { options: Record<string | symbol, unknown>, level: string } | null {
  let user: UserStream | null
  let level: string
  let rest: Record<string | symbol, unknown> = {}
  if (logger === undefined || logger === null || logger === false) {
    // No logger: the lines go only to the capture, and the instance answers as a silent one.
    user = null
    level = 'silent'
  } else if (logger === true) {
    user = process.stdout as unknown as UserStream
    level = 'info'
  } else if (Object.prototype.toString.call(logger) === '[object Object]') {
    const { stream, level: wanted, ...others } = logger as Record<string | symbol, unknown>
    if (others.file !== undefined || others.transport !== undefined) return null
    user = (stream ?? process.stdout) as unknown as UserStream
    level = typeof wanted === 'string' && wanted !== '' ? wanted : 'info'
    rest = others
  } else {
    return null
  }
  const tee: TeeStream = {
    lastLevel: 0,
    lastLogger: undefined,
    lastObj: undefined,
    lastMsg: undefined,
    lastTime: undefined,
    write (line: string) {
      captureLine(line)
      if (user === null || this.lastLogger === undefined || this.lastLevel < wantedLevel(this.lastLogger)) return
      if (user[METADATA] === true) {
        Object.assign(user, { lastLevel: this.lastLevel, lastLogger: this.lastLogger, lastObj: this.lastObj, lastMsg: this.lastMsg, lastTime: this.lastTime })
      }
      user.write(line)
    },
    flush (callback?: (error?: Error) => void) {
      if (typeof user?.flush === 'function') (user.flush as (callback?: (error?: Error) => void) => void)(callback)
      else callback?.()
    }
  }
  Object.defineProperty(tee, METADATA, { value: true })
  return { options: { ...rest, level: 'trace', stream: tee }, level }
}

/** The level each logger was asked for (a child without its own inherits its parent's). */
const wantedLevels = new WeakMap<object, number>()

function wantedLevel (logger: object): number {
  for (let current: object | null = logger; current !== null; current = Object.getPrototypeOf(current) as object | null) {
    const level = wantedLevels.get(current)
    if (level !== undefined) return level
  }
  return Number.POSITIVE_INFINITY
}

function levelValue (logger: PinoLogger, level: unknown): number {
  const value = typeof level === 'number' ? (logger.levels.labels[level] === undefined ? undefined : level) : logger.levels.values[String(level)]
  if (value === undefined) throw new Error(`unknown level ${String(level)}`)
  return value
}

/**
 * The root logger (and so its children, made with Object.create) keeps its real level, trace, but
 * answers `level`, `levelVal` and `isLevelEnabled()` with the level the test asked for, and
 * setting the level (`log.level = 'silent'`, a route's logLevel) changes only that answer.
 */
function pretendLevel (root: PinoLogger, level: string): void {
  wantedLevels.set(root, levelValue(root, level))
  Object.defineProperties(root, {
    [SET_LEVEL]: {
      configurable: true,
      writable: true,
      value: function setLevel (this: PinoLogger, wanted: unknown) { wantedLevels.set(this, levelValue(this, wanted)) }
    },
    levelVal: { configurable: true, get (this: PinoLogger) { return wantedLevel(this) } },
    isLevelEnabled: {
      configurable: true,
      writable: true,
      value: function isLevelEnabled (this: PinoLogger, label: string) {
        const value = this.levels.values[label]
        return value !== undefined && value >= (ALL_LEVELS ? TRACE : wantedLevel(this))
      }
    }
  })
}

// The route's pattern, never the URL: a URL can hold a token, and the report must not print one.
function where (request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? '(no route)'}`
}

/** Hooks and wrappers that record what the instance handles; children inherit them. */
function instrument (app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const raw = request.raw.rawHeaders ?? []
    const pairs: Array<[string, unknown]> = []
    for (let index = 0; index + 1 < raw.length; index += 2) pairs.push([raw[index] as string, raw[index + 1]])
    for (const name of ['authorization', 'proxy-authorization', 'cookie']) pairs.push([name, request.headers[name]])
    for (const [name, value] of pairs) {
      const lower = name.toLowerCase()
      for (const item of Array.isArray(value) ? value : [value]) {
        if (typeof item !== 'string') continue
        if (lower === 'cookie') recordCookieHeader(item, where(request))
        else if (lower === 'authorization' || lower === 'proxy-authorization') recordAuthorizationHeader(name, item, where(request))
      }
    }
    done()
  })
  // onResponse: @fastify/cookie writes Set-Cookie in its own onSend hook, which runs after any added here.
  app.addHook('onResponse', (request, reply, done) => {
    recordSetCookie(reply.getHeader('set-cookie'), where(request))
    done()
  })
  const target = app as unknown as Record<string, (...args: unknown[]) => unknown>
  const register = target.register as (...args: unknown[]) => unknown
  target.register = function (this: unknown, plugin: unknown, options?: unknown, ...rest: unknown[]) {
    const name = typeof plugin === 'function' && plugin.name !== '' ? plugin.name : 'a plugin'
    const label = `${name} options`
    let recorded = options
    if (typeof options === 'function') {
      recorded = function (this: unknown, ...args: unknown[]) {
        const resolved = (options as (...args: unknown[]) => unknown).apply(this, args)
        recordOptions(resolved, label)
        return resolved
      }
    } else {
      recordOptions(options, label)
    }
    return register.call(this, plugin, recorded, ...rest)
  }
  for (const method of ['decorate', 'decorateRequest', 'decorateReply']) {
    const decorate = target[method] as (...args: unknown[]) => unknown
    target[method] = function (this: unknown, name: unknown, value: unknown, ...rest: unknown[]) {
      const wrapped = typeof value === 'function' && typeof name === 'string' && /token/i.test(name)
        ? recordingResults(value as (...args: unknown[]) => unknown, `result of ${name}`)
        : value
      return decorate.call(this, name, wrapped, ...rest)
    }
  }
}

/** A token-making function that records the strings it returns (or resolves to). */
function recordingResults (fn: (...args: unknown[]) => unknown, label: string): (...args: unknown[]) => unknown {
  return function (this: unknown, ...args: unknown[]) {
    const result = fn.apply(this, args)
    if (typeof result === 'string') {
      recordToken(result, label)
    } else if (result instanceof Promise) {
      return result.then((value: unknown) => {
        if (typeof value === 'string') recordToken(value, label)
        return value
      })
    }
    return result
  }
}

const fastify = function fastify (options?: Record<string, unknown>) {
  const given = options ?? {}
  recordOptions(given, 'Fastify options')
  const teed = given.loggerInstance === undefined ? teeLogger(given.logger) : null
  const app = realFastify((teed === null ? given : { ...given, logger: teed.options }) as Parameters<typeof realFastify>[0])
  if (teed !== null) pretendLevel(app.log as unknown as PinoLogger, teed.level)
  instrument(app as unknown as FastifyInstance)
  return app
} as unknown as typeof realFastify

for (const [name, value] of Object.entries(realFastify)) {
  if (name !== 'default' && name !== 'fastify') Object.assign(fastify, { [name]: value })
}
Object.assign(fastify, { default: fastify, fastify })

// The named exports of fastify 5 (`export *` cannot re-export an `export =` module in TypeScript);
// test/log-capture.test.ts checks that this list still matches the real module.
export const errorCodes = realFastify.errorCodes
export const LogController = (realFastify as unknown as Record<string, unknown>).LogController
export default fastify
export { fastify }
