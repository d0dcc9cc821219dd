// The benchmark: `npm run bench` (builds the plugin first) or `node bench/run.js [flags]`.
// See bench/README.md.
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { CheckError, check } from './check.js'
import { ColdPool, coldPoolSize, describeGeneration } from './cold-tokens.js'
import { contenders as allContenders } from './contenders.js'
import { writeDocs } from './docs.js'
import { Rotation, measure, shuffled, tokensFor } from './measure.js'
import { describeMachine, median, printMachine, printSummary, summarize, summarizeSign, writeResults } from './report.js'
import { ServerProcess } from './server-process.js'
import { SIGNERS, measureSigner } from './sign.js'
import { evaluateTargets } from './targets.js'

const SIGN = 'sign'

const USAGE = `Usage: npm run bench -- [flags]

  --duration <s>       whole seconds measured per contender, pipelining level and round
                       (default 10; 2 with --quick)
  --slice <s>          the measurement is cut into slices of this many whole seconds, which the
                       contenders take in turn, in a new order every cycle (default 1)
  --rounds <n>         rounds; each round runs every contender at every pipelining level, then
                       every signer (default 3; 1 with --quick)
  --connections <n>    autocannon connections (default 50)
  --pipelining <list>  pipelining levels, comma-separated (default 1,10)
  --warmup <s>         seconds of unmeasured load for each contender before the slices (default 2;
                       1 with --quick)
  --retries <n>        re-measures of a slice (or signing run) during which other processes were busy
                       (default 2; 0 with --quick)
  --only <names>       contenders to run, comma-separated, "${SIGN}" for the signing benchmark (default: all)
  --cold-rate <req/s>  the most req/s expected of a cold contender: its pool holds
                       (warm-up + duration) x rate x 1.5 new tokens (default 40000)
  --sign-duration <s>  seconds measured per signer (default 5; 1 with --quick)
  --sign-warmup <s>    seconds of signing before each measurement (default 1; 0.5 with --quick)
  --no-docs            do not rewrite docs/benchmarks.md and docs/benchmark-chart.svg
  --quick              smoke check: --duration 2 --rounds 1 --warmup 1 --retries 0 --sign-duration 1 --sign-warmup 0.5
  -h, --help           this text

Contenders: ${allContenders.map(({ name }) => name).join(', ')}, ${SIGN}`

// A run is flagged BUSY (and re-run) when other processes used more CPU than this, in cores.
const BUSY_THRESHOLD = 0.25
// A run is flagged LG when the load generator (one thread) used this much CPU: it was the bottleneck.
const GENERATOR_THRESHOLD = 0.9
const RETRY_PAUSE = 10
// Seconds a cold pool must stay valid after the start of a round, beyond its warm-ups and slices.
const RUN_OVERHEAD = 30
// Seconds a slice takes beyond its measurement (autocannon's connections, the CPU readings), at most.
const SLICE_OVERHEAD = 0.5
// Seconds to start, check and prime one server, about.
const SERVER_START = 2

function fail (message) {
  console.error(`${message}\n\n${USAGE}`)
  process.exit(2)
}

function number (name, text, { integer = false, min }) {
  const value = Number(text)
  if (text.trim() === '' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    fail(`--${name}: expected ${integer ? 'an integer' : 'a number'} of at least ${min}, got "${text}"`)
  }
  return value
}

