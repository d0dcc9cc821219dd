import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { EXAMPLE_SERVER as server, startExample as start, stopExample as stop } from '../helpers/example-server.js'
import { startRedis } from '../helpers/redis-server.js'
import { systemTestSkip } from '../helpers/system-tests.js'
import { withBadSignature } from '../helpers/tokens.js'

async function call (url: string, path: string, init: { method?: string, token?: string, authorization?: string, body?: unknown } = {}) {
  const headers: Record<string, string> = {}
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`
  if (init.authorization !== undefined) headers.authorization = init.authorization
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(url + path, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) })
  return { status: response.status, challenge: response.headers.get('www-authenticate'), body: await response.json() as Record<string, unknown> }
}

async function login (url: string, username: string): Promise<string> {
  const response = await call(url, '/login', { method: 'POST', body: { username, password: `${username}-demo-password` } })
  if (response.status !== 200) throw new Error(`login of ${username} answered ${response.status}`)
  return response.body.token as string
}

t.test('the example app: login, roles from the user store, and RFC 6750 refusals', async (t) => {
  const running = await start()
  t.teardown(() => stop(running))
  const { url } = running

  t.match(running.logs.join('\n'), /JWT_SECRET is not set: using a development secret generated at start-up/)
  const [alice, bob, carol] = [await login(url, 'alice'), await login(url, 'bob'), await login(url, 'carol')]

  const wrong = await call(url, '/login', { method: 'POST', body: { username: 'alice', password: 'bob-demo-password' } })
  t.equal(wrong.status, 401)
  t.equal((await call(url, '/login', { method: 'POST', body: { username: 'nobody', password: 'x' } })).status, 401)
  t.equal((await call(url, '/login', { method: 'POST', body: { username: 'alice' } })).status, 400, 'bad input is a 400')

  t.same((await call(url, '/public')).body, { message: 'Anyone may read this.', userid: null })
  t.same((await call(url, '/public', { token: alice })).body, { message: 'Anyone may read this.', userid: 'alice' })

  const me = await call(url, '/me', { token: bob })
  t.same(me.body, { userid: 'bob', name: 'Bob', principals: ['system.Everyone', 'system.Authenticated', 'bob', 'view', 'edit'] })

  const expectations: Array<[string, string, string | undefined, number]> = [
    ['GET', '/articles', alice, 200],
    ['POST', '/articles', alice, 403],
    ['POST', '/articles', bob, 201],
    ['GET', '/admin', bob, 403],
    ['GET', '/admin', carol, 200],
    ['GET', '/articles', undefined, 401],
    ['GET', '/me', undefined, 401]
  ]
  for (const [method, path, token, status] of expectations) {
    const body = method === 'POST' ? { title: 'Second' } : undefined
    const response = await call(url, path, { method, ...(token === undefined ? {} : { token }), body })
    t.equal(response.status, status, `${method} ${path} as ${token === undefined ? 'anonymous' : 'a user'}`)
  }

  const anonymous = await call(url, '/articles')
  t.equal(anonymous.challenge, 'Bearer realm="api"')
  const tampered = await call(url, '/articles', { token: withBadSignature(alice) })
  t.equal(tampered.status, 401)
  t.equal(tampered.challenge, 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"')
  t.same(tampered.body, { statusCode: 401, code: 'FST_JWT_SECURITY_INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid' })
  const malformed = await call(url, '/articles', { authorization: `Bearer ${alice} extra` })
  t.equal(malformed.status, 400)
  t.equal(malformed.challenge, 'Bearer realm="api", error="invalid_request", error_description="The authorization request is malformed"')

  const logs = running.logs.join('\n')
  for (const token of [alice, bob, carol]) t.notOk(logs.includes(token), 'no token in the logs')
  const requestLogs = running.logs.filter((line) => !line.includes('try: curl')).join('\n')
  t.notMatch(requestLogs, /demo-password/, 'no password in the request logs (only the start-up hint shows the demo one)')
})

t.test('the example app uses JWT_SECRET when it is set, and refuses a weak one at start', async (t) => {
  const secret = 'Zk3v9QmL2xR8tB5nW1yH7cJ4pF6sD0gAeUiOoKqMzXwVbNrTlYhGjCfEdSaPu-_1'
  const running = await start({ JWT_SECRET: secret })
  t.teardown(() => stop(running))
  t.notMatch(running.logs.join('\n'), /development secret/)
  const token = await login(running.url, 'alice')
  t.equal((await call(running.url, '/articles', { token })).status, 200)
  t.notOk(running.logs.join('\n').includes(secret), 'the secret is never logged')

  const weak = spawn(process.execPath, [server], { env: { ...process.env, PORT: '0', JWT_SECRET: 'secret' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  weak.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  weak.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const [code] = await once(weak, 'exit')
  t.not(code, 0, 'a weak secret stops the app')
  t.match(output, /FST_JWT_SECURITY_WEAK_SECRET/)
  t.match(output, /Invalid option \\"secret\\"|Invalid option "secret"/)
})

t.test('the example app: logout revokes the token, "sign out everywhere" revokes them all', async (t) => {
  const running = await start()
  t.teardown(() => stop(running))
  const { url } = running
  const [first, second] = [await login(url, 'alice'), await login(url, 'alice')]
  t.equal((await call(url, '/logout', { method: 'POST', token: first })).status, 200)
  t.equal((await call(url, '/articles', { token: first })).status, 401, 'the logged-out token is refused')
  t.equal((await call(url, '/articles', { token: second })).status, 200, 'another device stays signed in')
  t.equal((await call(url, '/session/everywhere', { method: 'POST', token: second })).status, 200)
  t.equal((await call(url, '/articles', { token: second })).status, 401, 'every device is signed out')
  t.equal((await call(url, '/logout', { method: 'POST' })).status, 401, 'logout needs a token')
})

t.test('two example processes with REDIS_URL share their logouts', { skip: systemTestSkip('redis') }, async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const secret = 'Zk3v9QmL2xR8tB5nW1yH7cJ4pF6sD0gAeUiOoKqMzXwVbNrTlYhGjCfEdSaPu-_1'
  const one = await start({ JWT_SECRET: secret, REDIS_URL: redis.url })
  const two = await start({ JWT_SECRET: secret, REDIS_URL: redis.url })
  t.teardown(async () => { await stop(one); await stop(two) })
  const token = await login(one.url, 'bob')
  t.equal((await call(two.url, '/articles', { token })).status, 200, 'a token from one instance works on the other')
  t.equal((await call(one.url, '/logout', { method: 'POST', token })).status, 200)
  t.equal((await call(two.url, '/articles', { token })).status, 401, 'logged out on one instance: refused on the other')
})

t.test('the example app redacts tokens sent in a URL from its request log, and never reads them', async (t) => {
  const running = await start()
  t.teardown(() => stop(running))
  const { url } = running
  const token = await login(url, 'alice')
  const publicPage = await call(url, `/public?access_token=${token}`)
  t.same(publicPage.body, { message: 'Anyone may read this.', userid: null }, 'a token in the query string is not read')
  t.equal((await call(url, `/articles?lang=en&ACCESS_TOKEN=${token}`)).status, 401, 'nor on a protected route')
  t.equal((await call(url, `/nowhere?id_token=${token}&page=2`)).status, 404)
  // The child writes its log lines asynchronously: wait for the last request's to arrive.
  for (let waited = 0; waited < 5000 && !running.logs.some((line) => line.includes('"statusCode":404')); waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  const logs = running.logs.join('\n')
  t.notOk(logs.includes(token), 'the token is in no log line')
  t.notOk(logs.includes(token.split('.')[2] as string), 'nor its signature')
  const urls = running.logs.flatMap((line) => {
    const entry = JSON.parse(line) as { req?: { url: string }, msg?: string }
    return [entry.req?.url, entry.msg].filter((value) => typeof value === 'string')
  })
  t.ok(urls.includes('/public?access_token=[REDACTED]'), 'the incoming-request line shows the parameter, redacted')
  t.ok(urls.includes('/articles?lang=en&ACCESS_TOKEN=[REDACTED]'), 'whatever its case, and other parameters are kept')
  t.ok(urls.includes('Route GET:/nowhere?id_token=[REDACTED]&page=2 not found'), 'the not-found message is redacted too')
})

t.test('README.md lists every route of the example app', async (t) => {
  const root = new URL('../..', import.meta.url)
  const [app, readme] = await Promise.all([readFile(new URL('examples/app.js', root), 'utf8'), readFile(new URL('README.md', root), 'utf8')])
  const section = readme.slice(readme.indexOf('## The example app'), readme.indexOf('\n## ', readme.indexOf('## The example app') + 1))
  const routes = [...app.matchAll(/app\.(get|post|put|patch|delete)\('([^']+)'/g)].map((match) => `${(match[1] as string).toUpperCase()} ${match[2] as string}`)
  for (const route of ['GET /', 'POST /session', 'GET /session', 'DELETE /session', 'POST /logout', 'POST /session/everywhere', 'POST /login', 'GET /articles']) {
    t.ok(routes.includes(route), `examples/app.js has ${route}`)
  }
  for (const route of routes) {
    const [method, path] = route.split(' ') as [string, string]
    const listed = section.includes(`\`${route}\``) || new RegExp(`\\| \`${method} ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\``).test(section) || section.includes(`\`${path}\` (${method}`)
    t.ok(listed, `${route} is in the README's table`)
  }
  t.notMatch(section, /127\.0\.0\.1:3000\//, 'curl lines use the PORT variable, with 3000 as its default')
})
