// One autocannon run against a server, with the CPU time of the server, of this process (the load
// generator) and of everything else on the machine.
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'

/** What a contender's requests carry: the header, its values in order, and the tokens to check with. */
export function tokensFor (contender, pool, coldPool) {
  if (contender.tokens === null) return { header: null, values: [], check: [] }
  const cookie = contender.transport === 'cookie'
  const header = cookie ? 'cookie' : 'authorization'
  const format = cookie ? (token) => `${contender.cookieName}=${token}` : (token) => `Bearer ${token}`
  const credential = (token) => ({ header, value: format(token) })
  if (contender.tokens === 'cold') return { header, values: coldPool.values, check: coldPool.check, credential }
  return { header, values: pool.map(({ token }) => format(token)), check: pool.length === 0 ? [] : [pool[0], pool[pool.length - 1]], credential }
}

/**
 * The values a run's requests carry (`Bearer <token>`, or `session=<token>` for a cookie).
 * A pool that may be reused (`fresh: false`) becomes prepared requests, dealt out to the
 * connections like cards: with 50 connections and 1,000 tokens, each connection goes through its
 * own 20 in turn, and the server sees all 1,000. autocannon builds each request once, so the load
 * generator's cost per request is the same small one for every contender. (Given the whole pool,
 * every connection would keep a copy of 1,000 prepared requests and cycle through them: that cost
 * the load generator 3 to 7 µs more per request than a single request did, measured on the
 * 2-core machine of docs/benchmarks.md, and on such a machine the load generator's time is taken
 * from the server.) A pool of new tokens (`fresh: true`, the cold contenders) is handed out in
 * order by one cursor for the warm-up and the measurement, so that no token is sent twice, with a
 * count of what was used to prove it; autocannon then builds every request anew.
 */
export class Rotation {
  // Shared by the warm-up and the measurement of a fresh pool.
  #cursor = { next: 0, sent: 0 }

  constructor (header, values, { fresh = false } = {}) {
    this.header = header
    this.values = values
    this.fresh = fresh
  }

  /** Values handed out from a fresh pool so far. */
  get used () {
    return this.#cursor.sent
  }

  get wrapped () {
    return this.used > this.values.length
  }

  /**
   * For a reusable pool, before the warm-up: every value twice, in order, over one connection.
   * The contender's cache (which keeps a token the second time it is verified) then starts the
   * warm-up holding the pool. Without this, every connection would start its share of the pool at
   * the same moment, and the first round through it would be concurrent verifications of each
   * token. Null for a fresh pool or no pool.
   */
  priming () {
    if (this.fresh || this.values.length === 0) return null
    return { amount: 2 * this.values.length, connections: 1, requests: [inOrder(this.header, this.values, { next: 0, sent: 0 })] }
  }

