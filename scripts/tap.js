// `npm run test:unit`: tap, with the arguments given. Under FJS_SKIP_SYSTEM_TESTS (see
// scripts/system-tests.js) it leaves out the test files that need a skipped program, lets
// coverage be incomplete (the skipped files cover part of lib/), and names what it skipped before
// and after the run.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { banner, ROOT, skippedSystemsOrExit, skipReport, suitesNeeding } from './system-tests.js'

const skipped = skippedSystemsOrExit()

const args = []
let report = []
if (skipped.size > 0) {
  for (const system of skipped) {
    for (const file of suitesNeeding(system).excluded) args.push(`--exclude=${file}`)
  }
  args.push('--allow-incomplete-coverage')
  report = [...skipReport(skipped), 'Coverage is not enforced in this run: the skipped tests cover part of lib/.']
  console.log(banner(report))
}

const tap = join(ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 'tap.cmd' : 'tap')
// The arguments given come first, so that a subcommand (`tap list`, `tap run …`) stays first.
const result = spawnSync(tap, [...process.argv.slice(2), ...args], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' })
if (report.length > 0) console.log(banner(report))
if (result.error !== undefined) {
  console.error(`could not run tap: ${result.error.message}`)
  process.exit(1)
}
process.exit(result.status ?? 1)
