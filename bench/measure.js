// One autocannon run against a server, with the CPU time of the server, of this process (the load
// generator) and of everything else on the machine.
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

/**
 * Requests for autocannon: GET /hello, each one with the next token of the pool, round-robin over
 * all connections. Contenders without tokens go through the same setupRequest, so the load
 * generator does the same work per request for every contender.
 */
export function rotatingRequests (pool) {
  if (pool.length === 0) return [{ method: 'GET', path: '/hello', setupRequest: (request) => request }]
  const headers = pool.map(({ token }) => `Bearer ${token}`)
  let next = 0
  return [{
    method: 'GET',
    path: '/hello',
    setupRequest (request) {
      request.headers.authorization = headers[next]
      next = (next + 1) % headers.length
      return request
    }
  }]
}

// Busy CPU time of the whole machine, in microseconds, from /proc/stat (Linux); null elsewhere.
function machineBusy () {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    const [user, nice, system, , , irq, softirq, steal] = fields
    return (user + nice + system + irq + softirq + steal) * (1e6 / 100)
  } catch {
    return null
  }
}

/** Runs autocannon for `duration` seconds; returns its result and the CPU use, in cores. */
export async function measure (server, { connections, pipelining, duration }) {
  const options = {
    url: `http://127.0.0.1:${server.port}/hello`,
    connections,
    pipelining,
    duration,
    requests: rotatingRequests(server.pool)
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