function parseSettings (argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        duration: { type: 'string' },
        slice: { type: 'string' },
        rounds: { type: 'string' },
        connections: { type: 'string' },
        pipelining: { type: 'string' },
        warmup: { type: 'string' },
        retries: { type: 'string' },
        only: { type: 'string' },
        'cold-rate': { type: 'string' },
        'sign-duration': { type: 'string' },
        'sign-warmup': { type: 'string' },
        'no-docs': { type: 'boolean', default: false },
        quick: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }).values
  } catch (error) {
    fail(error.message)
  }
  if (parsed.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const quick = parsed.quick
  const known = [...allContenders.map(({ name }) => name), SIGN]
  const only = parsed.only === undefined ? null : parsed.only.split(',').map((name) => name.trim()).filter(Boolean)
  const names = only ?? known
  const unknown = names.filter((name) => !known.includes(name))
  if (unknown.length > 0 || names.length === 0) fail(`--only: unknown name(s): ${unknown.join(', ') || '(none given)'}`)
  return {
    quick,
    // Whole seconds: autocannon ends a run at its next one-second sample.
    duration: number('duration', parsed.duration ?? (quick ? '2' : '10'), { integer: true, min: 1 }),
    slice: number('slice', parsed.slice ?? '1', { integer: true, min: 1 }),
    rounds: number('rounds', parsed.rounds ?? (quick ? '1' : '3'), { integer: true, min: 1 }),
    connections: number('connections', parsed.connections ?? '50', { integer: true, min: 1 }),
    pipelining: [...new Set((parsed.pipelining ?? '1,10').split(',').map((level) => number('pipelining', level, { integer: true, min: 1 })))],
    warmup: number('warmup', parsed.warmup ?? (quick ? '1' : '2'), { min: 0 }),
    retries: number('retries', parsed.retries ?? (quick ? '0' : '2'), { integer: true, min: 0 }),
    coldRate: number('cold-rate', parsed['cold-rate'] ?? '40000', { integer: true, min: 1 }),
    signDuration: number('sign-duration', parsed['sign-duration'] ?? (quick ? '1' : '5'), { min: 0.1 }),
    signWarmup: number('sign-warmup', parsed['sign-warmup'] ?? (quick ? '0.5' : '1'), { min: 0 }),
    docs: !parsed['no-docs'],
    only,
    contenders: allContenders.filter(({ name }) => names.includes(name)),
    sign: names.includes(SIGN),
    busyThreshold: BUSY_THRESHOLD,
    generatorThreshold: GENERATOR_THRESHOLD
  }
}

/** Turn `turn` (from 1) starts one place further down the list, so that no one always goes first. */
function rotated (list, turn) {
  const shift = (turn - 1) % list.length
  return [...list.slice(shift), ...list.slice(0, shift)]
}

// One round at one pipelining level: a fresh server per contender, all of them up at once, each
// checked, primed and warmed up; then the measurement, cut into slices of `--slice` seconds that
// take the contenders in turn, cycle after cycle. A virtual machine's speed changes from one second
// to the next: run one after the other, the contenders would each meet a different part of that
// drift; interleaved, they all sample the whole round alike. Each contender's figures add up its
// slices; a slice during which other processes were busy is measured again.
async function runRound (contenders, round, pipelining, settings, coldPool, data) {
  const cycles = Math.ceil(settings.duration / settings.slice)
  if (coldPool !== null) {
    const seconds = roundSeconds(settings, contenders.length, true) + RUN_OVERHEAD
    const generation = coldPool.ensureFresh(seconds)
    if (generation !== null) console.log(`cold pool signed again, before its tokens expire: ${describeGeneration(generation)}`)
  }
  const live = []
  try {
    for (const contender of contenders) {
      const server = await ServerProcess.start(contender.name, contender.tokens === 'cold' ? coldPool.env : {})
      const entry = { contender, server, rotation: null, slices: [] }
      live.push(entry)
      const tokens = tokensFor(contender, server.pool, coldPool)
      await check(contender, server, tokens)
      // Each contender has its own cursor in the cold pool: a server sees each of its tokens once.
      entry.rotation = new Rotation(tokens.header, tokens.values, { fresh: contender.tokens === 'cold' })
      const priming = entry.rotation.priming()
      if (priming !== null) await autocannon({ url: `http://127.0.0.1:${server.port}/hello`, ...priming })
    }
    const load = { connections: settings.connections, pipelining }
    for (const { server, rotation } of live) {
      if (settings.warmup > 0) {
        await autocannon({ url: `http://127.0.0.1:${server.port}/hello`, ...load, duration: settings.warmup, ...rotation.load(settings.connections) })
      }
    }
    for (let cycle = 0; cycle < cycles; cycle++) {
      const duration = Math.min(settings.slice, settings.duration - cycle * settings.slice)
      for (const entry of shuffled(live, round * 1000 + cycle)) {
        for (let attempt = 1; ; attempt++) {
          const slice = { cycle, attempt, ...await measure(entry.server, entry.rotation, { ...load, duration }) }
          const busy = slice.cpu.other !== null && slice.cpu.other > settings.busyThreshold
          if (!busy || attempt > settings.retries) {
            entry.slices.push({ ...slice, busy })
            break
          }
          data.discarded.push({ round, pipelining, contender: entry.contender.name, ...sliceRecord(slice) })
        }
      }
    }
  } finally {
    await Promise.all(live.map(({ server }) => server.stop()))
  }
  return live.map((entry) => runRecord(entry, round, pipelining, settings))
}

