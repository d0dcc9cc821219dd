// The package as its consumers get it: `npm pack`, then `npm install <tarball> fastify@5` into a
// throw-away project, where an ES module, a CommonJS file and TypeScript (NodeNext, Bundler, and a
// CommonJS .cts) use it. Needs dist/ (`npm test` builds it first) and the npm registry: without
// network the test fails, saying so.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, realpath, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { REPO, run, tail, tsc, writeConsumerProject, type RunResult } from './consumer-project.js'

const SECRET = randomBytes(48).toString('base64url') // 64 characters
const FORBIDDEN_DIRECTORIES = /^(lib|test|bench|examples|docs\/api|scripts|types|coverage|\.tap)\//

interface PackResult { filename: string, version: string, files: Array<{ path: string }> }

/** A step before the consumers could run failed: the message says which, `output` what the command printed. */
class SetupError extends Error {
  readonly output: string
  constructor (message: string, output: string) {
    super(message)
    this.output = tail(output)
  }
}

const timings: string[] = []
function timed<T extends RunResult> (label: string, result: Promise<T>): Promise<T> {
  return result.then((done) => { timings.push(`${label} ${done.ms} ms`); return done })
}

async function sourcesOf (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/').replace(/\.ts$/, ''))
    .sort()
}

function lastJsonLine (result: RunResult): unknown {
  const line = result.stdout.trim().split('\n').at(-1) ?? ''
  try {
    return JSON.parse(line)
  } catch {
    throw new Error(`expected a JSON line, got exit code ${result.code}\nstdout:\n${tail(result.stdout)}\nstderr:\n${tail(result.stderr)}`)
  }
}

/** `npm pack` into a temporary directory, checking meanwhile that the registry answers. */
async function pack (work: string, consumer: string) {
  if (!existsSync(join(REPO, 'dist', 'index.js'))) {
    throw new SetupError('dist/index.js is missing: run `npm run build` first (`npm test` does)', '')
  }
  const [ping, packing] = await Promise.all([
    timed('npm ping', run('npm', ['ping', '--fetch-retries=0', '--fetch-timeout=20000'], { cwd: work, timeout: 30_000 })),
    timed('npm pack', run('npm', ['pack', '--json', '--pack-destination', work], { cwd: REPO })),
    writeConsumerProject(consumer)
  ])
  if (packing.code !== 0) throw new SetupError(`npm pack failed (exit code ${packing.code})`, packing.stderr)
  const packed = (JSON.parse(packing.stdout) as PackResult[])[0] as PackResult
  return { ping, packed, tarball: join(work, packed.filename) }
}

/** Installs the tarball, fastify@5 and @types/node@20 in the consumer, then starts every consumer at once. */
async function install (consumer: string, ping: RunResult, tarball: string) {
  // Offline, `npm install` retries for minutes and then reports an ERESOLVE conflict that hides
  // the cause: `npm ping` (no retries) says it at once.
  if (ping.code !== 0) {
    throw new SetupError('The npm registry is unreachable (`npm ping` failed): this test installs the packed ' +
      'tarball and fastify@5 into a throw-away project, which needs network access to the registry', ping.stderr)
  }
  const installed = await timed('npm install', run('npm', [
    'install', '--no-audit', '--no-fund', '--prefer-offline', tarball, 'fastify@5', '@types/node@20'
  ], { cwd: consumer, timeout: 100_000 }))
  if (installed.code !== 0) {
    throw new SetupError(`npm install of the tarball, fastify@5 and @types/node@20 failed (exit code ${installed.code}, signal ${installed.signal})`, installed.stderr)
  }
  const env = { SECRET }
  const cjsTypeScript = timed('tsc cjs', tsc(consumer, 'tsconfig.cjs.json'))
  return {
    esm: timed('node esm.mjs', run(process.execPath, ['esm.mjs'], { cwd: consumer, env })),
    cjs: timed('node cjs.cjs', run(process.execPath, ['cjs.cjs'], { cwd: consumer, env })),
    nodeNext: timed('tsc nodenext', tsc(consumer, 'tsconfig.nodenext.json')),
    bundler: timed('tsc bundler', tsc(consumer, 'tsconfig.bundler.json')),
    cjsTypeScript,
    cjsTypeScriptRun: cjsTypeScript.then((compiled) => compiled.code === 0
      ? timed('node out/typed-cjs.cjs', run(process.execPath, [join('out', 'typed-cjs.cjs')], { cwd: consumer, env }))
      : compiled)
  }
}

