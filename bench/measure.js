// The servers (child processes), the checks before a run, the tokens sent, and one measured slice.
import { fork } from 'node:child_process'
import { createHash, createHmac, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import autocannon from 'autocannon'

const SERVERS = fileURLToPath(new URL('./servers.js', import.meta.url))

/** Forks `node bench/servers.js <name>` and waits for its port and token pool. */
export async function startServer (name, env = {}) {
  const child = fork(SERVERS, [name], { execArgv: [], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const exited = once(child, 'exit')
  const receive = (type, timeout) => new Promise((resolve, reject) => {
    const done = (settle, value) => {
      clearTimeout(timer)
      child.off('message', onMessage).off('exit', onExit)
      settle(value)
    }
    const onMessage = (message) => { if (message?.type === type) done(resolve, message) }
    const onExit = (code) => done(reject, new Error(`server ${name} exited (code ${code}) before sending "${type}"`))
    const timer = setTimeout(() => done(reject, new Error(`server ${name}: no "${type}" after ${timeout} ms`)), timeout)
    child.on('message', onMessage).on('exit', onExit)
  })
  const server = {
    name,
    /** The server's CPU time so far, in microseconds (all threads, the kernel's part included). */
    async cpu () {
      child.send({ type: 'stats' })
      const { cpu } = await receive('stats', 10_000)
      return cpu.user + cpu.system
    },
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
  }
  try {
    const { port, pool } = await receive('ready', 60_000)
    return Object.assign(server, { port, pool })
  } catch (error) {
    await server.stop()
    throw error
  }
}

export class CheckError extends Error {}

async function get (port, path, header) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: header ?? {} })
  return { status: response.status, body: await response.json().catch(() => null) }
}

/**
 * Throws a CheckError unless the server answers 200 with the token's userid (the first and last of
 * its pool, or cold tokens the load generator never sends), 401 to a tampered token, to a replayed
 * DPoP proof and to its protected path without a token, 200 hello world without tokens: no run
 * measures an error path.
 */
export async function check (contender, server, tokens) {
  const expect = (what, response, status, body) => {
    if (response.status !== status || (body !== undefined && !isDeepStrictEqual(response.body, body))) {
      throw new CheckError(`${contender.name}: ${what}: expected ${status} ${JSON.stringify(body ?? '')}, got ${response.status} ${JSON.stringify(response.body)}`)
    }
  }
  if (contender.tokens === null) {
    expect('GET /hello without a token', await get(server.port, '/hello'), 200, { hello: 'world' })
  } else {
    if (tokens.check.length === 0) throw new CheckError(`${contender.name}: no tokens to send`)
    for (const { userid, token } of tokens.check) {
      expect(`GET /hello with the token of ${userid}`, await get(server.port, '/hello', tokens.header(token)), 200, { hello: userid })
    }
    const token = tokens.check[0].token
    const at = token.lastIndexOf('.') + 1
    const tampered = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1)
    expect('GET /hello with a tampered token', await get(server.port, '/hello', tokens.header(tampered)), 401)
    if (contender.transport === 'dpop') {
      // The proof is checked on every request, the token cached or not: the same one twice is a replay.
      const headers = tokens.header(token)
      expect('GET /hello with a new DPoP proof', await get(server.port, '/hello', headers), 200)
      expect('GET /hello with that proof again', await get(server.port, '/hello', headers), 401)
    }
  }
  if (contender.protected !== undefined) {
    expect(`GET ${contender.protected} without a token`, await get(server.port, contender.protected), 401)
  }
}

/**
 * The tokens of the cold contenders, with the claims of the warm pools, signed by hand with
 * node:crypto (the servers get the secret in BENCH_JWT_SECRET): no server sees a token twice.
 */
export class ColdPool {
  secret = randomBytes(32)
  check = []
  values = []
  expiresAt = 0

  constructor (size) {
    this.size = size
  }

  get env () {
    return { BENCH_JWT_SECRET: this.secret.toString('base64url') }
  }

