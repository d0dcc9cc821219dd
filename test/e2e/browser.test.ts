import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser } from 'playwright-core'
import t from 'tap'
import { startExample, stopExample } from '../helpers/example-server.js'

// The example app's browser UI in Debian's Chromium, driven by playwright-core. `npm test` installs
// Chromium first (scripts/system-deps.js); without it this test fails, it never skips.
const CHROMIUM = '/usr/bin/chromium'
// Without the background-networking flags Chromium keeps trying to reach Google, which this
// machine's closed network refuses.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

async function launch (): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install it with "apt-get update && apt-get install -y chromium" (npm test does this when run as root), or skip this test with FJS_SKIP_SYSTEM_TESTS=browser`)
  }
  return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
}

// A page on another loopback origin (another port) whose form posts to the app: a CSRF attempt.
async function startAttacker (target: string) {
  const server = createServer((request, response) => {
    response.setHeader('content-type', 'text/html; charset=utf-8')
    response.end(`<!doctype html><form id="attack" method="post" action="${target}/articles">
      <input name="title" value="Forged by another site"><button type="submit">Win a prize</button></form>`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

t.test('cookie sessions in a real browser: login, reload, HttpOnly, CSRF, cross-origin form, logout, reissue', async (t) => {
  const app = await startExample({ REISSUE_TIME: '2s' })
  t.teardown(() => stopExample(app))
  const browser = await launch()
  t.teardown(() => browser.close())
  const context = await browser.newContext()
  const page = await context.newPage()
  const sessionCookie = async () => (await context.cookies(app.url)).find((cookie) => cookie.name === 'session')

  await page.goto(app.url)
  await page.fill('#login input[name=username]', 'bob')
  await page.fill('#login input[name=password]', 'bob-demo-password')
  await page.click('#login button[type=submit]')
  await page.waitForSelector('#who:has-text("Signed in as Bob (bob)")')
  t.same(await page.$$eval('#permissions li', (items) => items.map((item) => item.textContent)), ['view: allowed', 'edit: allowed', 'admin: denied'])

  const cookie = await sessionCookie()
  t.ok(cookie, 'the browser holds the session cookie')
  t.equal(cookie?.httpOnly, true)
  t.equal(cookie?.sameSite, 'Lax')
  t.equal(cookie?.path, '/')

  await page.reload()
  await page.waitForSelector('#who:has-text("Signed in as Bob (bob)")')
  t.pass('a reload keeps the session')

  // Runs in the page; the tests compile without DOM types, so `document` is reached through globalThis.
  const visible = await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie.split('; ').map((entry) => entry.split('=')[0]))
  t.notOk(visible.includes('session'), 'document.cookie cannot see the session cookie')
  t.ok(visible.includes('session-csrf'), 'the CSRF companion cookie is readable by the page')

  await page.fill('#article input[name=title]', 'Written in a browser')
  await page.click('#article button[type=submit]')
  await page.waitForSelector('#message:has-text("Added article 2.")')
  await page.waitForSelector('#articles li:has-text("Written in a browser (by bob)")')

  // The same request without the CSRF header, from the page's own origin, is refused.
  const withoutHeader = await page.evaluate(async () => {
    const response = await fetch('/articles', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'No header' }) })
    return { status: response.status, body: await response.json() as { code: string } }
  })
  t.equal(withoutHeader.status, 403)
  t.equal(withoutHeader.body.code, 'FST_JWT_SECURITY_CSRF_FAILED')

  // A form on another loopback origin posts to the app with the browser's cookies: refused.
  const attacker = await startAttacker(app.url)
  t.teardown(() => attacker.close())
  await page.goto(attacker.url)
  const [forged] = await Promise.all([
    page.waitForResponse((response) => response.url() === `${app.url}/articles` && response.request().method() === 'POST'),
    page.click('#attack button')
  ])
  t.equal(forged.status(), 403, 'the cross-origin form is refused')
  t.equal((await forged.json() as { code: string }).code, 'FST_JWT_SECURITY_CSRF_FAILED')
  const titles = await page.evaluate(async (url) => (await (await fetch(`${url}/articles`)).json() as Array<{ title: string }>).map((article) => article.title), app.url)
  t.same(titles, ['Hello, world', 'Written in a browser'], 'the forged article was not added')

  // Sliding reissue: once the session is older than REISSUE_TIME, the next response carries a new cookie.
  const before = await sessionCookie()
  await new Promise((resolve) => setTimeout(resolve, 3100))
  await page.goto(app.url)
  await page.waitForSelector('#who:has-text("Signed in as Bob (bob)")')
  const after = await sessionCookie()
  t.ok(after !== undefined && before !== undefined && after.value !== before.value, 'the browser received a reissued session cookie')
  t.ok((after?.expires ?? 0) > (before?.expires ?? 0), 'the reissued cookie expires later')

  await page.click('#logout')
  await page.waitForSelector('#login:not([hidden])')
  t.equal(await sessionCookie(), undefined, 'logout cleared the session cookie')
  const me = await page.goto(`${app.url}/me`)
  t.equal(me?.status(), 401, 'the protected page answers 401 after logout')
  t.equal(me?.headers()['www-authenticate'], 'Bearer realm="api"')
  // The example runs in its own process, outside the suite's log capture: its log lines are checked here.
  const logs = app.logs.join('\n')
  for (const [name, value] of [['first', before?.value], ['reissued', after?.value]]) {
    t.ok(value !== undefined && value.length > 16 && !logs.includes(value), `the ${name} session cookie is not in the example's logs`)
  }
})
