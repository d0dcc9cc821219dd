// The suite-wide log capture (test/setup/log-capture.ts) fails a test process whose logs hold a
// token, an Authorization or Cookie value or a secret, and passes one whose logs do not. Each case
// runs test/setup/self-test-app.ts in a child process with the capture preloaded.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const PRELOAD = new URL('./setup/log-capture.ts', import.meta.url).href
const APP = fileURLToPath(new URL('./setup/self-test-app.ts', import.meta.url))

/** The TypeScript loader of this process (tap's), or the one tap would use. */
function typescriptLoader (): string {
  const given = process.execArgv.find((arg) => arg.startsWith('--import=') && /typescript|ts-node/.test(arg))
  return given ?? `--import=${import.meta.resolve('@tapjs/typescript/import')}`
}

interface Run { code: number | null, stdout: string, stderr: string, summary: Record<string, unknown> }

/** Runs the app in `mode` with the capture preloaded, outside tap's runner and coverage; under tap (TAP=1) or not. */
async function run (mode: string, underTap: boolean): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' }
  for (const name of Object.keys(env)) {
    if (/^(NODE_OPTIONS|NODE_V8_COVERAGE|LOG_CAPTURE_.*|TAP.*|_TAPJS_.*)$/.test(name)) delete env[name]
  }
  if (underTap) env.TAP = '1'
  const child = spawn(process.execPath, [typescriptLoader(), `--import=${PRELOAD}`, APP, mode], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const [code] = await once(child, 'exit') as [number | null]
  let summary: Record<string, unknown> = {}
  try {
    summary = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>
  } catch {}
  return { code, stdout, stderr, summary }
}

// Started together: each child spends most of its time loading TypeScript.
const clean = run('clean', true)
const leaky = run('leaky', false)
const leakyUnderTap = run('leaky', true)
const JWT = /eyJ[\w-]{8,}\.[\w-]{8,}/
const HEADLINE = '6 log line(s) contain a token, an Authorization or Cookie value, or a secret'

t.test('a tap test whose logs hold no sensitive value passes', async (t) => {
  const { code, stdout, stderr } = await clean
  t.equal(code, 0)
  t.equal(stderr, '', 'nothing on stderr')
  t.match(stdout, /^ok 1 - the app, clean/m)
  t.notMatch(stdout, /not ok|log capture/)
})

t.test('outside tap: exit 1, and each line reported on stderr with the values redacted', async (t) => {
  const { code, stderr, summary } = await leaky
  t.equal(code, 1)
  t.same(summary.statuses, [200, 200], 'the app ran to its end: a valid token and a refused one')
  t.match(stderr, `[log-capture] test/setup/self-test-app.ts: ${HEADLINE}:`)
  t.notMatch(stderr, JWT, 'no token in the report')
  t.notMatch(stderr, /quote|self-test-secret/, 'nor the header with a quote, nor the secret')

  t.test('an Authorization header logged by a route (no logger), also JSON-escaped', async (t) => {
    t.match(stderr, /"auth":"\[REDACTED: Authorization header \(GET \/\)\]","msg":"the request authorizes with"/)
    t.equal(stderr.split('"auth":"[REDACTED: Authorization header (GET /)]"').length - 1, 3, 'three lines, the escaped header among them')
  })

  t.test("a cookie logged at debug under a test's own logger at warn", async (t) => {
    t.equal(summary.level, 'warn', 'log.level is the level the test set')
    t.equal(summary.debugEnabled, false, 'isLevelEnabled answers for that level')
    t.same(summary.ownLines, ['a warning the test asserts on'], "the test's stream gets only its warn line")
    t.match(stderr, /\{"level":20,.*"cookies":"\[REDACTED: Cookie header \(GET \/\)\]","msg":"cookies"\}/, 'the debug line is captured and reported')
  })

  t.test("the plugin's secret in another encoding, and a created token", async (t) => {
    t.match(stderr, /"settings":\{"key":"\[REDACTED: jwtSecurity options\.secret \(base64\)\]"\}/)
    t.match(stderr, /"msg":"issued \[REDACTED: result of createJwtToken\]"/)
  })
})

t.test('under tap: a failed assertion of the file, with the redacted lines as diagnostics', async (t) => {
  const { code, stdout, stderr } = await leakyUnderTap
  t.equal(code, 1)
  t.equal(stderr, '', 'nothing on stderr: the report is in the TAP output')
  t.match(stdout, /^ok 1 - the app, leaky/m, 'the test itself passes')
  t.match(stdout, `not ok 2 - log capture: ${HEADLINE}`)
  for (const found of ['Authorization header (GET /)', 'Cookie header (GET /)', 'jwtSecurity options.secret (base64)', 'result of createJwtToken']) {
    t.match(stdout, `- found: ${found}\n`, `reported: ${found}`)
  }
  t.notMatch(stdout, JWT, 'no token in the report')
  t.notMatch(stdout, /quote|self-test-secret/)
})

t.test('the wrapper exports what fastify exports', async (t) => {
  const real = createRequire(import.meta.url)('fastify') as Record<string, unknown>
  const wrapper = await import('./setup/fastify.js') as Record<string, unknown>
  const names = (object: object) => Object.keys(object).filter((name) => name !== 'default').sort()
  t.same(names(wrapper), names(real), 'the same named exports')
  t.equal(wrapper.errorCodes, real.errorCodes)
  t.equal(wrapper.fastify, wrapper.default)
})
