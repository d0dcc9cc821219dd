/** What a fetch of a key server's document may do. */
export interface FetchLimits {
  /** Milliseconds before the fetch counts as failed. */
  readonly timeout: number
  /** The longest answer read, in bytes. */
  readonly maxBytes: number
  /** The Accept header. */
  readonly accept: string
}

/** A non-200 answer: discovery tries its fallback on a 404. */
export class HttpStatusError extends Error {
  readonly status: number

  constructor (status: number) {
    super(`the key server answered ${status}`)
    this.status = status
  }
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost'])

/** True for an `https:` URL, or an `http:` one on a loopback host when `httpLoopback` allows it. */
export function isSafeUrl (url: URL, httpLoopback: boolean): boolean {
  return url.protocol === 'https:' || (httpLoopback && url.protocol === 'http:' && LOOPBACK.has(url.hostname))
}

/**
 * Fetches `url` and returns its body as text: no redirects (a key server's URL is configured, not
 * followed), a timeout, and at most `maxBytes` read, counted as the answer streams in.
 */
export async function fetchText (url: URL, limits: FetchLimits): Promise<string> {
  const response = await fetch(url, {
    headers: { accept: limits.accept },
    redirect: 'manual',
    signal: AbortSignal.timeout(limits.timeout)
  })
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new HttpStatusError(response.status)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > limits.maxBytes) throw new Error(`the answer is longer than ${limits.maxBytes} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
