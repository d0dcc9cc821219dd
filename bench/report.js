// The machine description, the summary tables (console and markdown) and the JSON file.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { BASELINE, referencesOf } from './contenders.js'
import { SIGN_REFERENCE } from './sign.js'

const root = new URL('../', import.meta.url)

function version (name) {
  try {
    return JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, root), 'utf8')).version
  } catch {
    return null
  }
}

function git (...args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

const changedFiles = (...paths) => {
  const status = git('status', '--porcelain', '--', ...paths)
  return status === null ? null : status.split('\n').filter(Boolean).length
}

/** What ran the benchmark: hardware, Node, the package versions, the commit of the plugin. */
export function describeMachine () {
  const cpus = os.cpus()
  const own = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'))
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    memory: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadavg: os.loadavg(),
    versions: {
      [own.name]: own.version,
      fastify: version('fastify'),
      '@fastify/jwt': version('@fastify/jwt'),
      'fast-jwt': version('fast-jwt'),
      jose: version('jose'),
      autocannon: version('autocannon')
    },
    // Before the benchmark writes anything: bench/results is ignored, docs/benchmarks.md is not.
    git: { commit: git('rev-parse', '--short', 'HEAD'), changed: changedFiles('.'), libChanged: changedFiles('lib') }
  }
}

const gib = (bytes) => `${(bytes / 2 ** 30).toFixed(1)} GiB`

export function describeCommit (machine) {
  const { commit, changed, libChanged } = machine.git
  if (commit === null) return 'not a git checkout'
  if (!changed) return `commit ${commit}, clean working tree`
  return `commit ${commit}, dirty working tree (${changed} changed file(s), ${libChanged} in lib/)`
}

export function printMachine (machine) {
  console.log(`Machine: ${machine.cpus} x ${machine.cpu}, ${gib(machine.memory)}, ${machine.platform}`)
  console.log(`Node ${machine.node}; ${Object.entries(machine.versions).map(([name, v]) => `${name} ${v}`).join(', ')}`)
  console.log(`Plugin built from ${describeCommit(machine)}`)
  const load = machine.loadavg.map((value) => value.toFixed(2)).join(' ')
  console.log(`Load average at start: ${load}`)
  if (machine.loadavg[0] > 0.5) console.log('WARNING: the machine is not idle; results will be noisy.')
}

export function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Median over the rounds of each contender at each pipelining level, and the ratios between them. */
export function summarize (runs, contenders, pipeliningLevels) {
  const summary = []
  for (const pipelining of pipeliningLevels) {
    const rows = []
    for (const contender of contenders) {
      const own = runs.filter((run) => run.pipelining === pipelining && run.contender === contender.name)
      if (own.length === 0) continue
      rows.push({
        contender: contender.name,
        rounds: own.map((run) => run.reqPerSec),
        reqPerSec: median(own.map((run) => run.reqPerSec)),
        p99: median(own.map((run) => run.p99)),
        serverCpu: median(own.map((run) => run.cpu.server)),
        cpuPerRequest: median(own.map((run) => run.cpuPerRequest)),
        systemPerRequest: median(own.map((run) => run.systemPerRequest)),
        generatorSleepsPerRequest: median(own.map((run) => run.generatorSleepsPerRequest)),
        non2xx: own.reduce((sum, run) => sum + run.non2xx, 0),
        errors: own.reduce((sum, run) => sum + run.errors + run.timeouts, 0),
        busy: own.filter((run) => run.busy).length,
        generatorBound: own.filter((run) => run.generatorBound).length,
        reused: own.filter((run) => run.tokens?.reused).length
      })
    }
    const byName = (name) => rows.find((row) => row.contender === name)
    for (const row of rows) {
      const contender = contenders.find(({ name }) => name === row.contender)
      row.vs = {}
      row.sliceVs = {}
      for (const name of [BASELINE, ...contender.compare ?? []]) {
        const reference = byName(name)
        row.vs[name] = reference === undefined ? null : row.reqPerSec / reference.reqPerSec
        row.sliceVs[name] = reference === undefined ? null : sliceRatio(runs, pipelining, row.contender, name)
      }
    }
    if (rows.length > 0) summary.push({ pipelining, rows })
  }
  return summary
}

