// Tests use real Debian programs: Chromium for the browser test, Redis for the shared revocation
// store. Install them when they are missing and we run as root; otherwise stop with a message that
// says what to install.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const needed = [
  { program: '/usr/bin/chromium', package: 'chromium', for: 'the browser end-to-end test' },
  { program: '/usr/bin/redis-server', package: 'redis-server', for: 'the Redis revocation store tests' }
]

const missing = needed.filter((dependency) => !existsSync(dependency.program))
if (missing.length > 0) {
  const packages = missing.map((dependency) => dependency.package)
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    for (const dependency of missing) console.error(`missing ${dependency.program}, needed by ${dependency.for}`)
    console.error(`install it with: apt-get update && apt-get install -y ${packages.join(' ')}`)
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
