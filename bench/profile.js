// CPU profiles of contenders' request paths: each server runs under `node --cpu-prof` while
// autocannon loads it, then each profile's self time is summed by function and by where the code
// lives (this plugin, jose, Fastify, Node's HTTP, …), and the plugin's own time by source line.
//   npm run bench:profile -- [contenders] [seconds] [pipelining]     (default plugin-hs256, 10 s, 1; whole seconds)
// `contenders` is one name, or several separated by commas: their servers are then up at once and
// take the load in 1 s slices, in turn, in a new order every cycle (as in `npm run bench`), so that
// the machine's drift reaches them alike, and the output puts them side by side, with the functions whose time per request
// differs most between the first and each other. The .cpuprofile files are kept in bench/results/
// to open in Chrome DevTools.
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { ColdPool, coldPoolSize } from './cold-tokens.js'
import { contenders } from './contenders.js'
import { Rotation, shuffled, tokensFor } from './measure.js'
import { ServerProcess } from './server-process.js'

const [namesText = 'plugin-hs256', secondsText = '10', pipeliningText = '1'] = process.argv.slice(2)
const names = namesText.split(',').map((name) => name.trim())
const seconds = Number(secondsText)
const pipelining = Number(pipeliningText)
const chosen = names.map((name) => contenders.find((item) => item.name === name))
if (chosen.includes(undefined) || new Set(names).size !== names.length || !Number.isInteger(seconds) || seconds < 1 || !Number.isInteger(pipelining) || pipelining < 1) {
  console.error(`usage: npm run bench:profile -- [contender[,contender...]] [seconds] [pipelining]\ncontenders: ${contenders.map((item) => item.name).join(', ')}`)
  process.exit(2)
}