  /** autocannon's options for GET /hello with the values, as described above, for a run with `connections`. */
  load (connections) {
    const { header, values } = this
    if (values.length === 0) return { requests: [{ method: 'GET', path: '/hello' }] }
    if (this.fresh) return { requests: [inOrder(header, values, this.#cursor)] }
    const prepared = (value) => ({ method: 'GET', path: '/hello', headers: { [header]: value } })
    let clients = 0
    return {
      requests: [prepared(values[0])],
      setupClient: (client) => {
        const share = dealt(values, clients++, connections)
        // Client.setRequests refuses to run with pipelining; its request iterator's own method is
        // what it calls once that check passes. The client has not connected yet.
        if (typeof client.requestIterator?.setRequests !== 'function') {
          throw new Error('this autocannon version has no client.requestIterator.setRequests: bench/measure.js needs another way to give each connection its requests')
        }
        client.requestIterator.setRequests(share.map(prepared))
      }
    }
  }
}

// The values connection `index` of `connections` sends: every connections-th value from `index`
// (value `index` modulo the pool's size, when there are more connections than values).
function dealt (values, index, connections) {
  if (index >= values.length) return [values[index % values.length]]
  const share = []
  for (let position = index; position < values.length; position += connections) share.push(values[position])
  return share
}

// One request that autocannon builds anew each time, with the value at `cursor`, then moves it on.
function inOrder (header, values, cursor) {
  return {
    method: 'GET',
    path: '/hello',
    setupRequest: (request) => {
      request.headers[header] = values[cursor.next]
      cursor.next = cursor.next + 1 === values.length ? 0 : cursor.next + 1
      cursor.sent++
      return request
    }
  }
}

/**
 * The list in an order drawn from `seed` (the same seed, the same order). Each cycle of a round
 * takes the contenders in a new order, so that no contender is always measured right after the
 * same other one, whatever that one leaves behind (its garbage, the machine's state).
 */
export function shuffled (list, seed) {
  let state = seed >>> 0
  // mulberry32: a small seeded generator; the order only has to vary, not be unpredictable.
  const next = () => {
    state = (state + 0x6D2B79F5) >>> 0
    let value = Math.imul(state ^ (state >>> 15), 1 | state)
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value
    return ((value ^ (value >>> 14)) >>> 0) / 2 ** 32
  }
  const order = [...list]
  for (let index = order.length - 1; index > 0; index--) {
    const other = Math.floor(next() * (index + 1))
    ;[order[index], order[other]] = [order[other], order[index]]
  }
  return order
}

// The load generator's voluntary context switches: on Linux, those of this process's main thread,
// where autocannon runs; elsewhere, those of the whole process.
function generatorSleeps () {
  try {
    return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync('/proc/thread-self/status', 'utf8'))[1])
  } catch {
    return process.resourceUsage().voluntaryContextSwitches
  }
}

// Busy CPU time of the whole machine, in microseconds, from /proc/stat (Linux); null elsewhere.
export function machineBusy () {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    const [user, nice, system, , , irq, softirq, steal] = fields
    return (user + nice + system + irq + softirq + steal) * (1e6 / 100)
  } catch {
    return null
  }
}

// Requests still queued when autocannon stops (up to connections × pipelining of them) are served
// after it returns. The server's CPU is read once it has been idle for a step, so that this work
// counts in this run, and lands neither in the next run's figures nor on the next contender's.
const QUIET_STEP = 20
const QUIET_SHARE = 0.1
const QUIET_MAX = 1000

async function quiet (server) {
  let last = await server.stats()
  for (let waited = 0; waited < QUIET_MAX; waited += QUIET_STEP) {
    await sleep(QUIET_STEP)
    const now = await server.stats()
    if (now.cpu - last.cpu < QUIET_STEP * 1000 * QUIET_SHARE) return now
    last = now
  }
  return last
}

/**
 * Runs autocannon for `duration` seconds, then waits for the server to be idle. Returns its result, the CPU use in cores, the raw
 * times (microseconds) a round adds up over its slices: wall, server (and the kernel's part of it),
 * load generator, the rest; and how many times the load generator went to sleep for want of a
 * response (its voluntary context switches): each time, a response of the server had to wake it,
 * which on the virtual machine of docs/benchmarks.md showed in the server's system time.
 */
export async function measure (server, rotation, { connections, pipelining, duration }) {
  const options = {
    url: `http://127.0.0.1:${server.port}/hello`,
    connections,
    pipelining,
    duration,
    ...rotation.load(connections)
  }
  const serverBefore = await server.stats()
  const machineBefore = machineBusy()
  const clientBefore = process.cpuUsage()
  const sleepsBefore = generatorSleeps()
  const started = process.hrtime.bigint()

  const result = await autocannon(options)
  const sleeps = generatorSleeps() - sleepsBefore
  const serverAfter = await quiet(server)

  const wall = Number(process.hrtime.bigint() - started) / 1e3
  const client = process.cpuUsage(clientBefore)
  const machineAfter = machineBusy()
  const clientMicros = client.user + client.system
  const serverMicros = serverAfter.cpu - serverBefore.cpu
  // Other processes, the kernel's own work and hypervisor steal. Close to 0 on a quiet machine.
  const otherMicros = machineBefore === null ? null : Math.max(0, machineAfter - machineBefore - serverMicros - clientMicros)
  const cpu = {
    server: serverMicros / wall,
    client: clientMicros / wall,
    other: otherMicros === null ? null : otherMicros / wall
  }
  const serverSystem = serverAfter.system - serverBefore.system
  return { result, cpu, micros: { wall, server: serverMicros, serverSystem, client: clientMicros, other: otherMicros }, generatorSleeps: sleeps, rss: serverAfter.rss }
}
