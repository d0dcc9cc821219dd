// The signing micro-benchmark: ops/s of the plugin's app.createJwtToken against fast-jwt's signer
// and @fastify/jwt's app.jwt.sign, each in a fresh child process (bench/sign-worker.js), alternating
// the signers within every round.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { machineBusy } from './measure.js'

export const SIGNERS = [
  { name: 'plugin', description: 'await app.createJwtToken(\'u1\', { roles: [\'view\'] }), one at a time (jose, HS256)' },
  { name: 'plugin-64', description: 'the same with 64 calls in flight (jose signs HMAC through WebCrypto, off the main thread)' },
  { name: 'fast-jwt', description: 'createSigner({ key, algorithm: \'HS256\', expiresIn: 3600000 }), synchronous' },
  { name: 'fastify-jwt', description: '@fastify/jwt defaults, app.jwt.sign(payload) with expiresIn: \'1h\' in the registration' }
]
export const SIGN_REFERENCE = 'fast-jwt'

const worker = fileURLToPath(new URL('./sign-worker.js', import.meta.url))
const TIMEOUT_MARGIN = 60_000

/** One measurement of `name` in a fresh child: ops/s, CPU per op, and the CPU other processes used. */
export function measureSigner (name, { warmup, duration }) {
  return new Promise((resolve, reject) => {
    const child = fork(worker, [name, String(warmup * 1000), String(duration * 1000)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let machineBefore = null
    let startedAt = 0
    let result = null
    const timer = setTimeout(() => child.kill('SIGKILL'), (warmup + duration) * 1000 + TIMEOUT_MARGIN)
    child.on('message', (message) => {
      if (message?.type === 'start') {
        machineBefore = machineBusy()
        startedAt = process.hrtime.bigint()
      } else if (message?.type === 'result') {
        const wall = Number(process.hrtime.bigint() - startedAt) / 1e3
        const machineAfter = machineBusy()
        const workerCpu = message.cpuMicros / (message.seconds * 1e6)
        result = {
          signer: name,
          opsPerSec: message.ops / message.seconds,
          ops: message.ops,
          cpuPerOp: message.cpuMicros / message.ops,
          cpu: {
            worker: workerCpu,
            other: machineBefore === null || machineAfter === null ? null : Math.max(0, (machineAfter - machineBefore) / wall - workerCpu)
          }
        }
      }
    })
    child.on('error', reject)
    // 'close' comes after the IPC channel closed, so after the last message.
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (result !== null) resolve(result)
      else reject(new Error(`signing worker ${name} exited (code ${code}, signal ${signal}) without a result`))
    })
  })
}
