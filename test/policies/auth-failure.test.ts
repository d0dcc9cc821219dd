import Fastify from 'fastify'
import t from 'tap'
import { recordAuthFailure } from '../../lib/policies/auth-failure.js'

const b64u = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

async function logged (level: string, token: string | undefined, reason = 'signature_invalid'): Promise<Array<Record<string, unknown>>> {
  const lines: string[] = []
  const app = Fastify({ logger: { level, stream: { write: (line: string) => { lines.push(line) } } } })
  app.get('/', async (request) => {
    recordAuthFailure(request, { error: 'invalid_token', reason }, token)
    return request.authFailure
  })
  const response = await app.inject({ url: '/' })
  t.same(response.json(), { error: 'invalid_token', reason })
  await app.close()
  return lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'credential rejected')
}

t.test('the debug line names the refused token\'s alg, kid, typ and iss, cut short, and nothing else', async (t) => {
  const token = `${b64u({ alg: 'HS256', kid: 'k'.repeat(300), typ: 'JWT', x5u: 'http://evil' })}.${b64u({ iss: 'https://auth.example', sub: 'secret-user' })}.c2ln`
  const [entry] = await logged('debug', token)
  t.same(entry?.authFailure, { error: 'invalid_token', reason: 'signature_invalid' })
  t.same(entry?.token, { alg: 'HS256', kid: `${'k'.repeat(128)}…`, typ: 'JWT', iss: 'https://auth.example' })
  t.notOk(JSON.stringify(entry).includes('secret-user'), 'no other claim')
  t.notOk(JSON.stringify(entry).includes(token), 'never the token')
})

t.test('non-string fields and undecodable parts are left out', async (t) => {
  const [numbers] = await logged('debug', `${b64u({ alg: 1, kid: { a: 1 } })}.${b64u({ iss: ['a'] })}.c2ln`)
  t.same(numbers?.token, {})
  const [garbage] = await logged('debug', `${b64u({ alg: 'HS256' })}.bm90IGpzb24.c2ln`)
  t.same(garbage?.token, { alg: 'HS256' }, 'the header is described even when the payload is not JSON')
})

t.test('malformed or oversized tokens, and logs above debug, are not decoded', async (t) => {
  const [malformed] = await logged('debug', 'a.b', 'token_malformed')
  t.equal(malformed?.token, undefined)
  t.same(malformed?.authFailure, { error: 'invalid_token', reason: 'token_malformed' })
  t.same(await logged('info', `${b64u({ alg: 'HS256' })}.${b64u({})}.c2ln`), [], 'nothing at info level')
  const [withoutToken] = await logged('debug', undefined, 'header_malformed')
  t.equal(withoutToken?.token, undefined)
})
