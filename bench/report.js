// The machine description, the summary of a run, its tables (console and markdown), and
// bench/results/latest.json.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { BASELINE, targets } from './contenders.js'

const root = new URL('../', import.meta.url)

function git (...args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

/** Hardware, Node, the package versions, the commit (and whether the tree was dirty) of the run. */
export function describeMachine () {
  const version = (name) => JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, root), 'utf8')).version
  const status = git('status', '--porcelain', '--', '.')
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    memory: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadavg: os.loadavg(),
    versions: Object.fromEntries(['fastify', '@fastify/jwt', 'fast-jwt', 'jose', 'autocannon'].map((name) => [name, version(name)])),
    git: { commit: git('rev-parse', '--short', 'HEAD'), changed: status === null ? null : status.split('\n').filter(Boolean).length }
  }
}

export function describeCommit ({ git: { commit, changed } }) {
  if (commit === null) return 'not a git checkout'
  return changed ? `commit ${commit}, dirty working tree (${changed} changed file(s))` : `commit ${commit}, clean working tree`
}

const gib = (bytes) => `${(bytes / 2 ** 30).toFixed(1)} GiB`
const describeHardware = (machine) => `${machine.cpus} x ${machine.cpu}, ${gib(machine.memory)}, ${machine.platform}`
const describeSoftware = (machine) => `Node ${machine.node}, ${Object.entries(machine.versions).map(([name, v]) => `${name} ${v}`).join(', ')}`

export function printMachine (machine) {
  console.log(`Machine: ${describeHardware(machine)}\n${describeSoftware(machine)}\nPlugin built from ${describeCommit(machine)}`)
  console.log(`Load average at start: ${machine.loadavg.map((value) => value.toFixed(2)).join(' ')}`)
  if (machine.loadavg[0] > 0.5) console.log('WARNING: the machine is not idle; results will be noisy.')
}

export function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Per pipelining level, each contender's medians over the rounds, and its ratio to bare. */
export function summarize (runs, contenders, levels) {
  const summary = []
  for (const pipelining of levels) {
    const rows = []
    for (const { name } of contenders) {
      const own = runs.filter((run) => run.pipelining === pipelining && run.contender === name)
      if (own.length === 0) continue
      const count = (pick) => own.filter(pick).length
      rows.push({
        contender: name,
        rounds: own.map((run) => run.reqPerSec),
        reqPerSec: median(own.map((run) => run.reqPerSec)),
        p99: median(own.map((run) => run.p99)),
        cpuPerRequest: median(own.map((run) => run.cpuPerRequest)),
        failed: own.reduce((sum, run) => sum + run.non2xx + run.errors, 0),
        busy: count((run) => run.busy),
        generatorBound: count((run) => run.generatorBound),
        reused: count((run) => run.reused)
      })
    }
    const bare = rows.find((row) => row.contender === BASELINE)
    for (const row of rows) row.vsBare = bare === undefined ? null : row.reqPerSec / bare.reqPerSec
    if (rows.length > 0) summary.push({ pipelining, rows })
  }
  return summary
}

/**
 * The median, over every cycle of every round, of `name`'s req/s in its slice over `reference`'s
 * in the same cycle: slices at most one cycle apart, which the machine's drift does not reach.
 */
export function pairedRatio (runs, pipelining, name, reference) {
  const ratios = []
  for (const run of runs.filter((r) => r.pipelining === pipelining && r.contender === name)) {
    const other = runs.find((r) => r.pipelining === pipelining && r.round === run.round && r.contender === reference)
    for (const slice of run.slices) {
      const paired = other?.slices.find((candidate) => candidate.cycle === slice.cycle)
      if (paired !== undefined && paired.reqPerSec > 0) ratios.push(slice.reqPerSec / paired.reqPerSec)
    }
  }
  return ratios.length === 0 ? null : median(ratios)
}

/** Every target (bench/contenders.js) the run has both sides of: its ratio of medians, paired ratio and verdict. */
export function evaluateTargets (runs, summary) {
  const results = []
  const verdict = (target, pipelining, ratio, paired) => ({
    ...target,
    pipelining,
    ratio,
    paired,
    // Met only when both estimates reach the minimum.
    met: target.min === null ? null : ratio >= target.min && (paired === null || paired >= target.min)
  })
  for (const target of targets) {
    for (const { pipelining, rows } of summary) {
      const [own, reference] = [target.contender, target.reference].map((name) => rows.find((row) => row.contender === name))
      if (own === undefined || reference === undefined) continue
      results.push(verdict(target, pipelining, own.reqPerSec / reference.reqPerSec, pairedRatio(runs, pipelining, target.contender, target.reference)))
    }
  }
  return results
}

export const integer = (value) => Math.round(value).toLocaleString('en-US')
const ratio = (value) => value === null ? '-' : `${value.toFixed(2)}x`
// A ratio that rounds to its target without reaching it gets a third decimal (not "0.95x, NO").
const targetRatio = (value, min) => value !== null && min !== null && value < min && value.toFixed(2) === min.toFixed(2) ? `${value.toFixed(3)}x` : ratio(value)
const spread = (values) => values.length < 2 ? '' : `±${((Math.max(...values) - Math.min(...values)) / 2 / median(values) * 100).toFixed(1)}%`

