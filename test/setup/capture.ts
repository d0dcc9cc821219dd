// The log capture of one test process (see ./log-capture.ts): every pino line any Fastify instance
// wrote, every sensitive value the process handled, and the scan of the one for the other.
import { createPrivateKey, KeyObject, type webcrypto } from 'node:crypto'
import { relative } from 'node:path'
import { types } from 'node:util'

/** Shorter values are not checked: 'alice' or 'HS256' in a log line is no leak. */
export const MIN_LENGTH = 16

const lines: string[] = []
/** Every form of every recorded value (≥ MIN_LENGTH), with what it is. */
const values = new Map<string, string>()
const seenHeaders = new Set<string>()
const processedStrings = new Set<string>()
const processedObjects = new WeakSet<object>()

/** Keeps one line a logger wrote. */
export function captureLine (line: string): void {
  lines.push(line)
}

// What JSON.stringify escapes: quotes, backslashes, control characters and lone surrogates.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPING = /["\\\u0000-\u001F\uD800-\uDFFF]/

/** Records a value that must never appear in a log line, and its JSON-escaped form (pino escapes). */
export function recordValue (value: string, label: string): void {
  if (value.length < MIN_LENGTH || values.has(value)) return
  values.set(value, label)
  if (NEEDS_ESCAPING.test(value)) {
    const escaped = JSON.stringify(value).slice(1, -1)
    if (!values.has(escaped)) values.set(escaped, label)
  }
}

/** Records a token and its payload and signature segments (the header segment says only alg and typ). */
export function recordToken (token: string, label: string): void {
  recordValue(token, label)
  const parts = token.split('.')
  if (parts.length === 3) {
    recordValue(parts[1] as string, `${label}, payload segment`)
    recordValue(parts[2] as string, `${label}, signature segment`)
  }
}

/** Whether a header value was recorded already (the same header comes with many requests). */
function seenBefore (header: string): boolean {
  if (seenHeaders.has(header)) return true
  seenHeaders.add(header)
  return false
}

/** Records a cookie value as sent and percent-decoded. */
function recordCookieValue (value: string, label: string): void {
  const unquoted = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
  recordToken(unquoted, label)
  try {
    const decoded = decodeURIComponent(unquoted)
    if (decoded !== unquoted) recordToken(decoded, label)
  } catch {}
}

/** Records a Cookie request header: the whole value and each cookie's value. */
export function recordCookieHeader (header: string, where: string): void {
  if (seenBefore(header)) return
  recordValue(header, `Cookie header (${where})`)
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=')
    if (equals > 0) recordCookieValue(pair.slice(equals + 1).trim(), `cookie ${pair.slice(0, equals).trim()} (${where})`)
  }
}

/** Records an Authorization (or Proxy-Authorization) header: the whole value and the credentials after the scheme. */
export function recordAuthorizationHeader (name: string, header: string, where: string): void {
  if (seenBefore(header)) return
  const label = `${name.toLowerCase() === 'authorization' ? 'Authorization' : 'Proxy-Authorization'} header (${where})`
  recordToken(header.trim(), label)
  recordValue(header, label)
  const credentials = /^\s*\S+\s+([^]*)$/.exec(header)?.[1]
  if (credentials !== undefined) recordToken(credentials.trim(), label)
}

/** Records the values of Set-Cookie response headers. */
export function recordSetCookie (header: unknown, where: string): void {
  const all = Array.isArray(header) ? header : [header]
  for (const item of all) {
    if (typeof item !== 'string') continue
    const pair = item.split(';', 1)[0] as string
    const equals = pair.indexOf('=')
    if (equals > 0) recordCookieValue(pair.slice(equals + 1).trim(), `Set-Cookie ${pair.slice(0, equals).trim()} (${where})`)
  }
}

// ------------------------------------------------------------------------------------------------
// Secrets and keys in options
// ------------------------------------------------------------------------------------------------

/** Option names whose values (and everything below them) are secret. */
const SENSITIVE_NAME = /secret|private|passphrase|password|credential/i
/** The private members of a JWK (k: a symmetric key). */
const JWK_PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']
const MAX_DEPTH = 8

/** Records the secrets of an options object: values under sensitive names, private PEM text anywhere, private JWK members, private or secret KeyObjects and CryptoKeys. */
export function recordOptions (options: unknown, label: string): void {
  try {
    walk(options, label, false, 0, new WeakSet())
  } catch {}
}

