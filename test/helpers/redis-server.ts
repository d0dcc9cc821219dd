import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Debian's redis-server, started for the tests on 127.0.0.1 with a free port, without persistence
// unless asked, in a directory of its own that stop() removes. `npm test` installs it first
// (scripts/system-deps.js); without it the tests fail, never skip.
const REDIS_SERVER = '/usr/bin/redis-server'

/** What Redis keeps across a restart: nothing (the default), an append-only file, or RDB snapshots. */
export type RedisPersistence = 'none' | 'aof' | 'rdb'

const PERSISTENCE_ARGS: Record<RedisPersistence, string[]> = {
  none: ['--save', '', '--appendonly', 'no'],
  // fsync on every write: a SIGKILL right after a reply loses nothing, whatever the disk.
  aof: ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'],
  rdb: ['--save', '3600 1', '--appendonly', 'no']
}

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill (): Promise<void>
  /** Starts it again on the same port, with the same directory (and so the same data when persistent). */
  start (): Promise<void>
  /** Kills the server and removes its directory. */
  stop (): Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export async function startRedis ({ persistence = 'none' }: { persistence?: RedisPersistence } = {}): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} is missing: install it with "apt-get update && apt-get install -y redis-server" (npm test does this when run as root), or skip the tests that need it with FJS_SKIP_SYSTEM_TESTS=redis`)
  }
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'fastify-jwt-security-redis-'))
  let child: ChildProcess | null = null
  async function start (): Promise<void> {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...PERSISTENCE_ARGS[persistence], '--loglevel', 'warning']
    const started = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
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
    if (running === null || running.exitCode !== null || running.signalCode !== null) return
    running.kill('SIGKILL')
    await once(running, 'exit')
  }
  async function stop (): Promise<void> {
    await kill()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await start()
  } catch (error) {
    await stop()
    throw error
  }
  return { port, url: `redis://127.0.0.1:${port}`, kill, start, stop }
}

async function accepts (port: number): Promise<boolean> {
  const { connect } = await import('node:net')
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
