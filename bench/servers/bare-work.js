// Contender "bare-work": "bare-token" plus a fixed amount of arithmetic on every request, 2 µs by
// default (BENCH_WORK_NS), timed at start-up. A control, not a competitor: divided by "bare-token"
// in the same run, it shows what a known amount of a server's own work costs a req/s ratio on the
// machine of the run, at each pipelining level, to read the other ratios against.
import { performance } from 'node:perf_hooks'
import { serveBareCarrying } from './bare-carrying.js'

const WORK_NS = Number(process.env.BENCH_WORK_NS ?? 2000)
if (!Number.isInteger(WORK_NS) || WORK_NS < 1) throw new Error(`BENCH_WORK_NS must be a positive whole number of nanoseconds, not ${process.env.BENCH_WORK_NS}`)
const CALIBRATION_ITERATIONS = 1_000_000
const CALIBRATION_RUNS = 20

// Integer mixing with no allocation and no memory traffic: its time does not depend on what the
// rest of the server does. Each call starts from the last one's result, so it cannot be optimised away.
let last = 0x1e3779b9
function mix (iterations) {
  let state = last
  for (let index = 0; index < iterations; index++) state = Math.imul(state ^ (state >>> 15), 0x2c1b3c6d)
  last = state & 0x3fffffff
}

// The fastest of several runs: the machine's slow moments only lengthen a run.
let fastest = Infinity
for (let run = 0; run < CALIBRATION_RUNS; run++) {
  const started = performance.now()
  mix(CALIBRATION_ITERATIONS)
  fastest = Math.min(fastest, performance.now() - started)
}
const nsPerIteration = fastest * 1e6 / CALIBRATION_ITERATIONS
const iterations = Math.max(1, Math.round(WORK_NS / nsPerIteration))

await serveBareCarrying(() => mix(iterations), { workNs: WORK_NS, iterations, nsPerIteration })