function walk (value: unknown, path: string, sensitive: boolean, depth: number, seen: WeakSet<object>): void {
  if (typeof value === 'string') {
    if (sensitive || value.includes('PRIVATE KEY-----')) recordSecret(value, path)
    return
  }
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || types.isProxy(value) || seen.has(value)) return
  seen.add(value)
  if (value instanceof Uint8Array) {
    if (sensitive) recordSecret(value, path)
    return
  }
  if (value instanceof KeyObject || types.isCryptoKey(value)) {
    recordSecret(value, path)
    return
  }
  const prototype = Object.getPrototypeOf(value) as unknown
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) return
  // Only data properties are read: a getter in a test's options must not run (nor count) here.
  const members = new Map<string, unknown>()
  for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(value))) {
    if ('value' in descriptor) members.set(key, descriptor.value)
  }
  if (typeof members.get('kty') === 'string') {
    for (const name of JWK_PRIVATE_MEMBERS) {
      const member = members.get(name)
      if (typeof member === 'string') recordValue(member, `${path}.${name}`)
    }
    return
  }
  const passphrase = members.get('passphrase')
  for (const [key, member] of members) {
    const memberPath = Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`
    if (typeof member === 'string' && typeof passphrase === 'string' && /private/i.test(key)) recordPrivatePem(member, passphrase, memberPath)
    walk(member, memberPath, sensitive || SENSITIVE_NAME.test(key), depth + 1, seen)
  }
}

/** Records a secret or a private key: every text form it could be logged in. */
function recordSecret (value: string | Uint8Array | KeyObject | webcrypto.CryptoKey, label: string): void {
  try {
    if (typeof value === 'string') {
      if (processedStrings.has(value)) return
      processedStrings.add(value)
      recordValue(value, label)
      if (value.includes('-----BEGIN')) recordPem(value, label)
      if (value.includes('PRIVATE KEY-----')) recordPrivatePem(value, undefined, label)
      return
    }
    if (processedObjects.has(value)) return
    processedObjects.add(value)
    if (value instanceof Uint8Array) {
      recordBytes(value, label)
      return
    }
    const key = value instanceof KeyObject ? value : KeyObject.from(value)
    if (key.type === 'secret') recordBytes(key.export(), label)
    else if (key.type === 'private') recordPrivateKey(key, label)
  } catch {}
}

/** An HMAC secret as bytes: hex, base64, base64url, the text it may be, and the list of numbers JSON gives a Buffer. */
function recordBytes (bytes: Uint8Array, label: string): void {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  recordValue(buffer.toString('hex'), `${label} (hex)`)
  recordValue(buffer.toString('base64'), `${label} (base64)`)
  recordValue(buffer.toString('base64url'), `${label} (base64url)`)
  recordValue(Array.from(buffer).join(','), `${label} (as JSON numbers)`)
  const text = buffer.toString('utf8')
  // eslint-disable-next-line no-control-regex
  if (!text.includes('\uFFFD') && !/[\u0000-\u001F]/.test(text)) recordValue(text, `${label} (text)`)
}

/** The base64 body of PEM text: each line, and the lines joined. */
function recordPem (pem: string, label: string): void {
  const body = pem.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('-----') && !line.includes(':'))
  for (const line of body) recordValue(line, `${label} (PEM line)`)
  recordValue(body.join(''), `${label} (PEM body)`)
}

function recordPrivatePem (pem: string, passphrase: string | undefined, label: string): void {
  const key = `${passphrase ?? ''}\u0000${pem}`
  if (processedStrings.has(key)) return
  processedStrings.add(key)
  try {
    recordPrivateKey(createPrivateKey(passphrase === undefined ? pem : { key: pem, passphrase }), label)
  } catch {}
}

/** A private key in the usual export formats (PKCS#8, PKCS#1 or SEC1 PEM) and its private JWK members. */
function recordPrivateKey (key: KeyObject, label: string): void {
  recordPem(key.export({ type: 'pkcs8', format: 'pem' }) as string, label)
  if (key.asymmetricKeyType === 'rsa') recordPem(key.export({ type: 'pkcs1', format: 'pem' }) as string, label)
  if (key.asymmetricKeyType === 'ec') recordPem(key.export({ type: 'sec1', format: 'pem' }) as string, label)
  try {
    const jwk = key.export({ format: 'jwk' }) as Record<string, unknown>
    for (const name of JWK_PRIVATE_MEMBERS) {
      const member = jwk[name]
      if (typeof member === 'string') recordValue(member, `${label} (JWK ${name})`)
    }
  } catch {}
}

// ------------------------------------------------------------------------------------------------
// The scan
// ------------------------------------------------------------------------------------------------

export interface Leak {
  /** The captured line, as written. */
  readonly line: string
  /** The recorded values found in it, longest first. */
  readonly found: ReadonlyArray<{ readonly value: string, readonly label: string }>
}

// A Rabin-Karp scan: a rolling hash of every MIN_LENGTH-character window of every line, looked up
// in a bitmap of the hashes of the values' first MIN_LENGTH characters; only a hit is compared.
const BASE = 0x01000193
const BITMAP_BITS = 22

function bucket (hash: number): number {
  return Math.imul(hash, 0x9E3779B1) >>> (32 - BITMAP_BITS)
}

function hashOf (text: string, from: number): number {
  let hash = 0
  for (let index = from; index < from + MIN_LENGTH; index++) hash = (Math.imul(hash, BASE) + text.charCodeAt(index)) | 0
  return hash
}

/** How many captured lines were scanned already. */
let scanned = 0

/** Every captured line not scanned yet that contains a recorded value. */
export function findLeaks (): Leak[] {
  const from = scanned
  scanned = lines.length
  if (values.size === 0 || from === lines.length) return []
  const byPrefix = new Map<string, Array<[string, string]>>()
  const bitmap = new Uint8Array(1 << BITMAP_BITS)
  for (const [value, label] of values) {
    const prefix = value.slice(0, MIN_LENGTH)
    const known = byPrefix.get(prefix)
    if (known === undefined) {
      byPrefix.set(prefix, [[value, label]])
      bitmap[bucket(hashOf(prefix, 0))] = 1
    } else {
      known.push([value, label])
    }
  }
  let outgoing = 1
  for (let index = 1; index < MIN_LENGTH; index++) outgoing = Math.imul(outgoing, BASE)
  const leaks: Leak[] = []
  for (const line of lines.slice(from)) {
    if (line.length < MIN_LENGTH) continue
    const found = new Map<string, string>()
    let hash = hashOf(line, 0)
    for (let index = 0; ; index++) {
      if (bitmap[bucket(hash)] === 1) {
        for (const [value, label] of byPrefix.get(line.slice(index, index + MIN_LENGTH)) ?? []) {
          if (line.startsWith(value, index)) found.set(value, label)
        }
      }
      const next = index + MIN_LENGTH
      if (next >= line.length) break
      hash = (Math.imul(hash - Math.imul(line.charCodeAt(index), outgoing), BASE) + line.charCodeAt(next)) | 0
    }
    if (found.size > 0) {
      // A segment or an escaped form inside a longer value found in the same line says nothing more.
      const longestFirst = [...found].map(([value, label]) => ({ value, label })).sort((a, b) => b.value.length - a.value.length)
      const kept: Array<{ value: string, label: string }> = []
      for (const item of longestFirst) if (!kept.some((longer) => longer.value.includes(item.value))) kept.push(item)
      leaks.push({ line, found: kept })
    }
  }
  return leaks
}

const MAX_REPORTED = 10
const MAX_LINE = 600

/** The line with every recorded value found in it replaced by its label, cut to a readable length. */
export function redact (leak: Leak): string {
  let text = leak.line.trimEnd()
  for (const { value, label } of leak.found) text = text.split(value).join(`[REDACTED: ${label}]`)
  return text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}… (${text.length} characters)` : text
}