// What latest.json keeps of a slice: the figures, not autocannon's whole result.
function sliceRecord ({ cycle, attempt, result, cpu, micros, generatorSleeps }) {
  return {
    cycle,
    attempt,
    reqPerSec: result.requests.total / result.duration,
    responses: result.requests.total,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    cpu,
    micros,
    generatorSleeps
  }
}

// One contender's figures over a round: its slices added up.
function runRecord ({ contender, server, rotation, slices }, round, pipelining, settings) {
  const records = slices.map(sliceRecord)
  const sum = (pick) => records.reduce((total, record) => total + pick(record), 0)
  const responses = sum((record) => record.responses)
  const perResponse = (pick) => responses === 0 ? 0 : sum(pick) / responses
  const wall = sum((record) => record.micros.wall)
  const others = records.map((record) => record.micros.other)
  const cpu = {
    server: sum((record) => record.micros.server) / wall,
    client: sum((record) => record.micros.client) / wall,
    other: others.includes(null) ? null : sum((record) => record.micros.other) / wall
  }
  return {
    round,
    contender: contender.name,
    pipelining,
    reqPerSec: responses / sum((record) => record.seconds),
    responses,
    p50: median(records.map((record) => record.p50)),
    p99: median(records.map((record) => record.p99)),
    non2xx: sum((record) => record.non2xx),
    errors: sum((record) => record.errors),
    timeouts: sum((record) => record.timeouts),
    cpu,
    cpuPerRequest: perResponse((record) => record.micros.server),
    systemPerRequest: perResponse((record) => record.micros.serverSystem),
    generatorSleepsPerRequest: perResponse((record) => record.generatorSleeps),
    busy: slices.some((slice) => slice.busy),
    generatorBound: cpu.client >= settings.generatorThreshold,
    // Values handed to the load generator over the warm-up and the measurement, and whether a
    // cold contender had to send some twice.
    tokens: contender.tokens === null
      ? null
      : { cold: rotation.fresh, pool: rotation.values.length, used: rotation.fresh ? rotation.used : null, reused: rotation.fresh && rotation.wrapped },
    // What the server reported of itself at start-up (bare-work: its calibration), or null.
    server: server.details,
    slices: records
  }
}

const fixed = (value, digits = 2) => value === null ? 'n/a' : value.toFixed(digits)

function printRun (label, run) {
  const errors = run.errors + run.timeouts > 0 ? `  errors ${run.errors} timeouts ${run.timeouts}` : ''
  const tokens = run.tokens?.cold
    ? `  tokens ${run.tokens.used.toLocaleString('en-US')}/${run.tokens.pool.toLocaleString('en-US')}`
    : ''
  console.log(`${label}  ${run.contender.padEnd(16)} ${Math.round(run.reqPerSec).toLocaleString('en-US').padStart(8)} req/s` +
    `  p99 ${String(run.p99).padStart(4)} ms  non-2xx ${run.non2xx}${errors}` +
    `  CPU (cores): server ${fixed(run.cpu.server)}, load generator ${fixed(run.cpu.client)}, other ${fixed(run.cpu.other)}${tokens}` +
    `${run.tokens?.reused ? '  REUSED' : ''}${run.busy ? '  BUSY' : ''}${run.generatorBound ? '  LG' : ''}`)
}

function printSignRun (label, run) {
  console.log(`${label}  ${run.signer.padEnd(16)} ${Math.round(run.opsPerSec).toLocaleString('en-US').padStart(8)} ops/s` +
    `  CPU ${run.cpuPerOp.toFixed(2)} us/op  CPU (cores): signer ${fixed(run.cpu.worker)}, other ${fixed(run.cpu.other)}` +
    `${run.busy ? '  BUSY' : ''}`)
}

/** Runs `attempt` until it is not busy or the retries are spent; keeps the discarded runs. */
async function withRetries (settings, data, label, attempt, print) {
  for (let count = 1; ; count++) {
    const run = { ...await attempt(), attempt: count }
    print(label, run)
    if (!run.busy || count > settings.retries) return run
    data.discarded.push(run)
    console.log(`${' '.repeat(label.length)}  other processes were busy: again in ${RETRY_PAUSE} s (retry ${count}/${settings.retries})`)
    await sleep(RETRY_PAUSE * 1000)
  }
}

// Seconds one round at one pipelining level takes: every contender's warm-up and slices; with
// `retried`, at most, as if every slice were measured again `--retries` times (the cold pool must
// not expire before the round ends).
function roundSeconds (settings, contenders, retried = false) {
  const cycles = Math.ceil(settings.duration / settings.slice)
  const tries = retried ? 1 + settings.retries : 1
  return contenders * (settings.warmup + SERVER_START + tries * (settings.duration + cycles * SLICE_OVERHEAD))
}

