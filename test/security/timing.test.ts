import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import t from 'tap'
import { buildKeyRing } from '../../lib/keys/key-ring.js'
import { TokenService } from '../../lib/tokens/tokens.js'
import jwtSecurity, { JwtCookiePolicy } from '../../lib/index.js'

// G5: checking an invalid token must not be measurably faster when it is "almost right". The
// signature is compared by jose (WebCrypto's verify), the CSRF token with timingSafeEqual; nothing
// of the plugin's own returns early on secret data. Each kind of input is timed in turns, many
// times, and the medians are compared with a margin wide enough for a shared machine.

const ROUNDS = 1500
const MARGIN = 0.25

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

async function timeInTurns (inputs: Record<string, () => Promise<unknown>>): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(inputs).map((name) => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(inputs)) {
      const started = process.hrtime.bigint()
      await run()
      ;(samples[name] as number[]).push(Number(process.hrtime.bigint() - started))
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values.slice(ROUNDS / 10))]))
}

function flip (token: string, index: number): string {
  const signature = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url')
  signature[index] = (signature[index] as number) ^ 0x01
  return `${token.slice(0, token.lastIndexOf('.') + 1)}${signature.toString('base64url')}`
}

t.test('G5 a signature wrong in its last byte is refused no faster than one wrong in its first byte or at random', async (t) => {
  const keys = await buildKeyRing({ algorithm: 'HS256', secret: randomBytes(32), privateKey: undefined, publicKey: undefined, passphrase: undefined, keys: undefined, jwks: undefined }, Fastify().log)
  const tokens = new TokenService({ keys, issuers: [], ownKeys: true, expiresIn: 3600, audience: undefined, issuer: undefined, leeway: 0, maxTokenAge: undefined, typ: undefined, maxTokenLength: 8192, encodeClaim: null, now: null, cache: null, dpop: null })
  const genuine = await tokens.sign('alice')
  const refuse = (token: string) => async () => { await tokens.verify(token).then(() => { throw new Error('accepted') }, () => {}) }
  const lastByte = flip(genuine, 31)
  const firstByte = flip(genuine, 0)
  const random = `${genuine.slice(0, genuine.lastIndexOf('.') + 1)}${randomBytes(32).toString('base64url')}`
  const medians = await timeInTurns({ lastByte: refuse(lastByte), firstByte: refuse(firstByte), random: refuse(random) })
  t.comment(`median ns: ${JSON.stringify(medians)}`)
  const almostRight = medians.lastByte as number
  for (const other of ['firstByte', 'random']) {
    t.ok(almostRight >= (medians[other] as number) * (1 - MARGIN), `almost right (${almostRight} ns) is not faster than ${other} (${medians[other]} ns)`)
  }
})

t.test('G5 a CSRF token wrong in its last character is refused no faster than one wrong in its first', async (t) => {
  const app = Fastify()
  await app.register(jwtSecurity, { secret: randomBytes(64), expiresIn: '1h', policy: new JwtCookiePolicy({ cookieName: 'session', secure: false }) })
  app.post('/session', async (request, reply) => { await reply.remember('alice'); return 'ok' })
  app.post('/edit', async () => 'edited')
  t.teardown(() => app.close())
  const login = await app.inject({ method: 'POST', url: '/session' })
  const session = login.cookies.find((cookie) => cookie.name === 'session')?.value as string
  const csrf = login.cookies.find((cookie) => cookie.name === 'session-csrf')?.value as string
  const send = (token: string) => async () => {
    const response = await app.inject({ method: 'POST', url: '/edit', cookies: { session }, headers: { 'x-csrf-token': token, host: 'localhost', origin: 'http://localhost' } })
    if (response.statusCode !== 403) throw new Error(`expected 403, got ${response.statusCode}`)
  }
  const change = (index: number) => `${csrf.slice(0, index)}${csrf[index] === 'A' ? 'B' : 'A'}${csrf.slice(index + 1)}`
  const medians = await timeInTurns({ lastCharacter: send(change(csrf.length - 1)), firstCharacter: send(change(0)) })
  t.comment(`median ns: ${JSON.stringify(medians)}`)
  t.ok((medians.lastCharacter as number) >= (medians.firstCharacter as number) * (1 - MARGIN), 'almost right is not faster')
  t.equal((await app.inject({ method: 'POST', url: '/edit', cookies: { session }, headers: { 'x-csrf-token': csrf, host: 'localhost', origin: 'http://localhost' } })).statusCode, 200, 'the right token passes')
})
