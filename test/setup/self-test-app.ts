// A small app the log-capture self-test (test/log-capture.test.ts) runs in a child process with the
// capture preloaded. `clean` logs nothing sensitive; `leaky` logs six sensitive lines in four ways.
// Outside tap it prints a JSON summary on stdout.
import Fastify from 'fastify'
import jwtSecurity, { JwtCookiePolicy } from '../../lib/index.js'
import { withBadSignature } from '../helpers/tokens.js'

const SECRET = 'self-test-secret-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ'
const summary: Record<string, unknown> = {}

/** No logger, as in most tests: the lines go to the capture only. */
async function withoutLogger (leak: boolean): Promise<void> {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: SECRET })
  app.get('/', async (request) => {
    if (leak) request.log.info({ auth: request.headers.authorization }, 'the request authorizes with')
    else request.log.info({ user: request.authenticatedUserid, failure: request.authFailure }, 'hello')
    return { userid: request.authenticatedUserid }
  })
  const token = await app.createJwtToken('alice')
  const accepted = await app.inject({ url: '/', headers: { authorization: `Bearer ${token}` } })
  // A refused token: the plugin's debug line names it without the token.
  const refused = await app.inject({ url: '/', headers: { authorization: `Bearer ${withBadSignature(token)}` } })
  // pino escapes the quote and the backslash: the capture looks for the escaped form too.
  if (leak) await app.inject({ url: '/', headers: { authorization: 'Bearer quote"and\\backslash-0123456789' } })
  summary.statuses = [accepted.statusCode, refused.statusCode]
  await app.close()
}

/** A test's own logger at warn: its stream must get nothing more and the instance must still say warn. */
async function ownStream (): Promise<void> {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  const policy = new JwtCookiePolicy({ cookieName: 'session', secure: false, csrf: false })
  await app.register(jwtSecurity, { secret: SECRET, policy })
  app.post('/login', async (request, reply) => {
    await reply.remember('alice')
    return { ok: true }
  })
  app.get('/', async (request) => {
    request.log.debug({ cookies: request.headers.cookie }, 'cookies')
    request.log.warn('a warning the test asserts on')
    summary.debugEnabled = (request.log as typeof request.log & { isLevelEnabled: (level: string) => boolean }).isLevelEnabled('debug')
    return { userid: request.authenticatedUserid }
  })
  const login = await app.inject({ method: 'POST', url: '/login' })
  const session = login.cookies.find((cookie) => cookie.name === 'session')?.value as string
  await app.inject({ url: '/', cookies: { session } })
  summary.level = app.log.level
  summary.ownLines = lines.map((line) => (JSON.parse(line) as { msg: string }).msg)
  await app.close()
}

/** A secret given to the plugin, logged in another encoding; a created token logged below the test's level. */
async function secretAndToken (): Promise<void> {
  const secret = Buffer.from(Array.from({ length: 64 }, (_, index) => (index * 37 + 11) % 256))
  const app = Fastify({ logger: { level: 'info', stream: { write: () => {} } } })
  await app.register(jwtSecurity, { secret })
  app.log.trace({ settings: { key: secret.toString('base64') } }, 'starting with')
  const token = await app.createJwtToken('alice')
  app.log.debug(`issued ${token}`)
  await app.close()
}

async function main (mode: string | undefined): Promise<void> {
  if (mode === 'clean') {
    await withoutLogger(false)
  } else if (mode === 'leaky') {
    await withoutLogger(true)
    await ownStream()
    await secretAndToken()
  } else {
    throw new Error(`unknown mode ${String(mode)}`)
  }
}

// Under tap (TAP=1) the app runs as a tap test, as the suite's files do.
const mode = process.argv[2]
if (process.env.TAP === '1') {
  const { t } = await import('tap')
  t.test(`the app, ${String(mode)}`, async () => { await main(mode) })
} else {
  await main(mode)
  process.stdout.write(`${JSON.stringify(summary)}\n`)
}
