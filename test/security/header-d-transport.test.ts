// Catalogue group D (transport), header policy, in the default and strict configurations.
// D6 needs a cookie as well: a PolicyChain of the header policy and the cookie policy.
import t, { type Test } from 'tap'
import {
  buildChainHarness, buildHarness, eachConfig, expectOutcome, SESSION_COOKIE, validToken, type Config, type Harness
} from './helpers.js'
import { withBadSignature } from '../helpers/tokens.js'

const COOKIE = SESSION_COOKIE

/** The header policy first, then the cookie policy, and a valid session cookie for another user. */
async function chainHarness (t: Test, config: Config): Promise<{ harness: Harness, cookie: string }> {
  return { harness: await buildChainHarness(t, config), cookie: validToken(config, { sub: 'cookie-user' }) }
}

t.test('D1 no credentials', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    await expectOutcome(t, harness, {}, 'R401-bare', 'no Authorization header')
    const { harness: chain } = await chainHarness(t, config)
    await expectOutcome(t, chain, {}, 'R401-bare', 'no header and no cookie (header and cookie policies)')
  })
})

t.test('D2 scheme case and spacing', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const token = harness.genuine
    const cases: Array<[string, string, 'OK' | 'R400' | 'R401-bare']> = [
      ['bearer <t>', `bearer ${token}`, 'OK'],
      ['BEARER <t>', `BEARER ${token}`, 'OK'],
      ['bEaReR <t>', `bEaReR ${token}`, 'OK'],
      ['Bearer  <t> (two spaces)', `Bearer  ${token}`, 'OK'],
      ['Bearer\\t<t>', `Bearer\t${token}`, 'R400'],
      ['Bearer <t> extra', `Bearer ${token} extra`, 'R400'],
      ['Bearer <t> <t>', `Bearer ${token} ${token}`, 'R400'],
      ['Bearer', 'Bearer', 'R400'],
      ['Bearer (one space, no token)', 'Bearer ', 'R400'],
      ['Bearer:<t>', `Bearer:${token}`, 'R401-bare'],
      ['BearerX <t>', `BearerX ${token}`, 'R401-bare'],
      ['Bearer,<t>', `Bearer,${token}`, 'R401-bare']
    ]
    for (const [name, authorization, outcome] of cases) {
      await expectOutcome(t, harness, { authorization }, outcome, name)
    }
  })
})

t.test('D3 other schemes', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const token = harness.genuine
    const schemes: Array<[string, string]> = [
      ['Basic', 'Basic dXNlcjpwYXNz'],
      ['Token', 'Token abc'],
      ['JWT <t>', `JWT ${token}`],
      ['Digest', 'Digest username="alice", realm="api", nonce="abc", uri="/protected", response="0123"'],
      ['Negotiate', 'Negotiate YIIB'],
      ['a bare token', token]
    ]
    for (const [name, authorization] of schemes) {
      await expectOutcome(t, harness, { authorization }, 'R401-bare', name)
    }
    const { harness: chain, cookie } = await chainHarness(t, config)
    for (const [name, authorization] of schemes) {
      await expectOutcome(t, chain, { authorization, cookies: { [COOKIE]: cookie } }, 'OK', `${name} with a valid session cookie: the cookie is used`, 'cookie-user')
    }
  })
})

t.test('D4 token in the query string or the body is ignored', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const token = harness.genuine
    await expectOutcome(t, harness, { url: `/protected?access_token=${token}` }, 'R401-bare', 'GET ?access_token=<valid>')
    await expectOutcome(t, harness, { url: `/protected?token=${token}&jwt=${token}` }, 'R401-bare', 'GET ?token=&jwt=')
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    await expectOutcome(t, harness, { method: 'POST', headers: form, payload: `access_token=${token}` }, 'R401-bare', 'form body access_token=<valid>')
    await expectOutcome(t, harness, { method: 'POST', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ access_token: token }) }, 'R401-bare', 'JSON body access_token')
    // The body was parsed, and still no identity came from it.
    const parsed = await harness.app.inject({ method: 'POST', url: '/public', headers: form, payload: `access_token=${token}` })
    t.equal(parsed.json().body.access_token, token, 'the form body was parsed')
    t.equal(parsed.json().anonymous, true, 'and ignored by the policy')
  })
})

t.test('D6 token both in the header and in the cookie (header part)', async (t) => {
  await eachConfig(t, async (t, config) => {
    const { harness, cookie } = await chainHarness(t, config)
    await expectOutcome(t, harness, { cookies: { [COOKIE]: cookie } }, 'OK', 'the cookie alone', 'cookie-user')
    const cookies = { [COOKIE]: cookie }
    await expectOutcome(t, harness, { authorization: `Bearer ${harness.genuine}`, cookies }, 'OK', '(a) valid header and valid cookie: the header wins', 'alice')
    const invalid: Array<[string, string]> = [
      ['a bad signature', withBadSignature(harness.genuine)],
      ['an expired token', validToken(config, { exp: 1 })],
      ['garbage', 'x.y.z']
    ]
    for (const [name, token] of invalid) {
      const outcome = name === 'an expired token' ? 'R401-expired' : 'R401'
      await expectOutcome(t, harness, { authorization: `Bearer ${token}`, cookies }, outcome, `(b) ${name} in the header with a valid cookie`)
    }
    for (const authorization of ['Bearer a b', 'Bearer', `Bearer\t${harness.genuine}`]) {
      await expectOutcome(t, harness, { authorization, cookies }, 'R400', `(c) ${JSON.stringify(authorization.slice(0, 10))} with a valid cookie`)
    }
  })
})