const WARMUP = 2
const SLICE = 1
const SETTLE = 100
const CONNECTIONS = 50
const TOP = Number(process.env.PROFILE_TOP ?? 25)
// Where a function's code lives, by its URL: the first pattern that matches names it.
const PLACES = [
  // The plugin's own build, not a dependency's dist/ folder.
  ['fastify-jwt-security', /^(?!.*node_modules).*\/(dist|lib)\/[^/]+\.(js|ts)$/],
  ['jose', /node_modules\/jose\//],
  ['@fastify/jwt, fast-jwt', /node_modules\/(@fastify\/jwt|fast-jwt)\//],
  ['@fastify/cookie, cookie', /node_modules\/(@fastify\/cookie|cookie)\//],
  ['fastify', /node_modules\/(fastify|find-my-way|light-my-request|avvio|@fastify\/[^/]+)\//],
  ['pino', /node_modules\/(pino|sonic-boom)/],
  ['other dependencies', /node_modules\//],
  ['node (JS)', /^node:/],
  ['bench server', /\/bench\//]
]

let coldPool = null
if (chosen.some((contender) => contender.tokens === 'cold')) {
  coldPool = new ColdPool(coldPoolSize(WARMUP + seconds, 40_000))
  coldPool.ensureFresh(chosen.length * (WARMUP + 2 * seconds) + 60)
}

// Every server is primed, warmed up, then loaded; its figures count every request it served while
// it was profiled, priming and warm-up included, since its profile covers them too.
const live = []
try {
  for (const contender of chosen) {
    const directory = mkdtempSync(join(tmpdir(), 'jwt-security-profile-'))
    const server = await ServerProcess.start(contender.name, contender.tokens === 'cold' ? coldPool.env : {}, ['--cpu-prof', `--cpu-prof-dir=${directory}`])
    const entry = { contender, directory, server, requests: 0, measured: 0, seconds: 0 }
    live.push(entry)
    const { header, values } = tokensFor(contender, server.pool, coldPool)
    entry.rotation = new Rotation(header, values, { fresh: contender.tokens === 'cold' })
    entry.url = `http://127.0.0.1:${server.port}/hello`
    const priming = entry.rotation.priming()
    if (priming !== null) entry.requests += (await autocannon({ url: entry.url, ...priming })).requests.total
  }
  const load = (entry, duration) => autocannon({ url: entry.url, connections: CONNECTIONS, pipelining, duration, ...entry.rotation.load(CONNECTIONS) })
  for (const entry of live) entry.requests += (await load(entry, WARMUP)).requests.total
  const slice = live.length === 1 ? seconds : SLICE
  for (let elapsed = 0, cycle = 0; elapsed < seconds; elapsed += slice, cycle++) {
    for (const entry of shuffled(live, cycle)) {
      // Let the previous server finish the requests still queued when its load stopped.
      await sleep(SETTLE)
      const result = await load(entry, Math.min(slice, seconds - elapsed))
      entry.requests += result.requests.total
      entry.measured += result.requests.total
      entry.seconds += result.duration
    }
  }
} finally {
  for (const entry of live) await entry.server.disconnect()
}

for (const entry of live) {
  const file = readdirSync(entry.directory).find((name) => name.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`the server of ${entry.contender.name} wrote no profile`)
  entry.kept = fileURLToPath(new URL(`./results/${entry.contender.name}.cpuprofile`, import.meta.url))
  renameSync(join(entry.directory, file), entry.kept)
  rmSync(entry.directory, { recursive: true, force: true })
  Object.assign(entry, summarizeProfile(JSON.parse(readFileSync(entry.kept, 'utf8'))))
}

/** Self time (µs) by function, by place and, for the plugin's own code, by source line; busy total. */
function summarizeProfile (profile) {
  const selfMicros = new Map()
  const intervals = profile.timeDeltas
  for (let index = 0; index < profile.samples.length; index++) {
    const id = profile.samples[index]
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (intervals[index] ?? 0))
  }
  const byFunction = new Map()
  const byPlace = new Map()
  // The plugin's self time by source line (of dist/*.js), from the samples' line ticks: a function's
  // time is shared among its lines, which tells which statement of an inlined function costs. The
  // lines of a function inlined into another are reported with the outer function's name.
  const byLine = new Map()
  let busy = 0
  for (const node of profile.nodes) {
    const micros = selfMicros.get(node.id) ?? 0
    if (micros === 0) continue
    const { functionName, url, lineNumber } = node.callFrame
    const place = url === '' ? (functionName === '(idle)' ? 'idle' : `(${functionName || 'native'})`) : (PLACES.find(([, pattern]) => pattern.test(url))?.[0] ?? 'other')
    if (place === 'idle') continue
    const key = `${functionName || '(anonymous)'} ${url === '' ? '' : `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|lib|bench)\//, '$1/')}:${lineNumber + 1}`}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros)
    byPlace.set(place, (byPlace.get(place) ?? 0) + micros)
    busy += micros
    const lines = node.positionTicks ?? []
    const ticks = lines.reduce((sum, line) => sum + line.ticks, 0)
    if (place !== 'fastify-jwt-security' || ticks === 0) continue
    for (const line of lines) {
      const where = `${url.replace(/^file:\/\/.*\/(dist|lib)\//, '$1/')}:${line.line} ${functionName || '(anonymous)'}`
      byLine.set(where, (byLine.get(where) ?? 0) + micros * line.ticks / ticks)
    }
  }
  return { byFunction, byPlace, byLine, busy }
}

const perRequest = (entry, micros) => (micros ?? 0) / entry.requests
const WIDTH = 14
const cell = (value) => value.toFixed(2).padStart(WIDTH)
const title = (name) => (name.length < WIDTH ? name : name.slice(0, WIDTH - 2) + '…').padStart(WIDTH)
const sorted = (map) => [...map].sort((a, b) => b[1] - a[1])

for (const entry of live) {
  console.log(`${entry.contender.name}: ${Math.round(entry.measured / entry.seconds).toLocaleString('en-US')} req/s over ${seconds} s ` +
    `(${live.length === 1 ? 'one run' : `${SLICE} s slices in turn with ${live.length - 1} other(s)`}); ${entry.requests.toLocaleString('en-US')} requests ` +
    `served while profiled (priming and ${WARMUP} s warm-up included); busy main thread ${(entry.busy / 1e6).toFixed(2)} s, ` +
    `${perRequest(entry, entry.busy).toFixed(1)} µs per request; profile: ${entry.kept}`)
}

const header = live.map((entry) => title(entry.contender.name)).join('')
// Places under this many µs per request in every profile are summed into one line.
const MINOR = 0.05
console.log(`\nSelf time by place, µs per request (idle excluded):\n${header}`)
const places = sorted(live[0].byPlace).map(([place]) => place)
for (const entry of live.slice(1)) for (const [place] of sorted(entry.byPlace)) if (!places.includes(place)) places.push(place)
const minor = places.filter((place) => live.every((entry) => perRequest(entry, entry.byPlace.get(place)) < MINOR))
for (const place of places.filter((item) => !minor.includes(item))) console.log(`${live.map((entry) => cell(perRequest(entry, entry.byPlace.get(place)))).join('')}  ${place}`)
if (minor.length > 0) {
  const rest = (entry) => minor.reduce((sum, place) => sum + perRequest(entry, entry.byPlace.get(place)), 0)
  console.log(`${live.map((entry) => cell(rest(entry))).join('')}  ${minor.length} other places, each under ${MINOR}`)
}
console.log(`${live.map((entry) => cell(perRequest(entry, entry.busy))).join('')}  total`)

if (live.length === 1) {
  const [entry] = live
  console.log(`\nTop ${TOP} functions by self time, µs per request:`)
  for (const [key, micros] of sorted(entry.byFunction).slice(0, TOP)) console.log(`${cell(perRequest(entry, micros))}  ${key}`)
} else {
  const [first] = live
  for (const other of live.slice(1)) {
    console.log(`\nTop ${TOP} differences by function, µs per request (${other.contender.name} minus ${first.contender.name}):`)
    const keys = new Set([...first.byFunction.keys(), ...other.byFunction.keys()])
    const rows = [...keys].map((key) => [key, perRequest(first, first.byFunction.get(key)), perRequest(other, other.byFunction.get(key))])
    rows.sort((a, b) => Math.abs(b[2] - b[1]) - Math.abs(a[2] - a[1]))
    console.log(`${title(first.contender.name)}${title(other.contender.name)}${'diff'.padStart(WIDTH)}`)
    for (const [key, mine, theirs] of rows.slice(0, TOP)) console.log(`${cell(mine)}${cell(theirs)}${cell(theirs - mine)}  ${key}`)
  }
}

for (const entry of live.filter((item) => item.byLine.size > 0)) {
  console.log(`\nTop ${TOP} lines of the plugin's code by self time, µs per request, in ${entry.contender.name} (lines of its build):`)
  for (const [where, micros] of sorted(entry.byLine).slice(0, TOP)) console.log(`${cell(perRequest(entry, micros))}  ${where}`)
}
