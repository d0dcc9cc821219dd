// One autocannon run against a server, with the CPU time of the server, of this process (the load
// generator) and of everything else on the machine.
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

/**
 * The values a run's requests carry (`Bearer <token>`, or `session=<token>` for a cookie), in
 * order: one cursor for the warm-up and the measurement, so that a run of a cold contender never
 * sends a token twice, and a count of what was used to prove it.
 */
export class Rotation {
  #next = 0
  used = 0

  constructor (header, values) {
    this.header = header
    this.values = values
  }

  get wrapped () {
    return this.used > this.values.length
  }

  /** Requests for autocannon: GET /hello, each one with the next value, round-robin over all connections. */
  requests () {
    const { header, values } = this
    // Contenders without tokens go through the same setupRequest, so the load generator does the
    // same work per request for every contender.
    if (values.length === 0) return [{ method: 'GET', path: '/hello', setupRequest: (request) => request }]
    return [{
      method: 'GET',
      path: '/hello',
      setupRequest: (request) => {
        request.headers[header] = values[this.#next]
        this.#next = this.#next + 1 === values.length ? 0 : this.#next + 1
        this.used++
        return request
      }
    }]
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
