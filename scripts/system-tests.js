// The Debian programs some test suites need, and the explicit way to run without them:
// FJS_SKIP_SYSTEM_TESTS=redis,browser (or one of the two). A skipped suite is named in the output,
// never dropped silently. Used by scripts/system-deps.js (what to install) and scripts/tap.js (what
// to leave out of the tap run).
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const SKIP_VARIABLE = 'FJS_SKIP_SYSTEM_TESTS'

/** Each system: the program the tests start, its Debian package, and how a test file shows it needs it. */
export const SYSTEMS = {
  redis: {
    program: '/usr/bin/redis-server',
    package: 'redis-server',
    for: 'the Redis revocation store tests',
    uses: /from '(?:\.\.?\/)+helpers\/redis-server\.js'/
  },
  browser: {
    program: '/usr/bin/chromium',
    package: 'chromium',
    for: 'the browser end-to-end test',
    uses: /from 'playwright-core'/
  }
}

/** The systems named in FJS_SKIP_SYSTEM_TESTS; an unknown name stops with a message. */
export function skippedSystems (env = process.env) {
  const names = (env[SKIP_VARIABLE] ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '')
  const unknown = names.filter((name) => !Object.hasOwn(SYSTEMS, name))
  if (unknown.length > 0) {
    throw new Error(`${SKIP_VARIABLE}: unknown ${unknown.map((name) => `"${name}"`).join(', ')}; use a comma-separated list of ${Object.keys(SYSTEMS).join(', ')}`)
  }
  return new Set(names)
}

/** The skipped systems, for the scripts: a wrong FJS_SKIP_SYSTEM_TESTS ends the process with its message. */
export function skippedSystemsOrExit () {
  try {
    return skippedSystems()
  } catch (error) {
    console.error(error.message)
    process.exit(1)
  }
}

function testFiles (dir = join(ROOT, 'test')) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort()
}

/**
 * The test files that need `system`, split into those tap must leave out (`excluded`) and those that
 * skip their own tests that need it (`selfSkipping`: they read FJS_SKIP_SYSTEM_TESTS through
 * test/helpers/system-tests.ts).
 */
export function suitesNeeding (system) {
  const excluded = []
  const selfSkipping = []
  for (const file of testFiles()) {
    const source = readFileSync(join(ROOT, file), 'utf8')
    if (!SYSTEMS[system].uses.test(source)) continue
    if (/from '(?:\.\.?\/)+helpers\/system-tests\.js'/.test(source)) selfSkipping.push(file)
    else excluded.push(file)
  }
  return { excluded, selfSkipping }
}

/** The lines that say, loudly, what FJS_SKIP_SYSTEM_TESTS leaves out. */
export function skipReport (skipped) {
  const lines = []
  for (const system of skipped) {
    const { excluded, selfSkipping } = suitesNeeding(system)
    lines.push(`${SKIP_VARIABLE}=${system}: SKIPPED, ${SYSTEMS[system].for} (they need ${SYSTEMS[system].program}):`)
    for (const file of excluded) lines.push(`  - ${file} (the whole file)`)
    for (const file of selfSkipping) lines.push(`  - ${file} (its tests that need ${system}, marked SKIP in the report)`)
  }
  return lines
}

export function banner (lines) {
  const rule = '!'.repeat(100)
  return [rule, ...lines.map((line) => `!! ${line}`), rule].join('\n')
}