/**
 * The median, over every cycle of every round, of `name`'s req/s in its slice divided by
 * `reference`'s in the same cycle: a ratio of slices at most one cycle apart, which the machine's
 * drift from cycle to cycle does not reach. Null without slices to pair.
 */
export function sliceRatio (runs, pipelining, name, reference) {
  const ratios = []
  for (const run of runs) {
    if (run.pipelining !== pipelining || run.contender !== name) continue
    const other = runs.find((candidate) => candidate.pipelining === pipelining && candidate.round === run.round && candidate.contender === reference)
    for (const slice of run.slices ?? []) {
      const paired = other?.slices?.find((candidate) => candidate.cycle === slice.cycle)
      if (paired !== undefined && paired.reqPerSec > 0) ratios.push(slice.reqPerSec / paired.reqPerSec)
    }
  }
  return ratios.length === 0 ? null : median(ratios)
}

/** Median over the rounds of each signer. */
export function summarizeSign (runs, signers) {
  const rows = []
  for (const { name } of signers) {
    const own = runs.filter((run) => run.signer === name)
    if (own.length === 0) continue
    rows.push({
      signer: name,
      rounds: own.map((run) => run.opsPerSec),
      opsPerSec: median(own.map((run) => run.opsPerSec)),
      cpuPerOp: median(own.map((run) => run.cpuPerOp)),
      busy: own.filter((run) => run.busy).length
    })
  }
  const reference = rows.find((row) => row.signer === SIGN_REFERENCE)
  for (const row of rows) row.vsReference = reference === undefined ? null : row.opsPerSec / reference.opsPerSec
  return { reference: SIGN_REFERENCE, rows }
}

// Runs recorded before slices existed measured each contender in one piece.
export const sliceOf = (settings) => settings.slice ?? settings.duration

export const integer = (value) => Math.round(value).toLocaleString('en-US')
export const ratio = (value) => value === null || value === undefined ? '-' : `${value.toFixed(2)}x`

function spread (values) {
  if (values.length < 2) return '-'
  return `±${((Math.max(...values) - Math.min(...values)) / 2 / median(values) * 100).toFixed(1)}%`
}

export function flags (row) {
  const list = []
  if (row.non2xx > 0) list.push('NON-2XX')
  if (row.errors > 0) list.push('ERRORS')
  if (row.reused > 0) list.push(`REUSED(${row.reused})`)
  if (row.busy > 0) list.push(`BUSY(${row.busy})`)
  if (row.generatorBound > 0) list.push(`LG(${row.generatorBound})`)
  return list.join(' ')
}

/** The header and lines of one pipelining level's table; `markdown` leaves out the per-round column. */
function httpTable (rows, references, markdown) {
  const header = ['contender', 'req/s', 'spread', ...markdown ? [] : ['rounds (req/s)'], 'p99 ms', 'vs bare',
    ...references.map((name) => `vs ${name}`), 'server CPU', 'CPU us/req', 'sys us/req', 'LG sleeps/req', 'non-2xx', 'flags']
  const lines = rows.map((row) => [
    row.contender,
    integer(row.reqPerSec),
    spread(row.rounds),
    ...markdown ? [] : [row.rounds.map(integer).join(' ')],
    String(row.p99),
    ratio(row.vs[BASELINE]),
    ...references.map((name) => ratio(row.vs[name])),
    row.serverCpu.toFixed(2),
    row.cpuPerRequest.toFixed(1),
    row.systemPerRequest.toFixed(1),
    row.generatorSleepsPerRequest.toFixed(2),
    String(row.non2xx),
    flags(row)
  ])
  return { header, lines }
}

