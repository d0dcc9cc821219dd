// Shared by the server scripts. Each one runs in its own child process, forked by bench/run.js: it
// listens on 127.0.0.1, port 0, and sends the parent its port and its token pool by IPC.
import { fullCollection } from '../full-collection.js'

export const POOL_SIZE = 1000

/** The userids of the pool: 'u0000' to 'u0999', as long as 'world', so every reply has the same size. */
export function userids (size = POOL_SIZE) {
  return Array.from({ length: size }, (_, index) => 'u' + String(index).padStart(4, '0'))
}

/** Signs one token per userid with the contender's own signer. */
export async function tokenPool (sign) {
  const pool = []
  for (const userid of userids()) {
    pool.push({ userid, token: await sign(userid) })
  }
  return pool
}

/** Starts `app` on a random loopback port and reports `{ port, pool, details }` to the parent. */
export async function serve (app, pool = [], details = null) {
  if (typeof process.send !== 'function') {
    throw new Error('this is a benchmark server: run it with `npm run bench`')
  }
  // Never outlive the parent.
  process.on('disconnect', () => process.exit(0))
  // The parent asks for the CPU time of this process (all threads, the libuv pool included).
  process.on('message', (message) => {
    if (message?.type === 'stats') {
      process.send({ type: 'stats', cpu: process.cpuUsage(), rss: process.memoryUsage.rss() })
    }
  })
  // Every contender is readied and meets its load after a full collection of its startup garbage.
  // Without it, a server that was readied and loaded right after registering a plugin (even an
  // empty one) often ran Node's process.nextTick with megamorphic inline caches on its tick
  // objects, 1.5 to 7.3 µs per request for the whole run, while one that did more work between
  // the two (signing its token pool) did not: a difference of startup history, not of request
  // path. The collection has to come before app.ready(): one after it did not help
  // (docs/benchmarks.md, "Where the time goes").
  if (fullCollection === null) throw new Error('this runtime refused --expose-gc at run time: the benchmark servers need a full collection before they take load')
  fullCollection()
  await app.listen({ host: '127.0.0.1', port: 0 })
  process.send({ type: 'ready', port: app.server.address().port, pool, details })
}

/** The HS256 secret of the cold contenders, from the parent (bench/cold-tokens.js). */
export function coldSecret () {
  const text = process.env.BENCH_JWT_SECRET
  if (text === undefined || text === '') throw new Error('BENCH_JWT_SECRET is not set: run the cold contenders with `npm run bench`')
  return Buffer.from(text, 'base64url')
}
