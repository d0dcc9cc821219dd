import { createHook } from 'node:async_hooks'

/** The promises created while `run` runs: exact, unlike a timing. */
export async function promisesDuring (run: () => Promise<unknown>): Promise<number> {
  let count = 0
  const hook = createHook({ init (_id, type) { if (type === 'PROMISE') count++ } })
  hook.enable()
  try {
    await run()
  } finally {
    hook.disable()
  }
  return count
}
