// The code blocks of README.md, SECURITY.md and docs/*.md work as written.
// - Every ```ts block compiles on its own, as a module of a project with "type": "module", strict
//   and module nodenext, against the package's public types: 'fastify-jwt-security' resolves
//   through the package's own exports to dist/ (`npm test` builds it first). The free names the
//   blocks use (app, handler, checkPassword) come from PRELUDE, and nothing else does. A line that
//   ends with `// compile error` must fail to compile, and no other line may. A block may opt out
//   only with a first line `// docs-snippets: skip (<why>)`, and the test names it.
// - Every ```js or ```ts block that forms a whole program (it imports fastify and listens) runs:
//   started on 127.0.0.1 with a free port and a random JWT_SECRET, sent requests, stopped.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import ts from 'typescript'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const DOCUMENTS = ['README.md', 'SECURITY.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)]
const OPT_OUT = /^\/\/ docs-snippets: skip \((.*)\)\s*$/
const COMPILE_ERROR = /\/\/ compile error\s*$/

interface Snippet { file: string, line: number, lang: string, code: string }

/** The fenced blocks of a Markdown file, with their first line; an indented fence is dedented. */
function snippetsOf (file: string): Snippet[] {
  const markdown = readFileSync(join(ROOT, file), 'utf8')
  return [...markdown.matchAll(/^( *)```(\w+)[^\n]*\n([\s\S]*?)^\1```[ \t]*$/gm)].map((match) => {
    const indent = (match[1] as string).length
    const code = (match[3] as string).split('\n').map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length))).join('\n')
    return { file, line: markdown.slice(0, match.index).split('\n').length, lang: match[2] as string, code }
  })
}

const snippets = DOCUMENTS.flatMap(snippetsOf)
const name = (snippet: Snippet): string => `${snippet.file}:${snippet.line}`

// ---------------------------------------------------------------------------------------------
// Compiling the TypeScript blocks

/** The free names of the blocks, declared as the app around a block would define them. */
const PRELUDE = `import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type {} from 'fastify-jwt-security' // the plugin's decorators on app, request and reply

declare global {
  /** The app, with the plugin registered. */
  const app: FastifyInstance
  /** A route handler of the app. */
  function handler (request: FastifyRequest, reply: FastifyReply): Promise<unknown>
  /** The app's password check ("your code"): the user, or null. */
  function checkPassword (login: string, password: string): Promise<{ id: string, roles: string[] } | null>
}
`

// The blocks are compiled as files of a directory of the package that does not exist on disk, so
// that 'fastify-jwt-security' resolves by the package's own name and exports, as in a consumer.
const SNIPPET_DIR = join(ROOT, '.docs-snippets')
const PRELUDE_FILE = join(SNIPPET_DIR, 'prelude.ts')
// docs/security-policy.md shows test/fixtures/my-security-policy.ts (test/custom-policy.test.ts
// checks that), and a later block imports it.
const NEIGHBOURS = new Map([[join(SNIPPET_DIR, 'my-security-policy.ts'),
  readFileSync(join(ROOT, 'test/fixtures/my-security-policy.ts'), 'utf8').replace("from '../../lib/index.js'", "from 'fastify-jwt-security'")]])

const OPTIONS: ts.CompilerOptions = {
  strict: true,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  types: ['node'],
  moduleDetection: ts.ModuleDetectionKind.Force, // a block without import is a module too, as in a real file
  skipLibCheck: true,
  noEmit: true
}

const baseHost = ts.createCompilerHost(OPTIONS, true)
const parsed = new Map<string, ts.SourceFile | undefined>()

