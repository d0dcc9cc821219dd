// A full garbage collection on demand, without starting Node with --expose-gc: the flag is set at
// run time and `gc` taken from a new context. Null where the runtime refuses it.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export const fullCollection = (() => {
  try {
    setFlagsFromString('--expose-gc')
    return runInNewContext('gc')
  } catch {
    return null
  }
})()
