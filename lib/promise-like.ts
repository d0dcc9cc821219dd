/** True for a promise or any thenable. */
export function isPromiseLike (value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function'
}