function compile (snippet: Snippet): ts.Diagnostic[] {
  const file = join(SNIPPET_DIR, `${snippet.file.replace(/[/.]/g, '-')}-${snippet.line}.ts`)
  const virtual = new Map([...NEIGHBOURS, [PRELUDE_FILE, PRELUDE], [file, snippet.code]])
  const host: ts.CompilerHost = {
    ...baseHost,
    fileExists: (path) => virtual.has(path) || baseHost.fileExists(path),
    directoryExists: (path) => path === SNIPPET_DIR || (baseHost.directoryExists?.(path) ?? true),
    readFile: (path) => virtual.get(path) ?? baseHost.readFile(path),
    getSourceFile (path, language, onError) {
      const text = virtual.get(path)
      if (text !== undefined) return ts.createSourceFile(path, text, language, true)
      // The declarations of fastify, node and the package are parsed once for all the blocks.
      const key = `${path}\0${JSON.stringify(language)}`
      if (!parsed.has(key)) parsed.set(key, baseHost.getSourceFile(path, language, onError))
      return parsed.get(key)
    }
  }
  const program = ts.createProgram({ rootNames: [PRELUDE_FILE, file], options: OPTIONS, host })
  const diagnostics = ts.getPreEmitDiagnostics(program)
  return diagnostics.map((diagnostic) => Object.assign(diagnostic, { snippetFile: file }))
}

function describe (diagnostic: ts.Diagnostic, snippet: Snippet): string {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
  if (diagnostic.file === undefined || diagnostic.start === undefined) return `TS${diagnostic.code}: ${message}`
  const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
  const where = diagnostic.file.fileName === PRELUDE_FILE ? `the prelude, line ${line + 1}` : `${snippet.file}:${snippet.line + 1 + line}`
  return `${where}: TS${diagnostic.code}: ${message}`
}

const typescriptSnippets = snippets.filter((snippet) => snippet.lang === 'ts')

