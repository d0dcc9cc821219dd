import { setFlagsFromString } from 'node:v8'

// V8's own test for "these two objects have the same hidden class (map)". Natives syntax is read
// when a function is compiled, so turning it on here, before compiling this one, is enough.
setFlagsFromString('--allow-natives-syntax')
// eslint-disable-next-line no-new-func
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean

/** Whether V8 gives `a` and `b` the same hidden class: objects built alike should, to keep property reads cached. */
export function sameHiddenClass (a: object, b: object): boolean {
  return haveSameMap(a, b)
}