function describePlan (settings) {
  const contenders = settings.contenders.length
  const httpRounds = contenders === 0 ? 0 : settings.rounds * settings.pipelining.length
  const signRuns = settings.sign ? settings.rounds * SIGNERS.length : 0
  const seconds = httpRounds * roundSeconds(settings, contenders) + signRuns * (settings.signDuration + settings.signWarmup + 1)
  const parts = []
  if (httpRounds > 0) {
    parts.push(`${settings.rounds} round(s) x pipelining ${settings.pipelining.join(', ')} of ${contenders} contender(s) side by side, ` +
      `${settings.connections} connections, ${settings.warmup} s warm-up + ${settings.duration} s each in slices of ${settings.slice} s`)
  }
  if (signRuns > 0) parts.push(`${signRuns} signing run(s) of ${settings.signWarmup} s + ${settings.signDuration} s`)
  return `${parts.join('; ')}: about ${(seconds / 60).toFixed(1)} min`
}

async function main () {
  const settings = parseSettings(process.argv.slice(2))
  const machine = describeMachine()
  printMachine(machine)
  console.log(`Contenders: ${[...settings.contenders.map(({ name }) => name), ...settings.sign ? [SIGN] : []].join(', ')}`)
  console.log(`${describePlan(settings)}\n`)

  const data = {
    date: new Date().toISOString(),
    machine,
    settings: { ...settings, contenders: settings.contenders.map(({ name }) => name) },
    contenders: settings.contenders,
    coldPool: null,
    runs: [],
    discarded: [],
    signRuns: [],
    summary: [],
    sign: null,
    targets: [],
    error: null
  }
  try {
    let coldPool = null
    if (settings.contenders.some((contender) => contender.tokens === 'cold')) {
      coldPool = new ColdPool(coldPoolSize(settings.warmup + settings.duration, settings.coldRate))
      const generation = coldPool.ensureFresh(roundSeconds(settings, settings.contenders.length, true) + RUN_OVERHEAD)
      data.coldPool = { size: coldPool.size, rate: settings.coldRate, generations: coldPool.generations }
      console.log(`Cold pool: ${describeGeneration(generation)}; enough for ${settings.coldRate.toLocaleString('en-US')} req/s ` +
        `over ${settings.warmup + settings.duration} s with a 1.5 margin\n`)
    }
    for (let round = 1; round <= settings.rounds && settings.contenders.length > 0; round++) {
      for (const pipelining of settings.pipelining) {
        const label = `round ${round}/${settings.rounds}  p=${String(pipelining).padEnd(3)}`
        for (const run of await runRound(rotated(settings.contenders, round), round, pipelining, settings, coldPool, data)) {
          printRun(label, run)
          data.runs.push(run)
        }
        writeResults(data)
      }
    }
    coldPool = null
    if (settings.sign) {
      console.log('')
      for (let round = 1; round <= settings.rounds; round++) {
        for (const { name } of rotated(SIGNERS, round)) {
          const label = `round ${round}/${settings.rounds}  sign `
          const run = await withRetries(settings, data, label, async () => {
            const result = await measureSigner(name, { warmup: settings.signWarmup, duration: settings.signDuration })
            return { round, ...result, busy: result.cpu.other !== null && result.cpu.other > settings.busyThreshold }
          }, printSignRun)
          data.signRuns.push(run)
          writeResults(data)
        }
      }
    }
  } catch (error) {
    data.error = error.message
    writeResults(data)
    if (error instanceof CheckError) {
      console.error(`\nABORTED: a check before the run failed, so the benchmark would measure an error path.\n${error.message}`)
    } else {
      console.error('\nABORTED:', error)
    }
    process.exitCode = 1
    return
  }

  data.summary = summarize(data.runs, settings.contenders, settings.pipelining)
  data.sign = settings.sign ? summarizeSign(data.signRuns, SIGNERS) : null
  data.targets = evaluateTargets(data.summary, data.sign)
  printSummary(data, settings)
  const file = writeResults(data)
  console.log(`\nRaw results: ${file.pathname}`)
  if (!settings.docs) return
  if (data.runs.length === 0) {
    console.log('No HTTP runs: docs/benchmarks.md and docs/benchmark-chart.svg left as they were.')
    return
  }
  for (const written of writeDocs(data)) console.log(`Updated ${written.pathname}`)
}

await main()
