// FJS_SKIP_SYSTEM_TESTS=redis,browser: the contributor's explicit opt-out of the tests that need
// Debian's redis-server or Chromium (scripts/system-tests.js holds the list). A test file that
// imports this helper skips those tests itself, with a reason the report shows; scripts/tap.js
// leaves out the other files that need the program, and names them.
export type SystemName = 'redis' | 'browser'

const SYSTEMS: Record<SystemName, string> = { redis: '/usr/bin/redis-server', browser: '/usr/bin/chromium' }

/** The skip reason for a test that needs `system`, or false when it runs. */
export function systemTestSkip (system: SystemName): string | false {
  const names = (process.env.FJS_SKIP_SYSTEM_TESTS ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '')
  const unknown = names.filter((name) => !Object.hasOwn(SYSTEMS, name))
  if (unknown.length > 0) throw new Error(`FJS_SKIP_SYSTEM_TESTS: unknown ${unknown.join(', ')}; use a comma-separated list of ${Object.keys(SYSTEMS).join(', ')}`)
  return names.includes(system) ? `SKIPPED by FJS_SKIP_SYSTEM_TESTS=${system} (needs ${SYSTEMS[system]})` : false
}
