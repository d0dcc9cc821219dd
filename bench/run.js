// The benchmark: `npm run bench` (builds the plugin first) or `node bench/run.js [flags]`.
// See bench/README.md and docs/benchmarks.md.
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { contenders as allContenders } from './contenders.js'
import { writeDocs } from './docs.js'
import { CheckError, ColdPool, ProofPool, Rotation, check, measure, shuffled, startServer, tokensFor } from './measure.js'
import { describeMachine, evaluateTargets, markdownResults, median, printMachine, summarize, writeResults } from './report.js'

const USAGE = `Usage: npm run bench -- [flags]

  --duration <s>       seconds measured per contender, pipelining level and round (default 10; 2 with --quick)
  --slice <s>          slice length: the contenders take the slices in turn, in a new order every cycle (default 1)
  --rounds <n>         rounds of every contender at every pipelining level (default 3; 1 with --quick)
  --connections <n>    autocannon connections (default 50)
  --pipelining <list>  pipelining levels, comma-separated (default 1,10)
  --warmup <s>         unmeasured load per contender before the slices (default 2; 1 with --quick)
  --retries <n>        re-measures of a slice during which other processes were busy (default 2; 0 with --quick)
  --only <names>       contenders to run, comma-separated (default: all)
  --cold-rate <req/s>  most req/s of a cold contender: sizes its pool of new tokens (default 40000)
  --dpop-rate <req/s>  most req/s of a DPoP contender: sizes its pool of new proofs (default 15000)
  --no-docs            leave docs/benchmarks.md and docs/benchmark-chart.svg alone
  --quick              smoke check: --duration 2 --rounds 1 --warmup 1 --retries 0
  -h, --help           this text

Contenders: ${allContenders.map(({ name }) => name).join(', ')}`

// Cores: other processes busier than this make a slice busy; a load generator this busy set the req/s.
const [BUSY_THRESHOLD, GENERATOR_THRESHOLD] = [0.25, 0.9]
// Seconds to start, check and prime a server, and a slice's overhead, about: for the plan and the cold pool's lifetime.
const [SERVER_START, SLICE_OVERHEAD] = [2, 0.5]

function fail (message) {
  console.error(`${message}\n\n${USAGE}`)
  process.exit(2)
}

function parseSettings (argv) {
  let values
  try {
    const strings = ['duration', 'slice', 'rounds', 'connections', 'pipelining', 'warmup', 'retries', 'only', 'cold-rate', 'dpop-rate']
    values = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(strings.map((name) => [name, { type: 'string' }])),
        'no-docs': { type: 'boolean' },
        quick: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' }
      }
    }).values
  } catch (error) {
    fail(error.message)
  }
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const quick = values.quick ?? false
  const number = (name, fallback, { integer = true, min = 1 } = {}) => {
    const text = values[name] ?? fallback
    const value = Number(text)
    if (text.trim() === '' || !(value >= min) || (integer && !Number.isInteger(value))) fail(`--${name}: expected ${integer ? 'an integer' : 'a number'} of at least ${min}, got "${text}"`)
    return value
  }
  const known = allContenders.map(({ name }) => name)
  const only = values.only === undefined ? null : values.only.split(',').map((name) => name.trim()).filter(Boolean)
  const names = only ?? known
  const unknown = names.filter((name) => !known.includes(name))
  if (unknown.length > 0 || names.length === 0) fail(`--only: unknown name(s): ${unknown.join(', ') || '(none given)'}`)
  return {
    command: ['npm run bench --', ...argv].join(' ').replace(/ --$/, ''),
    quick,
    only,
    // Whole seconds: autocannon ends a run at its next one-second sample.
    duration: number('duration', quick ? '2' : '10'),
    slice: number('slice', '1'),
    rounds: number('rounds', quick ? '1' : '3'),
    connections: number('connections', '50'),
    pipelining: [...new Set((values.pipelining ?? '1,10').split(',').map((level) => number('pipelining', level)))],
    warmup: number('warmup', quick ? '1' : '2', { integer: false, min: 0 }),
    retries: number('retries', quick ? '0' : '2', { min: 0 }),
    coldRate: number('cold-rate', '40000'),
    dpopRate: number('dpop-rate', '15000'),
    docs: !values['no-docs'],
    contenders: allContenders.filter(({ name }) => names.includes(name))
  }
}