t.test('the package is built, so that its types are the current ones', async (t) => {
  const types = join(ROOT, 'dist', 'index.d.ts')
  if (!existsSync(types)) {
    t.fail('dist/index.d.ts is missing: run `npm run build` first (`npm test` does)')
    return
  }
  const sources = readdirSync(join(ROOT, 'lib'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'))
  const newest = Math.max(...sources.map((file) => statSync(join(ROOT, 'lib', file)).mtimeMs))
  t.ok(newest <= statSync(types).mtimeMs, 'dist/ was built after the last change to lib/ (run `npm run build` otherwise)')
})

t.test('every ```ts block of README.md, SECURITY.md and docs/ compiles against the package (strict, nodenext, ES module)', async (t) => {
  t.ok(typescriptSnippets.length >= 12, `${typescriptSnippets.length} blocks`)
  t.ok(typescriptSnippets.some((snippet) => snippet.file === 'README.md' && snippet.code.includes('.listen(')), 'README.md has a TypeScript quick example')
  for (const snippet of typescriptSnippets) {
    const optOut = OPT_OUT.exec(snippet.code.split('\n')[0] as string)
    if (optOut !== null) {
      t.comment(`NOT COMPILED: ${name(snippet)}, because ${optOut[1] as string}`)
      t.ok((optOut[1] as string).trim().split(/\s+/).length >= 3, `${name(snippet)} opts out and says why`)
      continue
    }
    const lines = snippet.code.split('\n')
    const expected = new Set(lines.flatMap((line, index) => COMPILE_ERROR.test(line) ? [index] : []))
    const failing = new Set<number>()
    const unexpected: string[] = []
    for (const diagnostic of compile(snippet)) {
      const inSnippet = diagnostic.file !== undefined && diagnostic.start !== undefined && !diagnostic.file.fileName.endsWith('prelude.ts') && diagnostic.file.fileName.startsWith(SNIPPET_DIR) && !NEIGHBOURS.has(diagnostic.file.fileName)
      const line = inSnippet ? (diagnostic.file as ts.SourceFile).getLineAndCharacterOfPosition(diagnostic.start as number).line : -1
      if (expected.has(line)) failing.add(line)
      else unexpected.push(describe(diagnostic, snippet))
    }
    t.strictSame(unexpected, [], `${name(snippet)} compiles`)
    for (const line of expected) t.ok(failing.has(line), `${snippet.file}:${snippet.line + 1 + line} fails to compile, as its comment says: ${(lines[line] as string).trim()}`)
  }
})

t.test('the prelude declares only names that the blocks use', async (t) => {
  const declared = [...PRELUDE.matchAll(/^ {2}(?:const|function) (\w+)/gm)].map((match) => match[1] as string)
  t.ok(declared.length > 0)
  for (const free of declared) {
    t.ok(typescriptSnippets.some((snippet) => new RegExp(`\\b${free}\\b`).test(snippet.code)), `${free} is used by a block`)
  }
})

t.test('every ```js block of README.md, SECURITY.md and docs/ is valid JavaScript (an ES module)', async (t) => {
  const javascript = snippets.filter((snippet) => snippet.lang === 'js')
  t.ok(javascript.length > 50, `${javascript.length} blocks`)
  for (const snippet of javascript) {
    const source = ts.createSourceFile(`${name(snippet)}.mjs`, snippet.code, ts.ScriptTarget.ESNext, false, ts.ScriptKind.JS)
    const errors = (source as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics
      .map((diagnostic) => `line ${snippet.line + 1 + source.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`)
    t.strictSame(errors, [], name(snippet))
  }
})

// ---------------------------------------------------------------------------------------------
// Running the whole programs

/** "Your code" of the quick examples: a password check with two demo users. */
const RUN_PRELUDE = `const DEMO_USERS = { alice: { id: 'alice', roles: ['view'] }, bob: { id: 'bob', roles: ['view', 'edit'] } }
async function checkPassword (login, password) {
  return Object.hasOwn(DEMO_USERS, login) && password === login + '-password' ? DEMO_USERS[login] : null
}
`

const isProgram = (snippet: Snippet): boolean => (snippet.lang === 'js' || snippet.lang === 'ts') &&
  /from 'fastify'/.test(snippet.code) && /\.listen\(/.test(snippet.code)
const programs = snippets.filter(isProgram)

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const accepts = (port: number): Promise<boolean> => new Promise((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(true) })
  socket.once('error', () => resolve(false))
})

interface Running { url: string, child: ChildProcess, output: () => { stdout: string, stderr: string } }

/** Runs the block as an ES module of the package (so that it imports the package by name), and waits until it listens. */
async function run (snippet: Snippet, secret: string): Promise<Running> {
  const source = snippet.lang === 'ts'
    ? ts.transpileModule(snippet.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
    : snippet.code
  const port = await freePort()
  const child = spawn(process.execPath, ['--input-type=module', '--eval', RUN_PRELUDE + source], {
    cwd: ROOT,
    env: { ...process.env, JWT_SECRET: secret, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`${name(snippet)} exited with ${child.exitCode} before listening:\n${stdout}${stderr}`)
    if (await accepts(port)) return { url: `http://127.0.0.1:${port}`, child, output: () => ({ stdout, stderr }) }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`${name(snippet)} did not listen on port ${port} within 10 seconds:\n${stdout}${stderr}`)
}

async function stop ({ child }: Running): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  await once(child, 'exit')
}

async function request (url: string, method: string, headers: Record<string, string> = {}, body?: unknown) {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await response.text()
  let json: Record<string, unknown> = {}
  try { json = JSON.parse(text) as Record<string, unknown> } catch {}
  return { status: response.status, json, cookies: response.headers.getSetCookie() }
}

/** The quick examples of README.md: login with a schema and a 401, a route hook and a route config. */
async function quickExample (t: Test, url: string): Promise<string[]> {
  const login = (body?: unknown) => request(`${url}/login`, 'POST', {}, body)
  const alice = await login({ login: 'alice', password: 'alice-password' })
  t.equal(alice.status, 200, 'a good login answers 200')
  t.type(alice.json.token, 'string', 'with a token')
  const bob = await login({ login: 'bob', password: 'bob-password' })
  t.equal((await login({ login: 'alice', password: 'wrong' })).status, 401, 'a failed login answers 401')
  t.equal((await login()).status, 400, 'a missing body answers 400, not 500')
  t.equal((await login({ login: 'alice' })).status, 400, 'a body without a password answers 400')
  t.equal((await request(`${url}/login`, 'POST', { 'content-type': 'application/json' })).status, 400, 'an empty JSON body answers 400')
  const bearer = (token: unknown) => ({ authorization: `Bearer ${token as string}` })
  t.equal((await request(`${url}/articles`, 'GET')).status, 401, 'no token: 401')
  const articles = await request(`${url}/articles`, 'GET', bearer(alice.json.token))
  t.equal(articles.status, 200, 'view: 200')
  t.same(articles.json, { userid: 'alice', articles: [] }, 'the handler sees the userid')
  t.equal((await request(`${url}/articles`, 'POST', bearer(alice.json.token))).status, 403, 'without edit: 403')
  t.equal((await request(`${url}/articles`, 'POST', bearer(bob.json.token))).status, 200, 'with edit: 200')
  return [alice.json.token as string, bob.json.token as string]
}

/** The quick example of docs/cookie-sessions.md: a session cookie, CSRF, and a logout that revokes. */
async function cookieExample (t: Test, url: string): Promise<string[]> {
  const login = await request(`${url}/session`, 'POST', {}, { login: 'alice', password: 'alice-password' })
  t.equal(login.status, 200, 'login answers 200')
  t.equal((await request(`${url}/session`, 'POST', {}, { login: 'alice', password: 'wrong' })).status, 401, 'a failed login answers 401')
  const pairs = login.cookies.map((setCookie) => setCookie.split(';')[0] as string)
  const cookie = pairs.join('; ')
  t.match(cookie, /__Host-session=/, 'the session cookie is set')
  t.equal((await request(`${url}/articles`, 'GET', { cookie })).status, 200, 'the cookie authenticates')
  const csrf = { cookie, 'x-csrf-token': login.json.csrfToken as string }
  t.equal((await request(`${url}/session`, 'DELETE', { cookie })).status, 403, 'logout without the CSRF header is refused')
  t.equal((await request(`${url}/session`, 'DELETE', csrf)).status, 200, 'logout')
  t.equal((await request(`${url}/articles`, 'GET', { cookie })).status, 401, 'a copy of the cookie is refused after logout: the session is revoked')
  return pairs.map((pair) => pair.slice(pair.indexOf('=') + 1))
}

const SCENARIOS: Array<{ applies: (snippet: Snippet) => boolean, check: (t: Test, url: string) => Promise<string[]> }> = [
  { applies: (snippet) => snippet.file === 'README.md' && snippet.code.includes("'/login'"), check: quickExample },
  { applies: (snippet) => snippet.file === 'docs/cookie-sessions.md' && snippet.code.includes("'/session'"), check: cookieExample }
]

t.test('every block that forms a whole program runs', async (t) => {
  t.strictSame(programs.map(name).filter((where) => where.startsWith('README.md')).length, 2, 'README.md has two: the quick example in JavaScript and in TypeScript')
  t.ok(programs.some((snippet) => snippet.file === 'docs/cookie-sessions.md'), 'docs/cookie-sessions.md has one')
  for (const snippet of programs) {
    t.test(name(snippet), async (t) => {
      const secret = randomBytes(64).toString('base64url')
      const running = await run(snippet, secret)
      t.teardown(() => stop(running))
      const scenario = SCENARIOS.find((candidate) => candidate.applies(snippet))
      const credentials = scenario === undefined ? [] : await scenario.check(t, running.url)
      if (scenario === undefined) t.ok(await accepts(Number(new URL(running.url).port)), 'it listens')
      await stop(running)
      const { stdout, stderr } = running.output()
      for (const credential of [secret, ...credentials]) t.notOk(stdout.includes(credential) || stderr.includes(credential), 'no secret or token in its output')
      t.notMatch(stdout, /"level":[56]0/, 'it logged no error (a 4xx is logged at info)')
      t.equal(stderr, '', 'nothing on stderr')
    })
  }
})
