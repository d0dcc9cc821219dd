// The correctness checks made before each run, so that no run measures an error path.
import { isDeepStrictEqual } from 'node:util'

export class CheckError extends Error {
  name = 'CheckError'
}

async function get (port, path, credential) {
  const headers = credential === undefined ? {} : { [credential.header]: credential.value }
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

/**
 * Throws a CheckError unless the server answers as a benchmarked request expects. `tokens.check`
 * holds the tokens to check with: the first and last of a server's pool, or, for a cold contender,
 * tokens reserved for the checks (signed with the pool, never sent by the load generator: a checked
 * token is a token the server has seen).
 */
export async function check (contender, server, tokens) {
  const { port } = server
  if (contender.tokens !== null) {
    if (tokens.values.length === 0 || tokens.check.length === 0) throw new CheckError(`${contender.name}: no tokens to send`)
  }
  if (contender.ignoresTokens) {
    for (const token of [tokens.check[0].token, tamper(tokens.check[0].token)]) {
      expect(contender, `GET /hello with a token it ignores (${contender.transport})`,
        await get(port, '/hello', tokens.credential(token)), 200, { hello: 'world' })
    }
  } else if (contender.tokens !== null) {
    for (const { userid, token } of tokens.check) {
      expect(contender, `GET /hello with the token of ${userid} (${contender.transport})`,
        await get(port, '/hello', tokens.credential(token)), 200, { hello: userid })
    }
    expect(contender, `GET /hello with a tampered token (${contender.transport})`,
      await get(port, '/hello', tokens.credential(tamper(tokens.check[0].token))), 401)
  } else {
    expect(contender, 'GET /hello without a token', await get(port, '/hello'), 200, { hello: 'world' })
  }
  if (contender.protected !== undefined) {
    expect(contender, `GET ${contender.protected} without a token`, await get(port, contender.protected), 401)
  }
}
