// The machine description, the summary tables and the JSON file.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { BASELINE, REFERENCE } from './contenders.js'

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

/** What ran the benchmark: hardware, Node, the package versions, the commit of the plugin. */
export function describeMachine () {
  const cpus = os.cpus()
  const own = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'))
  const changed = git('status', '--porcelain', '--', 'lib')
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
    git: { commit: git('rev-parse', '--short', 'HEAD'), libChanged: changed === null ? null : changed.split('\n').filter(Boolean).length }
  }
}

export function printMachine (machine) {
  const gib = (machine.memory / 2 ** 30).toFixed(1)
  console.log(`Machine: ${machine.cpus} x ${machine.cpu}, ${gib} GiB, ${machine.platform}`)
  console.log(`Node ${machine.node}; ${Object.entries(machine.versions).map(([name, v]) => `${name} ${v}`).join(', ')}`)
  if (machine.git.commit !== null) {
    const dirty = machine.git.libChanged ? ` (${machine.git.libChanged} uncommitted change(s) in lib/)` : ''
    console.log(`Plugin built from commit ${machine.git.commit}${dirty}`)
  }
  const load = machine.loadavg.map((value) => value.toFixed(2)).join(' ')
  console.log(`Load average at start: ${load}`)
  if (machine.loadavg[0] > 0.5) console.log('WARNING: the machine is not idle; results will be noisy.')
}

export function median (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Median over the rounds of each contender at each pipelining level. */
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
        non2xx: own.reduce((sum, run) => sum + run.non2xx, 0),
        errors: own.reduce((sum, run) => sum + run.errors + run.timeouts, 0),
        busy: own.filter((run) => run.busy).length,
        generatorBound: own.filter((run) => run.generatorBound).length
      })
    }
    const byName = (name) => rows.find((row) => row.contender === name)
    for (const row of rows) {
      const contender = contenders.find(({ name }) => name === row.contender)
      const baseline = byName(BASELINE)
      const reference = byName(REFERENCE)
      row.vsBare = baseline === undefined ? null : row.reqPerSec / baseline.reqPerSec
      row.vsFastifyJwt = reference !== undefined && contender.plugin && contender.tokens ? row.reqPerSec / reference.reqPerSec : null
    }
    summary.push({ pipelining, rows })
  }
  return summary
}

const integer = (value) => Math.round(value).toLocaleString('en-US')
const ratio = (value) => value === null ? '-' : `${value.toFixed(2)}x`

function spread (values) {
  if (values.length < 2) return '-'
  return `±${((Math.max(...values) - Math.min(...values)) / 2 / median(values) * 100).toFixed(1)}%`
}

function flags (row) {
  const list = []
  if (row.non2xx > 0) list.push('NON-2XX')
  if (row.errors > 0) list.push('ERRORS')
  if (row.busy > 0) list.push(`BUSY(${row.busy})`)
  if (row.generatorBound > 0) list.push(`LG(${row.generatorBound})`)
  return list.join(' ')
}

function table (header, lines) {
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)))
  const last = header.length - 1
  const format = (cells) => cells.map((cell, column) => column === 0 || column === last ? cell.padEnd(widths[column]) : cell.padStart(widths[column])).join('  ').trimEnd()
  return [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...lines.map(format)].join('\n')
}

export function printSummary (summary, settings) {
  for (const { pipelining, rows } of summary) {
    console.log(`\nPipelining ${pipelining}: ${settings.connections} connections, ${settings.duration} s per run, ` +
      `median of ${settings.rounds} round(s)`)
    const header = ['contender', 'req/s', 'spread', 'rounds (req/s)', 'p99 ms', 'vs bare', 'vs fastify-jwt',
      'server CPU', 'CPU us/req', 'non-2xx', 'flags']
    const lines = rows.map((row) => [
      row.contender,
      integer(row.reqPerSec),
      spread(row.rounds),
      row.rounds.map(integer).join(' '),
      String(row.p99),
      ratio(row.vsBare),
      ratio(row.vsFastifyJwt),
      row.serverCpu.toFixed(2),
      row.cpuPerRequest.toFixed(1),
      String(row.non2xx),
      flags(row)
    ])
    console.log(table(header, lines))
  }
  console.log('\nreq/s: median over rounds of autocannon\'s mean req/s. spread: half the range, relative to the median.')
  console.log('p99 ms: median over rounds of the 99th-percentile latency. vs fastify-jwt: plugin contenders that send tokens.')
  console.log('server CPU: cores used by the server process (all threads). CPU us/req: server CPU time per response.')
  console.log('Flags: NON-2XX or ERRORS in some round; BUSY(n): in n round(s), other processes used more than ' +
    `${settings.busyThreshold} core during the run;`)
  console.log(`LG(n): in n round(s), the load generator used ${settings.generatorThreshold} core or more: it, not the server, ` +
    'set the req/s (compare CPU us/req instead).')
}

export function writeResults (data) {
  const directory = new URL('results/', import.meta.url)
  mkdirSync(directory, { recursive: true })
  const file = new URL('latest.json', directory)
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n')
  return file
}
