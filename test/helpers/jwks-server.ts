import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JWK } from 'jose'

/** What the test JWKS endpoint answers. */
export type JwksMode = 'ok' | 'down' | 'slow' | 'malformed' | 'not-json' | 'error' | 'redirect' | 'huge'

/** A JWKS endpoint on 127.0.0.1 whose answer a test controls, counting its hits. */
export interface JwksServer {
  readonly url: string
  keys: JWK[]
  mode: JwksMode
  hits: number
  close (): Promise<void>
}

export async function startJwksServer (keys: JWK[] = []): Promise<JwksServer> {
  const box: { server?: Server } = {}
  const state: JwksServer = {
    url: '',
    keys,
    mode: 'ok',
    hits: 0,
    close: async () => {
      box.server?.closeAllConnections()
      await new Promise<void>((resolve) => box.server?.close(() => resolve()))
    }
  }
  const server = box.server = createServer((request, response) => {
    state.hits++
    const answer = () => {
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify({ keys: state.keys }))
    }
    switch (state.mode) {
      case 'down': request.socket.destroy(); return
      case 'slow': setTimeout(answer, 1500).unref(); return
      case 'malformed': response.end('{"keys":"none"}'); return
      case 'not-json': response.end('<html>'); return
      case 'error': response.statusCode = 500; response.end('{}'); return
      case 'redirect': response.statusCode = 302; response.setHeader('location', '/elsewhere'); response.end(); return
      // Chunked, without Content-Length: the size is known only as it arrives.
      case 'huge': for (let index = 0; index < 65; index++) response.write('x'.repeat(16 * 1024)); response.end(); return
      default: answer()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  ;(state as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`
  return state
}

/** A loopback listener that only counts requests: it must see none. */
export async function startCountingListener (): Promise<{ url: string, hits: () => number, close: () => Promise<void> }> {
  let hits = 0
  const server = createServer((request, response) => { hits++; response.end('{}') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, hits: () => hits, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}
