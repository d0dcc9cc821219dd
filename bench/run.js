// The benchmark: `npm run bench` (builds the plugin first) or `node bench/run.js [flags]`.
// See bench/README.md.
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { CheckError, check } from './check.js'
import { contenders as allContenders } from './contenders.js'
import { measure, rotatingRequests } from './measure.js'
import { describeMachine, printMachine, printSummary, summarize, writeResults } from './report.js'
import { ServerProcess } from './server-process.js'

const USAGE = `Usage: npm run bench -- [flags]

  --duration <s>      seconds measured per run (default 10; 2 with --quick)
  --rounds <n>        rounds; each round runs every contender at every pipelining level (default 3; 1 with --quick)
  --connections <n>   autocannon connections (default 50)
  --pipelining <list> pipelining levels, comma-separated (default 1,10)
  --warmup <s>        seconds of unmeasured load before each run (default 2; 1 with --quick)
  --retries <n>       re-runs of a run during which other processes were busy (default 2; 0 with --quick)
  --only <names>      contenders to run, comma-separated (default: all)
  --quick             smoke check: --duration 2 --rounds 1 --warmup 1 --retries 0
  -h, --help          this text

Contenders: ${allContenders.map(({ name }) => name).join(', ')}`

// A run is flagged BUSY (and re-run) when other processes used more CPU than this, in cores.
const BUSY_THRESHOLD = 0.25
// A run is flagged LG when the load generator (one thread) used this much CPU: it was the bottleneck.
const GENERATOR_THRESHOLD = 0.9
const RETRY_PAUSE = 10

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
        rounds: { type: 'string' },
        connections: { type: 'string' },
        pipelining: { type: 'string' },
        warmup: { type: 'string' },
        retries: { type: 'string' },
        only: { type: 'string' },
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
  const names = parsed.only === undefined ? allContenders.map(({ name }) => name) : parsed.only.split(',').map((name) => name.trim()).filter(Boolean)
  const unknown = names.filter((name) => !allContenders.some((contender) => contender.name === name))
  if (unknown.length > 0 || names.length === 0) fail(`--only: unknown contender(s): ${unknown.join(', ') || '(none given)'}`)
  return {
    quick,
    duration: number('duration', parsed.duration ?? (quick ? '2' : '10'), { min: 1 }),
    rounds: number('rounds', parsed.rounds ?? (quick ? '1' : '3'), { integer: true, min: 1 }),
    connections: number('connections', parsed.connections ?? '50', { integer: true, min: 1 }),
    pipelining: [...new Set((parsed.pipelining ?? '1,10').split(',').map((level) => number('pipelining', level, { integer: true, min: 1 })))],
    warmup: number('warmup', parsed.warmup ?? (quick ? '1' : '2'), { min: 0 }),
    retries: number('retries', parsed.retries ?? (quick ? '0' : '2'), { integer: true, min: 0 }),
    contenders: allContenders.filter(({ name }) => names.includes(name)),
    busyThreshold: BUSY_THRESHOLD,
    generatorThreshold: GENERATOR_THRESHOLD
  }
}

// One measured run: a fresh server, the checks, the warm-up, the measurement, then the server is killed.
async function runOnce (contender, pipelining, settings) {
  const server = await ServerProcess.start(contender.name)
  try {
    await check(contender, server)
    const load = { connections: settings.connections, pipelining }
    if (settings.warmup > 0) {
      await autocannon({ url: `http://127.0.0.1:${server.port}/hello`, ...load, duration: settings.warmup, requests: rotatingRequests(server.pool) })
    }
    const { result, cpu, serverMicros, rss } = await measure(server, { ...load, duration: settings.duration })
    const responses = result.requests.total
    return {
      contender: contender.name,
      pipelining,
      reqPerSec: result.requests.average,
      responses,
      p50: result.latency.p50,
      p99: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      cpu,
      cpuPerRequest: responses === 0 ? 0 : serverMicros / responses,
      busy: cpu.other !== null && cpu.other > settings.busyThreshold,
      generatorBound: cpu.client >= settings.generatorThreshold,
      serverRss: rss,
      autocannon: result
    }
  } finally {
    await server.stop()
  }
}

const fixed = (value, digits = 2) => value === null ? 'n/a' : value.toFixed(digits)

function printRun (label, run) {
  const errors = run.errors + run.timeouts > 0 ? `  errors ${run.errors} timeouts ${run.timeouts}` : ''
  console.log(`${label}  ${run.contender.padEnd(16)} ${Math.round(run.reqPerSec).toLocaleString('en-US').padStart(8)} req/s` +
    `  p99 ${String(run.p99).padStart(4)} ms  non-2xx ${run.non2xx}${errors}` +
    `  CPU (cores): server ${fixed(run.cpu.server)}, load generator ${fixed(run.cpu.client)}, other ${fixed(run.cpu.other)}` +
    `${run.busy ? '  BUSY' : ''}${run.generatorBound ? '  LG' : ''}`)
}

async function main () {
  const settings = parseSettings(process.argv.slice(2))
  const machine = describeMachine()
  printMachine(machine)
  const runCount = settings.rounds * settings.pipelining.length * settings.contenders.length
  const minutes = runCount * (settings.duration + settings.warmup + 1) / 60
  console.log(`Contenders: ${settings.contenders.map(({ name }) => name).join(', ')}`)
  console.log(`${runCount} runs: ${settings.rounds} round(s) x pipelining ${settings.pipelining.join(', ')} x ` +
    `${settings.contenders.length} contender(s), ${settings.connections} connections, ${settings.warmup} s warm-up + ` +
    `${settings.duration} s each: about ${minutes.toFixed(1)} min\n`)

  const data = {
    date: new Date().toISOString(),
    machine,
    settings: { ...settings, contenders: settings.contenders.map(({ name }) => name) },
    contenders: settings.contenders,
    runs: [],
    discarded: [],
    summary: null,
    error: null
  }
  try {
    for (let round = 1; round <= settings.rounds; round++) {
      for (const pipelining of settings.pipelining) {
        for (const contender of settings.contenders) {
          const label = `round ${round}/${settings.rounds}  p=${String(pipelining).padEnd(3)}`
          for (let attempt = 1; ; attempt++) {
            const run = { round, attempt, ...await runOnce(contender, pipelining, settings) }
            printRun(label, run)
            if (!run.busy || attempt > settings.retries) {
              data.runs.push(run)
              break
            }
            data.discarded.push(run)
            console.log(`${' '.repeat(label.length)}  other processes were busy: again in ${RETRY_PAUSE} s (retry ${attempt}/${settings.retries})`)
            await sleep(RETRY_PAUSE * 1000)
          }
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
  printSummary(data.summary, settings)
  const file = writeResults(data)
  console.log(`\nRaw results: ${file.pathname}`)
}

await main()