export function flags (row) {
  return [[row.failed, 'FAILED'], [row.reused, 'REUSED'], [row.busy, 'BUSY'], [row.generatorBound, 'LG']]
    .filter(([count]) => count > 0).map(([count, flag]) => `${flag}(${count})`).join(' ')
}

// One row per contender, the pipelining levels side by side.
function httpTable (summary) {
  const names = [...new Set(summary.flatMap(({ rows }) => rows.map((row) => row.contender)))]
  return {
    header: ['contender', ...summary.flatMap(({ pipelining: p }) => [`p=${p} req/s`, 'p99 ms', 'vs bare', 'CPU us/req']), 'flags'],
    lines: names.map((name) => {
      const rows = summary.map(({ rows }) => rows.find((row) => row.contender === name))
      return [name, ...rows.flatMap((row) => row === undefined
        ? ['-', '-', '-', '-']
        : [`${integer(row.reqPerSec)} ${spread(row.rounds)}`.trimEnd(), String(row.p99), ratio(row.vsBare), row.cpuPerRequest.toFixed(1)]),
      rows.map((row, index) => row === undefined || flags(row) === '' ? '' : `p=${summary[index].pipelining}: ${flags(row)}`).filter(Boolean).join('; ')]
    })
  }
}

// One row per comparison: at each pipelining level, the ratio of medians and the paired one.
function targetTable (results) {
  const levels = [...new Set(results.map((result) => result.pipelining))]
  const labels = [...new Set(results.map((result) => result.label))]
  return {
    header: ['comparison', 'contender', 'vs', ...levels.flatMap((p) => [`p=${p} medians`, `p=${p} paired`]), 'target', 'met'],
    lines: labels.map((label) => {
      const own = results.filter((result) => result.label === label)
      const at = (level) => own.find((result) => result.pipelining === level)
      const { contender, reference, min } = own[0]
      return [label, contender, reference, ...levels.flatMap((level) => at(level) === undefined ? ['-', '-'] : [targetRatio(at(level).ratio, min), targetRatio(at(level).paired, min)]),
        min === null ? '-' : `${min.toFixed(2)}x`, min === null ? '-' : own.map((result) => result.met ? 'yes' : 'no').join(', ')]
    })
  }
}

function markdownTable ({ header, lines }, leftColumns = 1) {
  const row = (cells) => `| ${cells.map((cell) => cell === '' ? ' ' : cell.replace(/\|/g, '\\|')).join(' | ')} |`
  return [row(header), `|${header.map((_, column) => column < leftColumns || column === header.length - 1 ? '---' : '---:').join('|')}|`, ...lines.map(row)].join('\n')
}

const PAIRED = 'medians: the ratio of the medians of the rounds; paired slices: the median of the ratios of the two contenders\' slices ' +
  'of the same cycle; met (per pipelining level): both reach the target. CPU us/req: the server\'s CPU time per response.'
const FLAGS = 'Flags, with the number of rounds: FAILED: non-2xx responses or errors; REUSED: a cold contender ran out of new tokens ' +
  '(raise --cold-rate), or a DPoP one of new proofs (raise --dpop-rate); BUSY: other processes used more than 0.25 core in a slice, after its retries; LG: the load generator used 0.9 core or more (it set the req/s).'

/** The markdown of the results block of docs/benchmarks.md, also printed at the end of a run. */
export function markdownResults ({ date, machine, settings, summary, targets, coldPool }) {
  const out = [`Generated by \`npm run bench\` on ${date.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}, from ${describeCommit(machine)}.`]
  if (settings.quick || settings.only !== null) out.push('', '> **Not a full run** (`--quick` or `--only`): a smoke test, not results to quote.')
  if (machine.loadavg[0] > 0.5) out.push('', `> **The machine was not idle** at the start (load average ${machine.loadavg[0].toFixed(2)}).`)
  out.push('', `- **Machine**: ${describeHardware(machine)}`, `- **Software**: ${describeSoftware(machine)}`,
    `- **Load**: \`${settings.command}\`: ${settings.connections} connections; per round and pipelining level, every server up at once, ` +
    `${settings.warmup} s warm-up each, then ${settings.duration} s each in ${settings.slice} s slices taken in turn; median of ${settings.rounds} round(s)` +
    (coldPool === null ? '' : `; cold pool of ${coldPool.toLocaleString('en-US')} tokens`))
  if (targets.length > 0) out.push('', '**Comparisons and targets**', '', markdownTable(targetTable(targets), 3))
  if (summary.length > 0) out.push('', '**Contenders** (req/s: median of the rounds, ± half their range)', '', markdownTable(httpTable(summary)))
  if (summary.some(({ rows }) => rows.some((row) => flags(row) !== ''))) out.push('', FLAGS)
  if (targets.length > 0) out.push('', PAIRED)
  return out.join('\n')
}

export function writeResults (data) {
  const directory = new URL('results/', import.meta.url)
  mkdirSync(directory, { recursive: true })
  const file = new URL('latest.json', directory)
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n')
  return file
}
