// One autocannon run against a server, with the CPU time of the server, of this process (the load
// generator) and of everything else on the machine.
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

/**
 * The values a run's requests carry (`Bearer <token>`, or `session=<token>` for a cookie).
 * A pool that may be reused (`fresh: false`) becomes one prepared request per value, which every
 * connection cycles through: autocannon builds each request once, so the load generator's cost per
 * request is the same small one for every contender. A pool of new tokens (`fresh: true`, the cold
 * contenders) is handed out in order by one cursor for the warm-up and the measurement, so that no
 * token is sent twice, with a count of what was used to prove it; autocannon then builds every
 * request anew.
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
   * warm-up holding the pool. Without this, every connection would start at the first value at
   * the same moment, and each value's first round would be 50 concurrent verifications: for a
   * pool of 1,000, a cold first round of 50,000 requests. Null for a fresh pool or no pool.
   */
  priming () {
    if (this.fresh || this.values.length === 0) return null
    return { amount: 2 * this.values.length, connections: 1, requests: [inOrder(this.header, this.values, { next: 0, sent: 0 })] }
  }

  /** Requests for autocannon: GET /hello, with the values as described above. */
  requests () {
    const { header, values } = this
    if (values.length === 0) return [{ method: 'GET', path: '/hello' }]
    if (!this.fresh) return values.map((value) => ({ method: 'GET', path: '/hello', headers: { [header]: value } }))
    return [inOrder(header, values, this.#cursor)]
  }
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

/** Runs autocannon for `duration` seconds; returns its result and the CPU use, in cores. */
export async function measure (server, rotation, { connections, pipelining, duration }) {
  const options = {
    url: `http://127.0.0.1:${server.port}/hello`,
    connections,
    pipelining,
    duration,
    requests: rotation.requests()
  }
  const serverBefore = await server.stats()
  const machineBefore = machineBusy()
  const clientBefore = process.cpuUsage()
  const started = process.hrtime.bigint()

  const result = await autocannon(options)

  const wall = Number(process.hrtime.bigint() - started) / 1e3
  const client = process.cpuUsage(clientBefore)
  const machineAfter = machineBusy()
  const serverAfter = await server.stats()
  const clientCpu = (client.user + client.system) / wall
  const serverCpu = (serverAfter.cpu - serverBefore.cpu) / wall
  const cpu = {
    server: serverCpu,
    client: clientCpu,
    // Other processes, the kernel's own work and hypervisor steal. Close to 0 on a quiet machine.
    other: machineBefore === null ? null : Math.max(0, (machineAfter - machineBefore) / wall - serverCpu - clientCpu)
  }
  return { result, cpu, serverMicros: serverAfter.cpu - serverBefore.cpu, rss: serverAfter.rss }
}
