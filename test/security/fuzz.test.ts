// Property-based fuzzing through app.inject (the properties and the invariants are in fuzz.ts).
// By default: a fixed seed and a few thousand runs in all, so that `npm test` stays fast and its
// choices are the same on every run. A long run (FUZZ_SEED picks another seed):
//   FUZZ_RUNS=100000 npx tap --disable-coverage -R classic test/security/fuzz.test.ts
//   FUZZ_RUNS=100000 node --import @tapjs/typescript/import test/security/fuzz.test.ts
// Both print `# fuzz: <runs> runs, seed <seed>, <failures> failures (…)` at the end (tap's default
// terse reporter hides comments).
import Fastify from 'fastify'
import t from 'tap'
import { checkProperty, createFuzzFixture, exercise, PROPERTIES, splitRuns, type FuzzFixture } from './fuzz.js'

const DEFAULT_RUNS = 5000
const DEFAULT_SEED = 42

function integerFromEnv (name: string, fallback: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, not ${JSON.stringify(text)}`)
  return value
}

const total = integerFromEnv('FUZZ_RUNS', DEFAULT_RUNS)
const seed = integerFromEnv('FUZZ_SEED', DEFAULT_SEED)
// A long run takes minutes: lift tap's per-file timeout for it.
if (total > DEFAULT_RUNS) t.setTimeout(0)

const started = performance.now()
const fixture = await createFuzzFixture(seed)
let executed = 0
let failures = 0

t.teardown(async () => {
  await fixture.close()
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  const statuses = Object.entries(fixture.stats.byStatus).map(([status, count]) => `${status}: ${count}`).join(', ')
  const reasons = Object.entries(fixture.stats.reasons).sort(([, a], [, b]) => b - a).map(([reason, count]) => `${reason}: ${count}`).join(', ')
  t.comment(`requests by authFailure reason (login requests included): ${reasons}`)
  t.comment(`fuzz: ${executed} runs, seed ${seed}, ${failures} failures (${seconds} s; ${fixture.stats.authenticated} authenticated; statuses ${statuses})`)
})

t.test('the invariants catch a faulty app', async (t) => {
  const bob = fixture.apps.default.tokens[1] as string
  const crashes: string[] = []
  const faulty = Fastify()
  t.teardown(() => faulty.close())
  faulty.get('/protected', async (request, reply) => {
    const authorization = request.headers.authorization ?? ''
    if (authorization === 'Bearer accept-me' || authorization === `Bearer ${bob}`) return { userid: 'alice' }
    reply.code(401)
    return { message: `bad token ${authorization}` }
  })
  faulty.get('/public', async () => {
    crashes.push('unhandledRejection: simulated')
    throw new Error('boom')
  })
  await faulty.ready()
  const fake: FuzzFixture = {
    ...fixture,
    apps: { ...fixture.apps, default: { ...fixture.apps.default, app: faulty } },
    crashes,
    stats: { requests: 0, authenticated: 0, byStatus: {}, reasons: {} }
  }
  const request = { target: 'default', route: '/protected', recipe: 'self-test' } as const
  await t.rejects(exercise(fake, { ...request, authorization: 'Bearer accept-me' }), /violated I2 authenticated as "alice" without presenting a genuine token/)
  await t.rejects(exercise(fake, { ...request, authorization: `Bearer ${bob}` }), /violated I3 authenticated as "alice", not as \["bob"\]/)
  const echoed = exercise(fake, { ...request, authorization: 'Bearer e30.eyJzdWIiOiJtYWxsb3J5In0.c2ln' })
  await t.rejects(echoed, /violated I4 body is not a fixed text of status 401/)
  await t.rejects(exercise(fake, { ...request, authorization: 'Bearer e30.eyJzdWIiOiJtYWxsb3J5In0.c2ln' }), /violated I4 the body echoes the input/)
  await t.rejects(exercise(fake, { ...request, authorization: 'Bearer x' }), /violated I6 no WWW-Authenticate on a 401/)
  const crashed = exercise(fake, { ...request, route: '/public' })
  await t.rejects(crashed, /violated I5 unhandledRejection: simulated/)
  await t.rejects(exercise(fake, { ...request, route: '/public' }), /violated I1 status 500/)
})

const shares = splitRuns(total)
for (const [index, property] of PROPERTIES.entries()) {
  const runs = shares[index] as number
  // Each property draws its own stream, from a seed derived from the fixed one.
  t.test(`${property.name} (${runs} runs)`, async (t) => {
    const outcome = await checkProperty(fixture, property.name, property.cases, { runs, seed: seed + index })
    executed += outcome.runs
    if (outcome.failed) failures++
    t.notOk(outcome.failed, outcome.failed ? outcome.report : `${property.name}: every invariant held`)
    if (outcome.failed) t.comment(outcome.report)
  })
}

t.test('the runs exercised the genuine path and crashed nothing', async (t) => {
  t.strictSame(fixture.crashes, [], 'no unhandledRejection or uncaughtException during the runs')
  if (total >= 1000) t.ok(fixture.stats.authenticated > 0, `some runs presented an unaltered genuine token and were authenticated (${fixture.stats.authenticated})`)
})
