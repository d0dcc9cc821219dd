/** The error `fn` throws; fails loudly when it throws nothing. */
export function caught (fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected a throw')
}

/** The error `promise` rejects with; fails loudly when it resolves. */
export async function rejected (promise: PromiseLike<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected a rejection')
}
