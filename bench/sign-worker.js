// One signing measurement, in a child process forked by bench/sign.js:
//   node bench/sign-worker.js <signer> <warm-up ms> <duration ms>
// Signs tokens for `sub: 'u1'` with `roles: ['view']` (and iat, exp = iat + 1 h, jti) as fast as it
// can, and sends 'start' when the measurement starts, then { ops, seconds, cpuMicros }.
import { randomBytes, randomUUID } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import { createSigner } from 'fast-jwt'
import Fastify from 'fastify'
import jwtSecurity from 'fastify-jwt-security'

// Operations between two looks at the clock.
const BATCH = 64
// Tokens in flight at once for "plugin-64".
const IN_FLIGHT = 64

async function pluginSigner () {
  const app = Fastify({ logger: false })
  await app.register(jwtSecurity, { secret: randomBytes(32), algorithm: 'HS256' })
  await app.ready()
  return () => app.createJwtToken('u1', { roles: ['view'] })
}

// Each signer: { setup () => sign, mode }. mode 'sync': sign() returns the token; 'await': one
// promise at a time; 'flight': IN_FLIGHT promises at a time.
export const SIGNERS = {
  plugin: { mode: 'await', setup: pluginSigner },
  'plugin-64': { mode: 'flight', setup: pluginSigner },
  'fast-jwt': {
    mode: 'sync',
    async setup () {
      const signer = createSigner({ key: randomBytes(32), algorithm: 'HS256', expiresIn: 3600 * 1000 })
      return () => signer({ sub: 'u1', roles: ['view'], jti: randomUUID() })
    }
  },
  'fastify-jwt': {
    mode: 'sync',
    async setup () {
      const app = Fastify({ logger: false })
      // The lifetime in the registration: per-call options make @fastify/jwt build a signer per call.
      await app.register(fastifyJwt, { secret: randomBytes(32), sign: { expiresIn: '1h' } })
      await app.ready()
      return () => app.jwt.sign({ sub: 'u1', roles: ['view'], jti: randomUUID() })
    }
  }
}

function decode (part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
}

// Every signer must make the same token: HS256, the same claims, a 1 h lifetime.
function checkToken (name, token) {
  const [header, payload] = token.split('.').slice(0, 2).map(decode)
  const claims = Object.keys(payload).sort().join(',')
  if (header.alg !== 'HS256' || claims !== 'exp,iat,jti,roles,sub' || payload.exp - payload.iat !== 3600 || payload.sub !== 'u1') {
    throw new Error(`${name} signs an unexpected token: header ${JSON.stringify(header)}, payload ${JSON.stringify(payload)}`)
  }
}

async function run (sign, mode, until) {
  let ops = 0
  while (process.hrtime.bigint() < until) {
    if (mode === 'sync') {
      for (let index = 0; index < BATCH; index++) sign()
      ops += BATCH
    } else if (mode === 'await') {
      for (let index = 0; index < BATCH; index++) await sign()
      ops += BATCH
    } else {
      await Promise.all(Array.from({ length: IN_FLIGHT }, sign))
      ops += IN_FLIGHT
    }
  }
  return ops
}

async function main () {
  const [name, warmupText, durationText] = process.argv.slice(2)
  const signer = SIGNERS[name]
  if (signer === undefined || typeof process.send !== 'function') {
    throw new Error('this is a benchmark worker: run it with `npm run bench`')
  }
  const sign = await signer.setup()
  checkToken(name, await sign())
  const ms = (text) => BigInt(Math.round(Number(text) * 1e6))
  await run(sign, signer.mode, process.hrtime.bigint() + ms(warmupText))
  process.send({ type: 'start' })
  const cpuBefore = process.cpuUsage()
  const started = process.hrtime.bigint()
  const ops = await run(sign, signer.mode, started + ms(durationText))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const cpu = process.cpuUsage(cpuBefore)
  process.send({ type: 'result', ops, seconds, cpuMicros: cpu.user + cpu.system }, () => process.exit(0))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
