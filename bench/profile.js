// CPU profile of one contender's request path: the server runs under `node --cpu-prof` while
// autocannon loads it, then the profile's self time is summed by function and by where the code
// lives (this plugin, jose, Fastify, Node's HTTP, …), and the plugin's own time by source line.
//   npm run bench:profile -- [contender] [seconds] [pipelining]     (default plugin-hs256, 10 s, 1)
// The .cpuprofile file is kept in bench/results/ to open in Chrome DevTools.
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { ColdPool, coldPoolSize } from './cold-tokens.js'
import { contenders } from './contenders.js'
import { Rotation } from './measure.js'
import { ServerProcess } from './server-process.js'

const [name = 'plugin-hs256', secondsText = '10', pipeliningText = '1'] = process.argv.slice(2)
const seconds = Number(secondsText)
const pipelining = Number(pipeliningText)
const contender = contenders.find((item) => item.name === name)
if (contender === undefined || !(seconds > 0) || !Number.isInteger(pipelining) || pipelining < 1) {
  console.error(`usage: npm run bench:profile -- [${contenders.map((item) => item.name).join('|')}] [seconds] [pipelining]`)
  process.exit(2)
}

const WARMUP = 2
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

const directory = mkdtempSync(join(tmpdir(), 'jwt-security-profile-'))
let coldPool = null
if (contender.tokens === 'cold') {
  coldPool = new ColdPool(coldPoolSize(WARMUP + seconds, 40_000))
  coldPool.ensureFresh(WARMUP + seconds)
}
const server = await ServerProcess.start(name, coldPool?.env ?? {}, ['--cpu-prof', `--cpu-prof-dir=${directory}`])
const header = contender.transport === 'cookie' ? 'cookie' : 'authorization'
const values = contender.tokens === null
  ? []
  : coldPool?.values ?? server.pool.map(({ token }) => header === 'cookie' ? `${contender.cookieName}=${token}` : `Bearer ${token}`)
const rotation = new Rotation(values.length === 0 ? null : header, values, { fresh: coldPool !== null })
const load = { url: `http://127.0.0.1:${server.port}/hello`, connections: 50, pipelining, ...rotation.load(50) }
const priming = rotation.priming()
if (priming !== null) await autocannon({ url: load.url, ...priming })
await autocannon({ ...load, duration: WARMUP })
const result = await autocannon({ ...load, duration: seconds })
await server.disconnect()

const file = readdirSync(directory).find((entry) => entry.endsWith('.cpuprofile'))
if (file === undefined) throw new Error('the server wrote no profile')
const kept = fileURLToPath(new URL(`./results/${name}.cpuprofile`, import.meta.url))
renameSync(join(directory, file), kept)
rmSync(directory, { recursive: true, force: true })

const profile = JSON.parse(readFileSync(kept, 'utf8'))
const selfMicros = new Map()
const intervals = profile.timeDeltas
for (let index = 0; index < profile.samples.length; index++) {
  const id = profile.samples[index]
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + (intervals[index] ?? 0))
}
const byFunction = new Map()
const byPlace = new Map()
// The plugin's self time by source line (of dist/*.js), from the samples' line ticks: a function's
// time is shared among its lines, which tells which statement of an inlined function costs.
const byLine = new Map()
let total = 0
for (const node of profile.nodes) {
  const micros = selfMicros.get(node.id) ?? 0
  if (micros === 0) continue
  const { functionName, url, lineNumber } = node.callFrame
  const place = url === '' ? (functionName === '(idle)' ? 'idle' : `(${functionName || 'native'})`) : (PLACES.find(([, pattern]) => pattern.test(url))?.[0] ?? 'other')
  const key = `${functionName || '(anonymous)'} ${url === '' ? '' : `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|lib|bench)\//, '$1/')}:${lineNumber + 1}`}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + micros)
  byPlace.set(place, (byPlace.get(place) ?? 0) + micros)
  if (place !== 'idle') total += micros
  const lines = node.positionTicks ?? []
  const ticks = lines.reduce((sum, line) => sum + line.ticks, 0)
  if (place !== 'fastify-jwt-security' || ticks === 0) continue
  for (const line of lines) {
    const where = `${url.replace(/^file:\/\/.*\/(dist|lib)\//, '$1/')}:${line.line} ${functionName || '(anonymous)'}`
    byLine.set(where, (byLine.get(where) ?? 0) + micros * line.ticks / ticks)
  }
}
const requests = result.requests.total
const percent = (micros) => `${(100 * micros / total).toFixed(1).padStart(5)} %`
const perRequest = (micros) => `${(micros / requests).toFixed(2).padStart(6)} µs/req`
console.log(`${name}: ${Math.round(result.requests.average)} req/s over ${seconds} s, ${requests} requests; busy CPU ${(total / 1e6).toFixed(2)} s (${(total / requests).toFixed(1)} µs per request) in the server's main thread`)
console.log(`profile: ${kept}\n\nSelf time by place (idle excluded):`)
for (const [place, micros] of [...byPlace].filter(([place]) => place !== 'idle').sort((a, b) => b[1] - a[1])) {
  console.log(`  ${percent(micros)} ${perRequest(micros)}  ${place}`)
}
console.log(`\nTop ${TOP} functions by self time:`)
for (const [key, micros] of [...byFunction].filter(([key]) => !key.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
  console.log(`  ${percent(micros)} ${perRequest(micros)}  ${key}`)
}
console.log(`\nTop ${TOP} lines of the plugin's code by self time (lines of its build):`)
for (const [where, micros] of [...byLine].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
  console.log(`  ${percent(micros)} ${perRequest(micros)}  ${where}`)
}