// Round n starts n - 1 places down the list, so that no one always starts (or goes) first.
const rotated = (list, round) => list.map((_, index) => list[(index + round - 1) % list.length])

// Seconds one round at one pipelining level takes, at most (every slice retried): the cold pool must outlive it.
const roundSeconds = (settings, count, tries = 1 + settings.retries) =>
  count * (settings.warmup + SERVER_START + tries * settings.duration * (1 + SLICE_OVERHEAD / settings.slice))

/**
 * One round at one pipelining level: a fresh server per contender, all up at once, each checked,
 * primed and warmed up; then the measurement, in slices that take the contenders in turn, in a new
 * order every cycle. A virtual machine's speed drifts from one second to the next: one after the
 * other, the contenders would each meet a different part of that drift; interleaved, they sample
 * it alike, and the ratio of two slices of the same cycle is what the paired ratios are made of.
 */
async function runRound (contenders, round, pipelining, settings, coldPool, proofPools, data) {
  if (coldPool !== null) coldPool.ensureFresh(roundSeconds(settings, contenders.length) + 30)
  const live = []
  const load = { connections: settings.connections, pipelining }
  try {
    for (const contender of contenders) {
      const proofPool = proofPools.get(contender.name)
      const server = await startServer(contender.name, contender.tokens === 'cold' ? coldPool.env : proofPool?.env)
      live.push({ contender, server, slices: [] })
      const tokens = tokensFor(contender, server.pool, coldPool, proofPool)
      await check(contender, server, tokens)
      live.at(-1).rotation = new Rotation(tokens.name, tokens.values, tokens.fresh)
      const priming = live.at(-1).rotation.priming()
      if (priming !== null) await autocannon({ url: `http://127.0.0.1:${server.port}/hello`, ...priming })
    }
    for (const { server, rotation } of live) {
      if (settings.warmup > 0) await autocannon({ url: `http://127.0.0.1:${server.port}/hello`, ...load, duration: settings.warmup, ...rotation.load(settings.connections) })
    }
    const cycles = Math.ceil(settings.duration / settings.slice)
    for (let cycle = 0; cycle < cycles; cycle++) {
      const duration = Math.min(settings.slice, settings.duration - cycle * settings.slice)
      for (const entry of shuffled(live, round * 1000 + cycle)) {
        for (let attempt = 1; ; attempt++) {
          const slice = { cycle, attempt, ...await measure(entry.server, entry.rotation, { ...load, duration }) }
          slice.busy = slice.cpu.other !== null && slice.cpu.other > BUSY_THRESHOLD
          if (!slice.busy || attempt > settings.retries) {
            entry.slices.push(slice)
            break
          }
          data.discarded.push({ round, pipelining, contender: entry.contender.name, ...slice })
        }
      }
    }
  } finally {
    await Promise.all(live.map(({ server }) => server.stop()))
  }
  return live.map(({ contender, rotation, slices }) => {
    const sum = (pick) => slices.reduce((total, slice) => total + pick(slice), 0)
    const responses = sum((slice) => slice.responses)
    const wall = sum((slice) => slice.micros.wall)
    const client = sum((slice) => slice.cpu.client * slice.micros.wall) / wall
    return {
      round,
      contender: contender.name,
      pipelining,
      reqPerSec: responses / sum((slice) => slice.seconds),
      p99: median(slices.map((slice) => slice.p99)),
      non2xx: sum((slice) => slice.non2xx),
      errors: sum((slice) => slice.errors),
      cpuPerRequest: responses === 0 ? 0 : sum((slice) => slice.micros.server) / responses,
      cpu: { server: sum((slice) => slice.micros.server) / wall, client },
      busy: slices.some((slice) => slice.busy),
      generatorBound: client >= GENERATOR_THRESHOLD,
      reused: rotation?.fresh === true && rotation.wrapped,
      slices
    }
  })
}

