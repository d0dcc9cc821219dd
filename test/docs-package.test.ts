// What README.md promises about the package and the repository holds:
// - the guides ship in the package, and every relative link of a shipped Markdown file resolves to
//   a shipped file (or to one of the few files that only the repository has, named below);
// - the npm scripts ask tap for reporters it ships;
// - FJS_SKIP_SYSTEM_TESTS is the documented, explicit way to run without redis-server or Chromium,
//   and it names what it skips.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')
// The environment of a contributor's shell: without the variables tap sets for its test processes.
const SHELL_ENV = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^_?TAP/i.test(key)))

/** Linked from shipped Markdown, but only in the repository: code and tests a reader may browse there. */
const REPOSITORY_ONLY = new Set(['examples', 'examples/app.js', 'examples/public/ui.js', 'bench/README.md', 'test/security/CASES.md'])

function packedFiles (): string[] {
  const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })
  if (packed.status !== 0) throw new Error(`npm pack --dry-run failed:\n${packed.stderr}`)
  return (JSON.parse(packed.stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((file) => file.path) ?? []
}

t.test('the guides ship in the package, and the links of every shipped Markdown file resolve in it', async (t) => {
  const files = packedFiles()
  for (const file of ['README.md', 'SECURITY.md', 'CHANGELOG.md', 'docs/README.md', 'docs/authorization.md', 'docs/options.md', 'docs/errors.md']) {
    t.ok(files.includes(file), `${file} is in the tarball`)
  }
  t.notOk(files.some((file) => file.startsWith('docs/api/')), 'the generated API reference is not')
  const shipped = new Set(files)
  const repositoryOnly = new Set<string>()
  for (const file of files.filter((path) => path.endsWith('.md'))) {
    const markdown = read(file).replace(/^ *```[\s\S]*?^ *```$/gm, '')
    for (const match of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = (match[1] as string).split('#')[0] as string
      if (target === '' || /^[a-z]+:/.test(target)) continue
      const path = normalize(join(dirname(file), target)).replace(/\/$/, '')
      if (REPOSITORY_ONLY.has(path)) {
        repositoryOnly.add(`${file} -> ${path}`)
        t.ok(existsSync(join(ROOT, path)), `${file}: ${target} exists in the repository`)
        continue
      }
      t.ok(shipped.has(path), `${file}: ${target} is in the tarball`)
    }
  }
  t.comment(`links to files that only the repository has: ${[...repositoryOnly].join(', ')}`)
})

t.test('README.md tells npm readers where the guides are', async (t) => {
  const readme = read('README.md')
  t.match(readme, 'https://www.npmjs.com/package/fastify-jwt-security?activeTab=code', 'the Code tab of the npm page')
  t.match(readme, 'node_modules/fastify-jwt-security/docs/', 'and the installed copy')
})

t.test('the npm scripts ask tap only for reporters that tap ships', async (t) => {
  const help = spawnSync(join(ROOT, 'node_modules', '.bin', 'tap'), ['--help'], { cwd: ROOT, encoding: 'utf8' }).stdout
  const list = help.slice(help.indexOf('Built-in test reporters:'), help.indexOf('--reporter-file'))
  const builtIn = [...list.matchAll(/^\s+- (\w+)\s*$/gm)].map((match) => match[1] as string)
  t.ok(builtIn.includes('terse') && builtIn.includes('base'), `tap's reporters: ${builtIn.join(', ')}`)
  const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
  const taprc = read('.taprc')
  const asked = [
    ...Object.entries(scripts).flatMap(([script, command]) => [...command.matchAll(/(?:-R\s*|--reporter[= ])(\w+)/g)].map((match) => [script, match[1] as string])),
    ...[...taprc.matchAll(/^reporter:\s*(\w+)/gm)].map((match) => ['.taprc', match[1] as string])
  ]
  t.ok(asked.some(([script]) => script === 'fuzz'), 'npm run fuzz names its reporter')
  for (const [script, reporter] of asked) t.ok(builtIn.includes(reporter as string), `${script}: ${reporter} is built in`)
})

t.test('FJS_SKIP_SYSTEM_TESTS: documented, explicit, and loud', async (t) => {
  const readme = read('README.md')
  t.match(readme, 'FJS_SKIP_SYSTEM_TESTS=redis,browser npm test', 'README.md gives the opt-out')
  t.match(readme, /installs the packages `chromium` and `redis-server`/, 'and says what npm test installs')

  const env = { ...SHELL_ENV, FJS_SKIP_SYSTEM_TESTS: 'redis,browser' }
  const listed = spawnSync(process.execPath, ['scripts/tap.js', 'list'], { cwd: ROOT, env, encoding: 'utf8' })
  t.equal(listed.status, 0, 'tap list runs through scripts/tap.js')
  const lines = listed.stdout.split('\n')
  const tests = lines.filter((line) => line.endsWith('.test.ts'))
  t.notOk(tests.includes('test/e2e/browser.test.ts'), 'the browser test is left out')
  t.notOk(tests.includes('test/revocation/redis-store.test.ts'), 'the Redis store test is left out')
  t.ok(tests.includes('test/examples/server.test.ts'), 'a file that skips its own Redis test still runs')
  t.ok(tests.includes('test/docs-package.test.ts'), 'and so do the others')
  for (const skipped of ['test/e2e/browser.test.ts', 'test/revocation/redis-store.test.ts', 'test/examples/server.test.ts']) {
    t.ok(lines.some((line) => line.startsWith('!!') && line.includes(skipped)), `the banner names ${skipped}`)
  }
  t.match(listed.stdout, 'Coverage is not enforced in this run')

  const deps = spawnSync(process.execPath, ['scripts/system-deps.js'], { cwd: ROOT, env, encoding: 'utf8' })
  t.equal(deps.status, 0, 'with both skipped, system-deps installs nothing and passes')
  t.match(deps.stdout, 'FJS_SKIP_SYSTEM_TESTS=browser: SKIPPED', 'and says what is skipped')

  for (const script of ['scripts/system-deps.js', 'scripts/tap.js']) {
    const unknown = spawnSync(process.execPath, [script, 'list'], { cwd: ROOT, env: { ...SHELL_ENV, FJS_SKIP_SYSTEM_TESTS: 'redis,chrome' }, encoding: 'utf8' })
    t.equal(unknown.status, 1, `${script}: an unknown name stops`)
    t.match(unknown.stderr, 'FJS_SKIP_SYSTEM_TESTS: unknown "chrome"; use a comma-separated list of redis, browser')
  }
})
