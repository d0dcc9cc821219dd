// The correctness checks made before each run, so that no run measures an error path.
import { isDeepStrictEqual } from 'node:util'

export class CheckError extends Error {
  name = 'CheckError'
}

async function get (port, path, token) {
  const headers = token === undefined ? {} : { authorization: `Bearer ${token}` }
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers })
  const text = await response.text()
  let body = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: response.status, body }
}

function expect (contender, what, response, status, body) {
  if (response.status !== status || (body !== undefined && !isDeepStrictEqual(response.body, body))) {
    throw new CheckError(`${contender.name}: ${what}: expected ${status}${body === undefined ? '' : ' ' + JSON.stringify(body)}, ` +
      `got ${response.status} ${JSON.stringify(response.body)}`)
  }
}

/** A token with a changed signature: its first signature character replaced. */
export function tamper (token) {
  const at = token.lastIndexOf('.') + 1
  return token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1)
}

/** Throws a CheckError unless the server answers as a benchmarked request expects. */
export async function check (contender, server) {
  const { port, pool } = server
  if (contender.tokens) {
    if (pool.length === 0) throw new CheckError(`${contender.name}: the server sent no tokens`)
    for (const { userid, token } of [pool[0], pool[pool.length - 1]]) {
      expect(contender, `GET /hello with the token of ${userid}`, await get(port, '/hello', token), 200, { hello: userid })
    }
    expect(contender, 'GET /hello with a tampered token', await get(port, '/hello', tamper(pool[0].token)), 401)
  } else {
    expect(contender, 'GET /hello without a token', await get(port, '/hello'), 200, { hello: 'world' })
  }
  if (contender.protected !== undefined) {
    expect(contender, `GET ${contender.protected} without a token`, await get(port, contender.protected), 401)
  }
}