const printRun = (label, run) => console.log(`${label}  ${run.contender.padEnd(16)} ${Math.round(run.reqPerSec).toLocaleString('en-US').padStart(8)} req/s` +
  `  p99 ${String(run.p99).padStart(4)} ms  CPU ${run.cpuPerRequest.toFixed(1)} us/req  cores: server ${run.cpu.server.toFixed(2)}, load generator ${run.cpu.client.toFixed(2)}` +
  `${run.non2xx + run.errors > 0 ? `  FAILED ${run.non2xx + run.errors}` : ''}${run.reused ? '  REUSED' : ''}${run.busy ? '  BUSY' : ''}${run.generatorBound ? '  LG' : ''}`)

async function main () {
  const settings = parseSettings(process.argv.slice(2))
  const machine = describeMachine()
  printMachine(machine)
  const { contenders } = settings
  const minutes = (settings.rounds * settings.pipelining.length * roundSeconds(settings, contenders.length, 1) / 60).toFixed(1)
  console.log(`Contenders: ${contenders.map(({ name }) => name).join(', ')}`)
  console.log(`${settings.rounds} round(s) x pipelining ${settings.pipelining.join(', ')}, ${settings.connections} connections, ` +
    `${settings.warmup} s warm-up + ${settings.duration} s each in ${settings.slice} s slices: about ${minutes} min\n`)

  const data = { date: new Date().toISOString(), machine, settings: { ...settings, contenders: contenders.map(({ name }) => name) }, coldPool: null, runs: [], discarded: [], summary: [], targets: [], error: null }
  try {
    let coldPool = null
    if (contenders.some((contender) => contender.tokens === 'cold')) {
      coldPool = new ColdPool(Math.ceil((settings.warmup + settings.duration) * settings.coldRate * 1.5))
      const ms = coldPool.ensureFresh(roundSeconds(settings, contenders.length) + 30)
      data.coldPool = coldPool.size
      console.log(`Cold pool: ${coldPool.size.toLocaleString('en-US')} new tokens signed in ${(ms / 1000).toFixed(1)} s\n`)
    }
    // A key per DPoP contender for the whole run; its proofs are signed for each of its servers.
    const proofPools = new Map(contenders.filter(({ proof }) => proof !== undefined)
      .map(({ name, proof }) => [name, new ProofPool(proof, Math.ceil((settings.warmup + settings.duration) * settings.dpopRate * 1.5))]))
    for (let round = 1; round <= settings.rounds && contenders.length > 0; round++) {
      for (const pipelining of settings.pipelining) {
        for (const run of await runRound(rotated(contenders, round), round, pipelining, settings, coldPool, proofPools, data)) {
          printRun(`round ${round}/${settings.rounds}  p=${String(pipelining).padEnd(3)}`, run)
          data.runs.push(run)
        }
        writeResults(data)
      }
    }
  } catch (error) {
    data.error = error.message
    writeResults(data)
    console.error(error instanceof CheckError ? `\nABORTED: a check before the run failed, so the benchmark would measure an error path.\n${error.message}` : '\nABORTED:', error instanceof CheckError ? '' : error)
    process.exitCode = 1
    return
  }
  data.summary = summarize(data.runs, contenders, settings.pipelining)
  data.targets = evaluateTargets(data.runs, data.summary)
  console.log(`\n${markdownResults(data)}`)
  console.log(`\nRaw results: ${writeResults(data).pathname}`)
  if (!settings.docs || data.runs.length === 0) return
  for (const written of writeDocs(data)) console.log(`Updated ${written.pathname}`)
}

await main()
