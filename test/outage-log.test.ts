import Fastify from 'fastify'
import t from 'tap'
import jwtSecurity, { type RevocationStore } from '../lib/index.js'
import { OutageLog } from '../lib/outage-log.js'
import { SECRET } from './helpers/app.js'

interface Line { level: number, msg: string, failures?: number, outageSeconds?: number, err?: { stack?: string } }

function capture () {
  const lines: Line[] = []
  const logger = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line) as Line) } } } }).log
  return { lines, logger }
}

t.test('an outage costs a line per interval with the count of failures since the last, and one line when it ends', async (t) => {
  const { lines, logger } = capture()
  const outage = new OutageLog('error', 50)
  t.equal(outage.active, false)
  outage.recovered(logger, 'back')
  t.same(lines, [], 'no outage, nothing to say')
  for (let index = 0; index < 100; index++) outage.failed(logger, new Error('ECONNREFUSED'), 'down')
  t.equal(outage.active, true)
  t.equal(lines.length, 1, '100 failures at once: one line')
  t.match(lines[0], { level: 50, msg: 'down', failures: 1, outageSeconds: 0, err: { message: 'ECONNREFUSED' } })
  await new Promise((resolve) => setTimeout(resolve, 60))
  outage.failed(logger, new Error('ECONNREFUSED'), 'down')
  t.equal(lines.length, 2)
  t.match(lines[1], { level: 50, failures: 100 }, 'the next line counts the 99 failures it did not log, and its own')
  outage.recovered(logger, 'back')
  t.match(lines[2], { level: 40, msg: 'back', failures: 101 })
  t.equal(outage.active, false)
  new OutageLog('warn').failed(logger, new Error('x'), 'a warning')
  t.match(lines[3], { level: 40, msg: 'a warning' })
})

t.test('a revocation store that is down: 503 with Retry-After for every request, a handful of log lines, no stack per request', async (t) => {
  let down = true
  const store: RevocationStore = {
    isRevoked: async () => { if (down) throw new Error('connect ECONNREFUSED 127.0.0.1:6379'); return false },
    revokeToken: () => {},
    revokeSession: () => {},
    revokeAllFor: () => {}
  }
  const lines: Line[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line) as Line) } } } })
  t.teardown(() => app.close())
  await app.register(jwtSecurity, { secret: SECRET, revocation: store })
  app.get('/me', { config: { permission: 'system.Authenticated' } }, async (request) => request.authenticatedUserid)
  const token = await app.createJwtToken('alice')
  const responses = await Promise.all(Array.from({ length: 200 }, () => app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })))
  t.same(new Set(responses.map((response) => response.statusCode)), new Set([503]))
  t.same(new Set(responses.map((response) => response.headers['retry-after'])), new Set(['5']))
  t.same(responses[0]?.json(), { statusCode: 503, code: 'FST_JWT_SECURITY_REVOCATION_UNAVAILABLE', error: 'Service Unavailable', message: 'Credentials cannot be checked right now, try again later' })
  const loud = lines.filter((line) => line.level >= 40)
  t.equal(loud.length, 1, `200 requests during the outage: ${loud.length} line at warn or above`)
  t.equal(lines.filter((line) => line.err?.stack !== undefined).length, 1, 'one stack: the store\'s error, once')
  down = false
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  t.match(lines.filter((line) => line.level >= 40).at(-1), { level: 40, msg: 'the revocation store answers again', failures: 200 })
})
