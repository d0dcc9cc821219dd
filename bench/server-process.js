// Starts a contender's server in a child process and talks to it over IPC.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const READY_TIMEOUT = 60_000
const STATS_TIMEOUT = 10_000
const EXIT_TIMEOUT = 5_000

export class ServerProcess {
  #child
  #exited

  constructor (child) {
    this.#child = child
    this.#exited = once(child, 'exit')
  }

  get pid () {
    return this.#child.pid
  }

  /** Forks bench/servers/<name>.js, with `env` added to its environment and `execArgv` given to Node, and waits for `{ port, pool, details }`. */
  static async start (name, env = {}, execArgv = []) {
    const script = fileURLToPath(new URL(`./servers/${name}.js`, import.meta.url))
    const child = fork(script, [], { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const server = new ServerProcess(child)
    try {
      const ready = await server.#receive('ready', READY_TIMEOUT)
      server.port = ready.port
      server.pool = ready.pool
      server.details = ready.details ?? null
      return server
    } catch (error) {
      await server.stop()
      throw new Error(`server ${name} did not start: ${error.message}`)
    }
  }

  /** CPU time (microseconds, all threads), the part of it spent in the kernel, and RSS of the child. */
  async stats () {
    this.#child.send({ type: 'stats' })
    const { cpu, rss } = await this.#receive('stats', STATS_TIMEOUT)
    return { cpu: cpu.user + cpu.system, system: cpu.system, rss }
  }

  /** Kills the child and waits for it to exit. */
  /** Closes the IPC channel: the server exits by itself (and writes its --cpu-prof profile). */
  async disconnect () {
    const child = this.#child
    if (child.exitCode !== null || child.signalCode !== null) return
    child.disconnect()
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT)
    await this.#exited
    clearTimeout(timer)
  }

  async stop () {
    const child = this.#child
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT)
    await this.#exited
    clearTimeout(timer)
  }

  #receive (type, timeout) {
    const child = this.#child
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer)
        child.off('message', onMessage)
        child.off('exit', onExit)
      }
      const onMessage = (message) => {
        if (message?.type !== type) return
        cleanup()
        resolve(message)
      }
      const onExit = (code, signal) => {
        cleanup()
        reject(new Error(`the child exited (code ${code}, signal ${signal}) before sending "${type}"`))
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`no "${type}" message after ${timeout} ms`))
      }, timeout)
      child.on('message', onMessage)
      child.on('exit', onExit)
    })
  }
}