function labels (leak: Leak): string {
  return [...new Set(leak.found.map(({ label }) => label))].join('; ')
}

function testFile (): string {
  return process.argv[1] === undefined ? `pid ${process.pid}` : relative(process.cwd(), process.argv[1])
}

function headline (leaks: readonly Leak[]): string {
  return `${leaks.length} log line(s) contain a token, an Authorization or Cookie value, or a secret`
}

/** The report of leaks, two lines each (what leaked, the line redacted), for stderr. */
export function leakReport (leaks: readonly Leak[], file: string): string {
  const out = [`[log-capture] ${file}: ${headline(leaks)}:`]
  for (const leak of leaks.slice(0, MAX_REPORTED)) {
    out.push(`[log-capture]   ${labels(leak)}`)
    out.push(`[log-capture]     ${redact(leak)}`)
  }
  if (leaks.length > MAX_REPORTED) out.push(`[log-capture]   … and ${leaks.length - MAX_REPORTED} more`)
  return `${out.join('\n')}\n`
}

function stats (started: number, when: string): void {
  if (process.env.LOG_CAPTURE_STATS === '1') {
    process.stderr.write(`[log-capture] ${testFile()} (${when}): ${lines.length} lines, ${values.size} values, scanned in ${(performance.now() - started).toFixed(0)} ms\n`)
  }
}

/** What the capture needs of tap's root test. */
export interface TapRoot {
  fail: (message: string, extra: Record<string, unknown>) => unknown
}

/**
 * When tap's root test is about to end (every test of the file is done): a leak is a failed
 * assertion of the file, with the redacted lines as its diagnostics, shown by every reporter.
 */
export function scanBeforeTapEnds (t: TapRoot): void {
  const started = performance.now()
  const leaks = findLeaks()
  stats(started, 'end of tests')
  if (leaks.length === 0) return
  const shown = leaks.slice(0, MAX_REPORTED).map((leak) => ({ found: labels(leak), line: redact(leak) }))
  t.fail(`log capture: ${headline(leaks)}`, {
    leaks: leaks.length > MAX_REPORTED ? [...shown, `… and ${leaks.length - MAX_REPORTED} more`] : shown,
    stack: '',
    at: null
  })
}

/**
 * At exit, the lines not scanned yet (all of them outside tap, or logged after tap's root test
 * ended): a leak is reported on stderr and fails the process (exit code 1).
 */
export function scanAtExit (): void {
  const started = performance.now()
  const leaks = findLeaks()
  stats(started, 'exit')
  if (leaks.length === 0) return
  process.stderr.write(leakReport(leaks, testFile()))
  process.exitCode = 1
}