function signTable (signSummary, markdown) {
  const header = ['signer', 'ops/s', 'spread', ...markdown ? [] : ['rounds (ops/s)'], 'CPU us/op', `vs ${signSummary.reference}`, 'flags']
  const lines = signSummary.rows.map((row) => [
    row.signer,
    integer(row.opsPerSec),
    spread(row.rounds),
    ...markdown ? [] : [row.rounds.map(integer).join(' ')],
    row.cpuPerOp.toFixed(2),
    ratio(row.vsReference),
    row.busy > 0 ? `BUSY(${row.busy})` : ''
  ])
  return { header, lines }
}

// A ratio that rounds to its target without reaching it (1.996x for 2.00x) gets a third decimal:
// otherwise the table would say "2.00x, NO".
function targetRatio (value, min) {
  if (value === null || value === undefined || min === null || value >= min || value.toFixed(2) !== min.toFixed(2)) return ratio(value)
  return `${value.toFixed(3)}x`
}

function targetTable (results) {
  const header = ['target', 'contender', 'vs', 'pipelining', 'ratio', 'paired slices', 'required', 'met']
  const lines = results.map((result) => [
    result.label,
    result.contender,
    result.reference,
    result.pipelining === null ? '-' : String(result.pipelining),
    targetRatio(result.ratio, result.min),
    targetRatio(result.sliceRatio, result.min),
    result.min === null ? 'not set' : `${result.min.toFixed(2)}x`,
    result.met === null ? '-' : result.met ? 'yes' : 'NO'
  ])
  return { header, lines }
}

function table ({ header, lines }) {
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)))
  const last = header.length - 1
  const format = (cells) => cells.map((cell, column) => column === 0 || column === last ? cell.padEnd(widths[column]) : cell.padStart(widths[column])).join('  ').trimEnd()
  return [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...lines.map(format)].join('\n')
}

function markdownTable ({ header, lines }, leftColumns = 1) {
  const escape = (cell) => cell === '' ? ' ' : cell.replace(/\|/g, '\\|')
  const row = (cells) => `| ${cells.map(escape).join(' | ')} |`
  const align = header.map((_, column) => column < leftColumns || column === header.length - 1 ? '---' : '---:')
  return [row(header), `|${align.join('|')}|`, ...lines.map(row)].join('\n')
}

export function printSummary ({ summary, sign, targets, contenders }, settings) {
  const references = referencesOf(contenders)
  for (const { pipelining, rows } of summary) {
    console.log(`\nPipelining ${pipelining}: ${settings.connections} connections, ${settings.duration} s per contender and round in ${sliceOf(settings)} s slices, ` +
      `median of ${settings.rounds} round(s)`)
    console.log(table(httpTable(rows, references, false)))
  }
  if (summary.length > 0) {
    console.log('\nreq/s: median over rounds of autocannon\'s mean req/s. spread: half the range, relative to the median.')
    console.log('p99 ms: median over rounds of the median of the slices\' 99th-percentile latencies. vs <name>: req/s relative to that contender\'s.')
    console.log('server CPU: cores used by the server process (all threads). CPU us/req: server CPU time per response; sys us/req: the kernel\'s part of it.')
    console.log('LG sleeps/req: times the load generator went to sleep waiting for responses, per response; a response then has to wake it.')
    console.log('Flags: NON-2XX or ERRORS in some round; REUSED(n): in n round(s) a cold contender ran out of new tokens ' +
      '(raise --cold-rate);')
    console.log(`BUSY(n): in n round(s), other processes used more than ${settings.busyThreshold} core during the run;`)
    console.log(`LG(n): in n round(s), the load generator used ${settings.generatorThreshold} core or more: it, not the server, ` +
      'set the req/s (compare CPU us/req instead).')
  }
  if (sign !== null) {
    console.log(`\nSigning: ${settings.signDuration} s per signer after ${settings.signWarmup} s of warm-up, median of ${settings.rounds} round(s)`)
    console.log(table(signTable(sign, false)))
    console.log('CPU us/op: CPU time of the signing process per token, all threads (WebCrypto runs on libuv\'s pool).')
  }
  if (targets.length > 0) {
    console.log('\nTargets (bench/targets.js):')
    console.log(table(targetTable(targets)))
    console.log('ratio: of the medians of the rounds. paired slices: median, over every cycle of every round, of the ratio ' +
      'of the two contenders\' slices in that cycle. met: both reach the minimum.')
  }
}

