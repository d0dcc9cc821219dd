// Tests use real Debian programs: Chromium for the browser test, Redis for the shared revocation
// store. Install them when they are missing and we run as root; otherwise stop with a message that
// says what to install, or how to skip the suites that need them (FJS_SKIP_SYSTEM_TESTS, see
// scripts/system-tests.js): a skipped suite is named, loudly, here and in the tap run.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { banner, SKIP_VARIABLE, skippedSystemsOrExit, skipReport, SYSTEMS } from './system-tests.js'

const skipped = skippedSystemsOrExit()
if (skipped.size > 0) console.log(banner(skipReport(skipped)))

const missing = Object.entries(SYSTEMS)
  .filter(([name, system]) => !skipped.has(name) && !existsSync(system.program))
  .map(([name, system]) => ({ name, ...system }))
if (missing.length > 0) {
  const packages = missing.map((dependency) => dependency.package)
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    for (const dependency of missing) console.error(`missing ${dependency.program}, needed by ${dependency.for}`)
    console.error(`install it with: apt-get update && apt-get install -y ${packages.join(' ')}`)
    console.error(`or run the other tests without them: ${SKIP_VARIABLE}=${missing.map((dependency) => dependency.name).join(',')} npm test`)
    process.exit(1)
  }
  console.log(`installing ${packages.join(', ')} with apt-get`)
  const options = { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...packages]]) {
    const result = spawnSync('apt-get', args, options)
    if (result.status !== 0) {
      console.error(`apt-get ${args[0]} failed; install by hand: apt-get install -y ${packages.join(' ')}`)
      process.exit(1)
    }
  }
}
