import type { Test } from 'tap'

type CodedWarning = Error & { code?: string }

/** The process warnings emitted from now until the end of test `t`, in order. */
export function captureWarnings (t: Test): CodedWarning[] {
  const warnings: CodedWarning[] = []
  const onWarning = (warning: CodedWarning) => warnings.push(warning)
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  return warnings
}

/** Resolves once the warnings emitted so far have reached the listeners (Node delivers them a tick later). */
export async function warningsDelivered (): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
}