const started = performance.now()
const work = await mkdtemp(join(tmpdir(), 'fastify-jwt-security-consumers-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
const consumerDir = join(work, 'consumer')

// One parent test, so that tap waits for the install before it ends.
t.test('consumers of the packed package', async (t) => {
  t.teardown(() => { t.comment(`${timings.join(', ')}; ${Math.round(performance.now() - started)} ms in all`) })
  const failSetup = (error: unknown): null => {
    t.fail((error as Error).message, error instanceof SetupError ? { output: error.output } : { error })
    return null
  }
  const packing = await pack(work, consumerDir).catch(failSetup)
  if (packing === null) return
  const { packed } = packing
  t.test('the tarball holds dist (.js and .d.ts, one pair per lib/ source), the guides (docs/*.md and the chart they show), README.md, SECURITY.md, CHANGELOG.md, LICENSE and package.json, and nothing else', async (t) => {
    const files = packed.files.map((file) => file.path).sort()
    const sources = await sourcesOf(join(REPO, 'lib'))
    const guides = (await readdir(join(REPO, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)
    const expected = ['LICENSE', 'README.md', 'SECURITY.md', 'CHANGELOG.md', 'package.json', ...guides, 'docs/benchmark-chart.svg', ...sources.flatMap((source) => [`dist/${source}.d.ts`, `dist/${source}.js`])].sort()
    t.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), 'the entry point and its types')
    t.same(files.filter((file) => FORBIDDEN_DIRECTORIES.test(file)), [], 'nothing from lib/, test/, bench/, examples/, docs/api/, scripts/ or types/')
    t.same(files.filter((file) => file.endsWith('.map')), [], 'no source maps')
    t.same(expected.filter((file) => !files.includes(file)), [], 'no file missing: a lib/ source without its dist/ output means dist/ is not built from the current lib/')
    t.same(files.filter((file) => !expected.includes(file)), [], 'no file left over: a dist/ file without a lib/ source is a stale build output')
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string }
    t.equal(packed.version, pkg.version, 'the version of package.json')

    const newestSource = Math.max(...await Promise.all(sources.map(async (source) => (await stat(join(REPO, 'lib', `${source}.ts`))).mtimeMs)))
    const oldestOutput = Math.min(...await Promise.all(sources.map(async (source) => {
      const output = join(REPO, 'dist', `${source}.js`)
      return existsSync(output) ? (await stat(output)).mtimeMs : 0
    })))
    t.ok(newestSource <= oldestOutput, 'dist/ was built after the last change to lib/ (run `npm run build` otherwise)')
  })

  const consumers = await install(consumerDir, packing.ping, packing.tarball).catch(failSetup)
  if (consumers === null) return
  const installedEntry = join(await realpath(consumerDir), 'node_modules', 'fastify-jwt-security', 'dist', 'index.js')
  const expectedRequests = {
    authenticated: { status: 200, body: { userid: 'alice', canEdit: true } },
    anonymous: { status: 401, challenge: 'Bearer realm="api"' },
    logout: 200,
    revoked: 401
  }

  t.test('an ES module imports the default export and named exports, and protects a route', async (t) => {
    const result = await consumers.esm
    t.equal(result.code, 0, 'node esm.mjs exits 0', { stderr: tail(result.stderr) })
    t.same(lastJsonLine(result), { resolved: pathToFileURL(installedEntry).href, defaultIsNamed: true, ...expectedRequests })
  })

  t.test('a CommonJS file require()s the package: the plugin is require(...).default, or its jwtSecurity export', async (t) => {
    const result = await consumers.cjs
    t.equal(result.code, 0, 'node cjs.cjs exits 0', { stderr: tail(result.stderr) })
    t.same(lastJsonLine(result), {
      resolved: installedEntry,
      namespace: { isModuleNamespace: true, esModule: true, defaultType: 'function', defaultIsNamed: true, registersDirectly: true },
      ...expectedRequests
    })
    t.notMatch(result.stderr, /ExperimentalWarning/, 'no experimental warning for require() of the ES module')
  })

  t.test('TypeScript, module and moduleResolution NodeNext, strict, skipLibCheck off: the types and augmented Permissions', async (t) => {
    const result = await consumers.nodeNext
    t.equal(result.code, 0, 'tsc -p tsconfig.nodenext.json exits 0', { output: tail(result.stdout + result.stderr) })
  })

  t.test('TypeScript, module ESNext and moduleResolution Bundler, strict, skipLibCheck off: the types and augmented Permissions', async (t) => {
    const result = await consumers.bundler
    t.equal(result.code, 0, 'tsc -p tsconfig.bundler.json exits 0', { output: tail(result.stdout + result.stderr) })
  })

  t.test('TypeScript CommonJS (.cts, module NodeNext) imports the package, compiles, and runs', async (t) => {
    const compiled = await consumers.cjsTypeScript
    t.equal(compiled.code, 0, 'tsc -p tsconfig.cjs.json exits 0', { output: tail(compiled.stdout + compiled.stderr) })
    if (compiled.code !== 0) return
    const result = await consumers.cjsTypeScriptRun
    t.equal(result.code, 0, 'node out/typed-cjs.cjs exits 0', { stderr: tail(result.stderr) })
    t.same(lastJsonLine(result), { status: 200, body: { userid: 'alice' } })
  })
})