/** The markdown of the results block of docs/benchmarks.md. */
export function markdownResults (data) {
  const { machine, settings, summary, sign, targets } = data
  const references = referencesOf(data.contenders)
  const out = []
  const date = data.date.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
  out.push(`Generated by \`npm run bench\` on ${date}, from ${describeCommit(machine)}.`)
  const partial = []
  if (settings.quick) partial.push('`--quick`')
  if (settings.rounds < 3) partial.push(`${settings.rounds} round(s)`)
  if (settings.duration < 10) partial.push(`${settings.duration} s per contender and round`)
  if (settings.only !== null) partial.push(`\`--only ${settings.only.join(',')}\``)
  if (partial.length > 0) out.push('', `> **Not a full run** (${partial.join(', ')}): a smoke test, not results to quote.`)
  if (machine.loadavg[0] > 0.5) out.push('', `> **The machine was not idle** at the start (load average ${machine.loadavg[0].toFixed(2)}).`)
  out.push('')
  out.push(`- **Machine**: ${machine.cpus} x ${machine.cpu} (${machine.availableParallelism} usable), ${gib(machine.memory)}, ${machine.platform}`)
  out.push(`- **Software**: Node ${machine.node}, ${Object.entries(machine.versions).map(([name, v]) => `${name} ${v}`).join(', ')}`)
  out.push(`- **Load**: ${settings.connections} connections; per round and pipelining level, every contender's server up at once, ` +
    `${settings.warmup} s warm-up each, then ${settings.duration} s each in ${sliceOf(settings)} s slices taken in turn; ` +
    `median of ${settings.rounds} round(s); load average at start ${machine.loadavg.map((value) => value.toFixed(2)).join(' ')}`)
  const generation = data.coldPool?.generations[0]
  if (generation !== undefined) {
    out.push(`- **Cold pool**: ${generation.tokens.toLocaleString('en-US')} tokens (${generation.tokenLength} characters), ` +
      `signed in ${(generation.ms / 1000).toFixed(1)} s, heap +${Math.round(generation.heapBytes / 2 ** 20)} MiB, ` +
      `RSS +${Math.round(generation.rssBytes / 2 ** 20)} MiB in the load generator` +
      (data.coldPool.generations.length > 1 ? `, signed ${data.coldPool.generations.length} times (expiry)` : ''))
  }
  if (targets.length > 0) {
    out.push('', '**Targets** (`bench/targets.js`)', '', markdownTable(targetTable(targets), 3))
  }
  for (const { pipelining, rows } of summary) {
    out.push('', `**Pipelining ${pipelining}**`, '', markdownTable(httpTable(rows, references, true)))
  }
  if (sign !== null) {
    out.push('', `**Signing** (${settings.signDuration} s per signer, median of ${settings.rounds} round(s))`, '', markdownTable(signTable(sign, true)))
  }
  const flagged = summary.some(({ rows }) => rows.some((row) => flags(row) !== ''))
  if (flagged) {
    out.push('', 'Flags: `BUSY(n)`: other processes used more than ' +
      `${settings.busyThreshold} core in n round(s); \`LG(n)\`: the load generator was the bottleneck in n round(s); ` +
      '`REUSED(n)`: a cold contender ran out of new tokens (raise `--cold-rate`); `NON-2XX`, `ERRORS`: some responses failed.')
  }
  return out.join('\n')
}

export function writeResults (data) {
  const directory = new URL('results/', import.meta.url)
  mkdirSync(directory, { recursive: true })
  const file = new URL('latest.json', directory)
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n')
  return file
}