  /** Signs the pool, again when it would expire within `seconds` (and two minutes) from now; returns the signing time in ms, or null. */
  ensureFresh (seconds) {
    if (Date.now() / 1000 + seconds + 120 < this.expiresAt) return null
    this.values = []
    const started = performance.now()
    const iat = Math.floor(Date.now() / 1000)
    const header = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')
    const sign = (sub) => {
      const input = `${header}.${Buffer.from(`{"sub":"${sub}","iat":${iat},"exp":${iat + 3600},"jti":"${randomUUID()}","roles":["view"]}`).toString('base64url')}`
      return `${input}.${createHmac('sha256', this.secret).update(input).digest('base64url')}`
    }
    this.check = ['c0000', 'c0001'].map((userid) => ({ userid, token: sign(userid) }))
    // One flat string per request (through latin1): less memory than a concatenation's tree.
    for (let index = 0; index < this.size; index++) {
      this.values.push(Buffer.from(`Bearer ${sign('u' + String(index % 1000).padStart(4, '0'))}`, 'latin1').toString('latin1'))
    }
    this.expiresAt = iat + 3600
    return performance.now() - started
  }
}

const athOf = (token) => createHash('sha256').update(token).digest('base64url')

/**
 * The proofs of a DPoP contender, signed by hand with node:crypto with this key (an ES256 or Ed25519
 * one), whose thumbprint the server binds its pool to: a new jti and iat per proof, never sent twice,
 * as a client makes them (RFC 9449 §4.2). A proof lives the server's maxAge (10 minutes, the most),
 * and names its tokens (ath): the pool is signed anew for every server, once it has sent them.
 */
export class ProofPool {
  // The server's publicOrigin, as behind a proxy: htu is it and the path, whatever port it listens on.
  origin = 'http://127.0.0.1'
  values = []
  #header
  #sign

  constructor (algorithm, size) {
    const [type, options, digest] = algorithm === 'ES256' ? ['ec', { namedCurve: 'P-256' }, 'sha256'] : ['ed25519', {}, null]
    const { publicKey, privateKey } = generateKeyPairSync(type, options)
    const { crv, kty, x, y } = publicKey.export({ format: 'jwk' })
    // RFC 7638: the required members, in lexicographic order (y is undefined for Ed25519, and left out).
    const jwk = JSON.stringify({ crv, kty, x, y })
    this.#header = Buffer.from(`{"typ":"dpop+jwt","alg":"${algorithm}","jwk":${jwk}}`).toString('base64url')
    this.#sign = (input) => sign(digest, Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')
    this.jkt = createHash('sha256').update(jwk).digest('base64url')
    this.size = size
  }

  get env () {
    return { BENCH_DPOP_JKT: this.jkt, BENCH_DPOP_ORIGIN: this.origin }
  }

  /** A new proof for the token whose hash is `ath`, one flat string as the cold pool's tokens. */
  proof (ath) {
    const input = `${this.#header}.${Buffer.from(`{"jti":"${randomUUID()}","htm":"GET","htu":"${this.origin}/hello","iat":${Math.floor(Date.now() / 1000)},"ath":"${ath}"}`).toString('base64url')}`
    return Buffer.from(`${input}.${this.#sign(input)}`, 'latin1').toString('latin1')
  }

  /** Signs the pool for the server's tokens, taken in turn. */
  fill (pool) {
    const tokens = pool.map(({ token }) => ({ authorization: `DPoP ${token}`, ath: athOf(token) }))
    this.values = []
    for (let index = 0; index < this.size; index++) {
      const { authorization, ath } = tokens[index % tokens.length]
      this.values.push({ authorization, dpop: this.proof(ath) })
    }
  }
}

/**
 * What a contender's requests carry: the header name and its values in order (name null: each value
 * is a set of headers, a DPoP token and its proof), whether they are fresh (never sent twice), the
 * tokens to check with.
 */
export function tokensFor (contender, pool, coldPool, proofPool) {
  if (contender.tokens === null) return { name: null, values: [], check: [] }
  if (contender.transport === 'dpop') {
    proofPool.fill(pool)
    return { name: null, values: proofPool.values, fresh: true, check: [pool[0], pool.at(-1)], header: (token) => ({ authorization: `DPoP ${token}`, dpop: proofPool.proof(athOf(token)) }) }
  }
  const cookie = contender.transport === 'cookie'
  const name = cookie ? 'cookie' : 'authorization'
  const format = cookie ? (token) => `session=${token}` : (token) => `Bearer ${token}`
  const header = (token) => ({ [name]: format(token) })
  if (contender.tokens === 'cold') return { name, values: coldPool.values, fresh: true, check: coldPool.check, header }
  return { name, values: pool.map(({ token }) => format(token)), fresh: false, check: [pool[0], pool.at(-1)], header }
}

