import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'

// Debian's redis-server, started for the tests on 127.0.0.1 with a free port, without persistence.
// `npm test` installs it first (scripts/system-deps.js); without it the tests fail, never skip.
const REDIS_SERVER = '/usr/bin/redis-server'

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill (): Promise<void>
  /** Starts it again on the same port. */
  start (): Promise<void>
  stop (): Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export async function startRedis (): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} is missing: install it with "apt-get update && apt-get install -y redis-server" (npm test does this when run as root)`)
  }
  const port = await freePort()
  let child: ChildProcess | null = null
  async function start (): Promise<void> {
    const started = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = started
    // Redis prints nothing at loglevel warning once ready: poll the port instead.
    for (let attempt = 0; attempt < 100; attempt++) {
      if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode}`)
      if (await accepts(port)) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error('redis-server did not start within 5 seconds')
  }
  async function kill (): Promise<void> {
    const running = child
    child = null
    if (running === null || running.exitCode !== null) return
    running.kill('SIGKILL')
    await once(running, 'exit')
  }
  await start()
  return { port, url: `redis://127.0.0.1:${port}`, kill, start, stop: kill }
}

async function accepts (port: number): Promise<boolean> {
  const { connect } = await import('node:net')
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
