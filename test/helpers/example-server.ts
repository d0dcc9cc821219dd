import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The example app's entry point, as `npm start` runs it. */
export const EXAMPLE_SERVER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'server.js')

export interface RunningExample { url: string, logs: string[], child: ChildProcess }

/** Starts the example app in its own process on a free loopback port; resolves once it listens. */
export async function startExample (env: Record<string, string> = {}): Promise<RunningExample> {
  const child = spawn(process.execPath, [EXAMPLE_SERVER], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const logs: string[] = []
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk
      const lines = buffered.split('\n')
      buffered = lines.pop() as string
      for (const line of lines) {
        logs.push(line)
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)
        if (match !== null) resolve(match[1] as string)
      }
    })
    child.once('exit', (code) => reject(new Error(`the example exited with ${code}`)))
  })
  return { url, logs, child }
}

/** Stops the example app and waits for its process to end. */
export async function stopExample ({ child }: RunningExample): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await once(child, 'exit')
}
