import { spawn } from 'node:child_process'
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root: where `npm pack` runs and whose TypeScript compiles the consumers. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')

export interface RunResult { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, ms: number }

/**
 * The environment of every child process: this one's, less what tap and `npm run` add. Without
 * NODE_OPTIONS the consumers run in a plain Node.js (tap's --import hooks would load in them), and
 * without npm's per-script variables the inner npm sees only the user's configuration.
 */
export function childEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (name === 'NODE_OPTIONS' || name === 'npm_config_local_prefix' || /^(TAP|_TAPJS_|TS_NODE_|npm_package_|npm_lifecycle_)/.test(name)) continue
    env[name] = value
  }
  return { ...env, ...extra }
}

/** Runs a command to its end and resolves with its exit code and output; never rejects. */
export async function run (command: string, args: string[], options: { cwd: string, env?: Record<string, string>, timeout?: number }): Promise<RunResult> {
  const started = performance.now()
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: childEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: process.platform === 'win32' && command === 'npm',
      timeout: options.timeout ?? 90_000
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.once('error', (error) => { stderr += `\n${String(error)}` })
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Math.round(performance.now() - started) }))
  })
}

/** The last lines of an output, for a failure message, without npm's warnings about unknown configuration keys. */
export function tail (text: string, lines = 25): string {
  return text.trim().split('\n').filter((line) => !/^npm warn Unknown \w* ?config/.test(line)).slice(-lines).join('\n')
}

/** Runs the TypeScript compiler of this repository on a consumer's tsconfig. */
export function tsc (cwd: string, project: string): Promise<RunResult> {
  return run(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, '--pretty', 'false'], { cwd, timeout: 110_000 })
}

// One source, compiled twice: with module/moduleResolution NodeNext, and with module ESNext and
// moduleResolution Bundler. skipLibCheck is off, so the package's own .d.ts files are checked too.
const TYPED_CONSUMER = `import Fastify from 'fastify'
import jwtSecurity, {
  ACLHelper, Allow, JwtHeaderPolicy, MemoryRevocationStore, errors,
  type JwtIdentity, type JwtSecurityOptions, type Permission
} from 'fastify-jwt-security'

declare module 'fastify-jwt-security' {
  interface Permissions { 'system.Authenticated': true, edit: true }
}

const options: JwtSecurityOptions = {
  secret: process.env.SECRET,
  policy: new JwtHeaderPolicy(),
  revocation: new MemoryRevocationStore()
}
const app = Fastify()
await app.register(jwtSecurity, options)

const acl = new ACLHelper()
app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => {
  const identity: JwtIdentity | null = request.identity
  const userid: string | null = request.authenticatedUserid
  const canEdit: boolean = acl.permits({ __acl__: [[Allow, 'editor', 'edit']] }, identity?.principals ?? [], 'edit').allowed
  return { userid, canEdit }
})
app.post('/articles', { config: { permission: 'edit' } }, async () => ({ saved: true }))

// @ts-expect-error 'typo' is not one of the declared Permissions
app.permits('typo')
// @ts-expect-error nor may a route's config name it
app.post('/typo', { config: { permission: 'typo' } }, async () => 'never')

const permission: Permission = 'edit'
const token: string = await app.createJwtToken('alice', { roles: ['editor'] })
const refused: 401 = new errors.NoCredentialsError().statusCode
const code: 'FST_JWT_SECURITY_NO_CREDENTIALS' = new errors.NoCredentialsError().code
export { permission, token, refused, code }
`

// A CommonJS TypeScript file (.cts) importing the ES module package: TypeScript >= 5.8 allows it
// with module NodeNext (or node20), as Node.js >= 20.19 does. Compiled, then run.
const TYPED_CJS_CONSUMER = `import Fastify from 'fastify'
import jwtSecurity, { JwtHeaderPolicy, type JwtSecurityOptions } from 'fastify-jwt-security'

async function main (): Promise<void> {
  const options: JwtSecurityOptions = { secret: process.env.SECRET, policy: new JwtHeaderPolicy() }
  const app = Fastify()
  await app.register(jwtSecurity, options)
  app.get('/me', { preHandler: app.permits('system.Authenticated') }, async (request) => ({ userid: request.authenticatedUserid }))
  const token = await app.createJwtToken('alice')
  const response = await app.inject({ url: '/me', headers: { authorization: \`Bearer \${token}\` } })
  await app.close()
  console.log(JSON.stringify({ status: response.statusCode, body: response.json() }))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
`

const strict = { target: 'ES2022', strict: true, skipLibCheck: false, types: ['node'], forceConsistentCasingInFileNames: true }

/** The tsconfig of each TypeScript consumer, by the name of its file. */
export const TYPESCRIPT_PROJECTS = {
  'tsconfig.nodenext.json': { compilerOptions: { ...strict, module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true }, files: ['typed.ts'] },
  'tsconfig.bundler.json': { compilerOptions: { ...strict, module: 'ESNext', moduleResolution: 'Bundler', noEmit: true }, files: ['typed.ts'] },
  // The package's declarations are checked by the two above: this one only needs require() of ESM.
  'tsconfig.cjs.json': { compilerOptions: { ...strict, skipLibCheck: true, module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out' }, files: ['typed-cjs.cts'] }
} as const

/**
 * Writes the consumer project: its package.json (an ES module package, as `npm init` makes with
 * "type": "module"), the runtime consumers (esm.mjs, cjs.cjs) and the TypeScript ones.
 */
export async function writeConsumerProject (dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'fastify-jwt-security-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2))
  await copyFile(join(FIXTURES, 'esm.mjs'), join(dir, 'esm.mjs'))
  await copyFile(join(FIXTURES, 'cjs.cjs'), join(dir, 'cjs.cjs'))
  await writeFile(join(dir, 'typed.ts'), TYPED_CONSUMER)
  await writeFile(join(dir, 'typed-cjs.cts'), TYPED_CJS_CONSUMER)
  for (const [name, config] of Object.entries(TYPESCRIPT_PROJECTS)) {
    await writeFile(join(dir, name), JSON.stringify(config, null, 2))
  }
}