/**
 * The requests of a contender, as autocannon options. A reusable pool becomes prepared requests
 * dealt out to the connections like cards (50 connections, 1,000 tokens: 20 each, in turn), so the
 * load generator builds no request during the run and keeps one copy of the pool: every
 * connection cycling through the whole pool cost it several µs more per request, time that on a
 * small machine is taken from the server. A cold pool is handed out by one cursor, shared by the
 * warm-up and the slices, so no token is sent twice; `wrapped` tells if the pool ran out.
 */
export class Rotation {
  #cursor = { next: 0, sent: 0 }

  constructor (header, values, fresh) {
    Object.assign(this, { header, values, fresh })
  }

  get wrapped () {
    return this.#cursor.sent > this.values.length
  }

  /** Before the warm-up: every token of a reusable pool twice, in order, over one connection, so a cache holds the pool. */
  priming () {
    if (this.fresh || this.values.length === 0) return null
    return { amount: 2 * this.values.length, connections: 1, requests: [this.#inOrder({ next: 0, sent: 0 })] }
  }

  load (connections) {
    const { header, values } = this
    if (values.length === 0) return { requests: [{ method: 'GET', path: '/hello' }] }
    if (this.fresh) return { requests: [this.#inOrder(this.#cursor)] }
    const prepared = (value) => ({ method: 'GET', path: '/hello', headers: { [header]: value } })
    let clients = 0
    return {
      requests: [prepared(values[0])],
      setupClient: (client) => {
        const index = clients++
        const share = index < values.length ? values.filter((_, position) => position % connections === index) : [values[index % values.length]]
        // Client.setRequests refuses pipelining; its request iterator's method is what it calls.
        if (typeof client.requestIterator?.setRequests !== 'function') throw new Error('this autocannon has no client.requestIterator.setRequests')
        client.requestIterator.setRequests(share.map(prepared))
      }
    }
  }

  // One request that autocannon builds anew each time, with the value at the cursor (its headers when `header` is null).
  #inOrder (cursor) {
    const { header, values } = this
    return {
      method: 'GET',
      path: '/hello',
      setupRequest: (request) => {
        if (header === null) Object.assign(request.headers, values[cursor.next])
        else request.headers[header] = values[cursor.next]
        cursor.next = (cursor.next + 1) % values.length
        cursor.sent++
        return request
      }
    }
  }
}

/** The list in an order drawn from `seed` (mulberry32): each cycle of slices takes the contenders in a new order. */
export function shuffled (list, seed) {
  let state = seed >>> 0
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

/** Busy CPU time of the whole machine in microseconds, from /proc/stat (Linux); null elsewhere. */
function machineBusy () {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    return (user + nice + system + irq + softirq + steal) * 1e4
  } catch {
    return null
  }
}

// Requests still queued when autocannon stops are served after it returns: the server's CPU is
// read once it has been idle for 20 ms (at most 1 s), so that work counts in this slice.
async function quiet (server) {
  let last = await server.cpu()
  for (let waited = 0; waited < 1000; waited += 20) {
    await sleep(20)
    const now = await server.cpu()
    if (now - last < 2000) return now
    last = now
  }
  return last
}

/** One slice: autocannon for `duration` s, with the CPU (cores) of the server, the load generator and everything else. */
export async function measure (server, rotation, { connections, pipelining, duration }) {
  const serverBefore = await server.cpu()
  const machineBefore = machineBusy()
  const clientBefore = process.cpuUsage()
  const started = performance.now()
  const result = await autocannon({ url: `http://127.0.0.1:${server.port}/hello`, connections, pipelining, duration, ...rotation.load(connections) })
  const serverMicros = (await quiet(server)) - serverBefore
  const wall = (performance.now() - started) * 1000
  const client = process.cpuUsage(clientBefore)
  const clientMicros = client.user + client.system
  const machineAfter = machineBusy()
  return {
    reqPerSec: result.requests.total / result.duration,
    responses: result.requests.total,
    seconds: result.duration,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    micros: { wall, server: serverMicros },
    cpu: {
      server: serverMicros / wall,
      client: clientMicros / wall,
      // Other processes, the kernel's own work, hypervisor steal: close to 0 on a quiet machine.
      other: machineBefore === null ? null : Math.max(0, machineAfter - machineBefore - serverMicros - clientMicros) / wall
    }
  }
}
