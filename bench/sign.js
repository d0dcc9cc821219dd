// The signing benchmark: ops/s of the plugin's app.createJwtToken against fast-jwt's signer (the
// one @fastify/jwt uses) and @fastify/jwt's app.jwt.sign, each measured in a fresh child process
// (`node bench/sign.js <signer> <warm-up s> <duration s>`), every signer the same token: HS256,
// sub, roles, jti, iat and exp = iat + 1 h.
import { fork } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { machineBusy } from './measure.js'

export const SIGN_REFERENCE = 'fast-jwt'

// Each returns sign(): a token, or a promise of one (then awaited one at a time).
const signers = {
  async plugin () {
    const { default: Fastify } = await import('fastify')
    const { default: jwtSecurity } = await import('fastify-jwt-security')
    const app = Fastify({ logger: false })
    await app.register(jwtSecurity, { secret: randomBytes(32), algorithm: 'HS256' })
    await app.ready()
    return () => app.createJwtToken('u1', { roles: ['view'] })
  },
  async 'fast-jwt' () {
    const { createSigner } = await import('fast-jwt')
    const signer = createSigner({ key: randomBytes(32), algorithm: 'HS256', expiresIn: 3600 * 1000 })
    return () => signer({ sub: 'u1', roles: ['view'], jti: randomUUID() })
  },
  async 'fastify-jwt' () {
    const { default: Fastify } = await import('fastify')
    const { default: fastifyJwt } = await import('@fastify/jwt')
    const app = Fastify({ logger: false })
    // The lifetime in the registration: per-call options make @fastify/jwt build a signer per call.
    await app.register(fastifyJwt, { secret: randomBytes(32), sign: { expiresIn: '1h' } })
    await app.ready()
    return () => app.jwt.sign({ sub: 'u1', roles: ['view'], jti: randomUUID() })
  }
}
export const SIGNERS = Object.keys(signers)

/** One measurement in a fresh child: ops/s, CPU time per token, and the CPU (cores) other processes used. */
export function measureSigner (name, { warmup, duration }) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [name, String(warmup), String(duration)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let before = null
    let result = null
    child.on('message', (message) => {
      if (message.type === 'start') before = { machine: machineBusy(), wall: performance.now() }
      if (message.type !== 'result') return
      const wall = (performance.now() - before.wall) * 1000
      const machine = machineBusy()
      result = {
        signer: name,
        opsPerSec: message.ops / message.seconds,
        cpuPerOp: message.cpuMicros / message.ops,
        other: machine === null ? null : Math.max(0, machine - before.machine - message.cpuMicros) / wall
      }
    })
    child.on('error', reject)
    child.on('close', (code) => result === null ? reject(new Error(`signer ${name} exited (code ${code}) without a result`)) : resolve(result))
  })
}

async function worker ([name, warmup, duration]) {
  const sign = await signers[name]()
  const first = sign()
  // A synchronous signer is not awaited: an await would add a microtask to each of its tokens.
  const sync = typeof first === 'string'
  const [header, payload] = (await first).split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url')))
  if (header.alg !== 'HS256' || Object.keys(payload).sort().join() !== 'exp,iat,jti,roles,sub' || payload.exp - payload.iat !== 3600) {
    throw new Error(`${name} signs an unexpected token: ${JSON.stringify(header)} ${JSON.stringify(payload)}`)
  }
  const run = async (seconds) => {
    let ops = 0
    const until = performance.now() + seconds * 1000
    while (performance.now() < until) {
      if (sync) for (let index = 0; index < 64; index++) sign()
      else for (let index = 0; index < 64; index++) await sign()
      ops += 64
    }
    return ops
  }
  await run(Number(warmup))
  process.send({ type: 'start' })
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const ops = await run(Number(duration))
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  process.send({ type: 'result', ops, seconds, cpuMicros: cpu.user + cpu.system }, () => process.exit(0))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await worker(process.argv.slice(2))
