// Catalogue group B (structure), header transport, in the default and strict configurations.
import t from 'tap'
import {
  b64u, buildChainHarness, buildHarness, claims, CountingHeaderPolicy, eachConfig, expectOutcome, header, httpGet, listen, rawHttp,
  SESSION_COOKIE, segments, signatureBytes, signed, tokenOfLength, validToken, workFor, type Config
} from './helpers.js'

/** Signs a raw signing input `<h>.<p>` with the configured key: for segments that are not base64url of anything. */
function signInput (config: Config, input: string): string {
  return `${input}.${signatureBytes(config.alg, config.key, input).toString('base64url')}`
}

t.test('B1 wrong number of segments', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const [h, p, s] = segments(harness.genuine)
    const cases: Array<[string, string]> = [
      ['2 segments', `${h}.${p}`],
      ['4 segments', `${h}.${p}.${s}.${s}`],
      ['5 segments (JWE-shaped)', `${h}.${p}.${s}.${s}.${s}`],
      ['.....', '.....'],
      ['a (no dot)', 'a'],
      ['the header alone', h]
    ]
    for (const [name, token] of cases) {
      const failure = await expectOutcome(t, harness, token, 'R401', name)
      t.equal(failure?.reason, 'token_malformed', `${name}: malformed`)
    }
  })
})

t.test('B2 empty segments', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const [h, p, s] = segments(harness.genuine)
    const cases: Array<[string, string]> = [
      ['empty header', `.${p}.${s}`],
      ['empty payload, correctly signed', signInput(config, `${h}.`)],
      ['empty signature', `${h}.${p}.`],
      ['..', '..']
    ]
    for (const [name, token] of cases) await expectOutcome(t, harness, token, 'R401', name)
  })
})

t.test('B3 characters outside the base64url alphabet, refused before any JSON parsing', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const parts = segments(harness.genuine)
    for (const bad of ['+', '/', '!', '%2E', 'é', '\u0000', '~', '*']) {
      for (const index of [0, 1, 2]) {
        const changed = [...parts]
        const segment = changed[index] as string
        changed[index] = `${segment.slice(0, 8)}${bad}${segment.slice(8)}`
        const token = changed.join('.')
        const name = `${JSON.stringify(bad)} in segment ${index + 1}`
        const failure = await expectOutcome(t, harness, token, 'R401', name)
        t.equal(failure?.reason, 'token_malformed', `${name}: malformed`)
        t.strictSame(await workFor(harness, `Bearer ${token}`), { parses: 0, verifies: 0 }, `${name}: no JSON parsed, no signature checked`)
      }
    }
    // A token the verified-token cache has not seen, so that its verification does run.
    t.ok((await workFor(harness, `Bearer ${validToken(config, { jti: 'b3-counter-check' })}`)).parses > 0, 'the counters see the work done for a genuine token')
  })
})

t.test('B3 characters outside the base64url alphabet (cookie)', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildChainHarness(t, config)
    const [h, p, s] = segments(harness.genuine)
    const cases: Array<[string, string]> = [
      ['%2E for the dots', `${h}%2E${p}%2E${s}`],
      ['a percent-encoded letter', `%${h.charCodeAt(0).toString(16)}${h.slice(1)}.${p}.${s}`],
      ['+ in the signature', `${h}.${p}.${s.slice(0, 5)}+${s.slice(6)}`],
      ['! in the payload', `${h}.${p.slice(0, 5)}!${p.slice(5)}.${s}`]
    ]
    for (const [name, value] of cases) {
      await expectOutcome(t, harness, { headers: { cookie: `${SESSION_COOKIE}=${value}` } }, 'R401', `${name} in the session cookie`)
    }
  })
})

t.test('B4 padding and whitespace in the token', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const token = harness.genuine
    const [h, p, s] = segments(token)
    const cases: Array<[string, string]> = [
      ['= on the header', `${h}=.${p}.${s}`],
      ['= on the payload', `${h}.${p}=.${s}`],
      ['= on the signature', `${h}.${p}.${s}=`],
      ['== on the signature', `${h}.${p}.${s}==`],
      ['padding to a multiple of 4 on every segment', [h, p, s].map((x) => x.padEnd(Math.ceil(x.length / 4) * 4, '=')).join('.')],
      ['a trailing newline', `${token}\n`],
      ['a newline between segments', `${h}.${p}\n.${s}`],
      ['a tab between header and payload', `${h}\t.${p}.${s}`],
      ['a tab between payload and signature', `${h}.${p}.\t${s}`]
    ]
    for (const [name, value] of cases) {
      if (value === `${h}.${p}.${s}`) t.fail(`${name}: the case changed nothing`)
      await expectOutcome(t, harness, value, 'R401', name)
    }
    // Over a real connection, Node removes whitespace around a header value (RFC 9110 §5.5, OWS):
    // leading and trailing spaces never reach the plugin, and the same token is verified as sent.
    const port = await listen(harness.app)
    const send = (value: string) => rawHttp(port, `GET /protected HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization:${value}\r\nConnection: close\r\n\r\n`)
    for (const value of [` Bearer ${token}`, `   Bearer ${token}  `, `\tBearer ${token}\t `]) {
      const response = await send(value)
      t.match(response, /^HTTP\/1\.1 200 /, `${JSON.stringify(value.replace(token, '<t>'))}: the whitespace is OWS, not part of the token`)
    }
    const tab = await send(` Bearer ${h}.${p}.\t${s}`)
    t.match(tab, /^HTTP\/1\.1 401 /, 'a tab inside the token reaches the plugin over HTTP: 401')
    t.match(tab, /\r\nWWW-Authenticate: Bearer realm="api", error="invalid_token"/i, 'a tab inside the token: invalid_token')
  })
})

t.test('B4 padding and whitespace in the token (cookie)', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildChainHarness(t, config)
    const token = harness.genuine
    const [h, p, s] = segments(token)
    const cases: Array<[string, string]> = [
      ['= on the signature', `${h}.${p}.${s}=`],
      ['= on the header', `${h}=.${p}.${s}`],
      ['a leading space', ` ${token}`],
      ['a trailing space', `${token} `],
      ['a tab between segments', `${h}\t.${p}.${s}`],
      ['a trailing newline', `${token}\n`]
    ]
    for (const [name, value] of cases) {
      await expectOutcome(t, harness, { headers: { cookie: `${SESSION_COOKIE}=${value}` } }, 'R401', `${name} in the session cookie`)
    }
  })
})

t.test('B5 header is not a JSON object', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const json = JSON.stringify(header(config))
    const headers: Array<[string, string | Buffer]> = [
      ['null', 'null'],
      ['[]', '[]'],
      ['"x"', '"x"'],
      ['123', '123'],
      ['true', 'true'],
      ['a truncated object', json.slice(0, -1)],
      ['an object followed by garbage', `${json}garbage`],
      ['two objects', `${json}${json}`],
      ['invalid UTF-8', Buffer.concat([Buffer.from(json.slice(0, -1)), Buffer.from(',"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])],
      ['an array holding the header', `[${json}]`]
    ]
    for (const [name, hdr] of headers) {
      const failure = await expectOutcome(t, harness, signed(config, hdr, claims(config)), 'R401', name)
      t.equal(failure?.reason, 'token_malformed', `${name}: malformed`)
    }
  })
})

t.test('B6 payload is not a JSON object', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const json = JSON.stringify(claims(config))
    const payloads: Array<[string, string]> = [
      ['[]', '[]'],
      ['[{"sub":"admin"}]', JSON.stringify([claims(config, { sub: 'admin' })])],
      ['"admin"', '"admin"'],
      ['""', '""'],
      ['empty', ''],
      ['123', '123'],
      ['null', 'null'],
      ['true', 'true'],
      ['an object followed by garbage', `${json} x`],
      ['{', '{'],
      ['a truncated object', json.slice(0, -1)]
    ]
    for (const [name, payload] of payloads) {
      await expectOutcome(t, harness, signed(config, header(config), payload), 'R401', `payload ${name}`)
    }
  })
})

t.test('B7 invalid or non-UTF-8 encodings', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const [before, after] = JSON.stringify(claims(config, { sub: 'a\u0001b' })).split('\\u0001') as [string, string]
    const json = JSON.stringify(claims(config))
    const utf16be = Buffer.from(json, 'utf16le').swap16()
    const payloads: Array<[string, Buffer]> = [
      ['overlong C0 AF in sub', Buffer.concat([Buffer.from(before), Buffer.from([0xc0, 0xaf]), Buffer.from(after)])],
      ['a lone surrogate encoded as UTF-8 (ED A0 80)', Buffer.concat([Buffer.from(before), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(after)])],
      ['a truncated multi-byte sequence', Buffer.concat([Buffer.from(before), Buffer.from([0xe2, 0x82]), Buffer.from(after)])],
      ['UTF-16LE', Buffer.from(json, 'utf16le')],
      ['UTF-16LE with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')])],
      ['UTF-16BE', utf16be]
    ]
    for (const [name, payload] of payloads) {
      await expectOutcome(t, harness, signed(config, header(config), payload), 'R401', name)
    }
  })
})

t.test('B10 huge token, many segments, huge header', async (t) => {
  await eachConfig(t, async (t, config) => {
    const policy = new CountingHeaderPolicy()
    const harness = await buildHarness(t, config, { options: { policy } })
    const atCap = tokenOfLength(config, 8192)
    t.equal(atCap.length, 8192)
    await expectOutcome(t, harness, atCap, 'OK', 'a valid 8192-character token (the cap)')
    const overCap = tokenOfLength(config, 8193)
    const tooLong = await expectOutcome(t, harness, overCap, 'R401', 'a valid 8193-character token')
    t.equal(tooLong?.reason, 'token_too_long')
    t.strictSame(await workFor(harness, `Bearer ${overCap}`), { parses: 0, verifies: 0 }, 'over the cap: no decoding, no JSON, no signature')
    const dots = 'a.'.repeat(7000)
    t.equal((await expectOutcome(t, harness, dots, 'R401', "'a.'.repeat(7000)"))?.reason, 'token_too_long')
    t.strictSame(await workFor(harness, `Bearer ${dots}`), { parses: 0, verifies: 0 }, "'a.'.repeat(7000): no work")
    const long = `Bearer ${'a'.repeat(15_000 - 7)}`
    t.equal(long.length, 15_000)
    t.equal((await expectOutcome(t, harness, { authorization: long }, 'R401', 'an Authorization value of 15,000 characters'))?.reason, 'token_too_long')
    // Constant time: a token over the cap costs no more than a short malformed one.
    const timeOf = async (authorization: string) => {
      const started = process.hrtime.bigint()
      for (let index = 0; index < 50; index++) await harness.app.inject({ url: '/protected', headers: { authorization } })
      return Number(process.hrtime.bigint() - started) / 1e6
    }
    await timeOf(long)
    const huge = await timeOf(long)
    const small = await timeOf('Bearer a.b')
    t.ok(huge < small * 3 + 50, `15,000 characters are refused about as fast as 3 (${huge.toFixed(1)} ms vs ${small.toFixed(1)} ms for 50)`)
    // Over Node's 16 KiB header limit the request never reaches Fastify.
    const port = await listen(harness.app)
    const calls = policy.calls
    const response = await httpGet(port, '/protected', ['Authorization', `Bearer ${'a'.repeat(20_000 - 7)}`])
    t.equal(response.status, 431, 'an Authorization value of 20,000 characters: 431')
    t.equal(policy.calls, calls, '431: the policy never ran')
  })
})

t.test('B11 deeply nested JSON in the header', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    const [, p] = segments(harness.genuine)
    for (const depth of [5000, 2500]) {
      const hdr = `{"alg":"${config.alg}","x":${'['.repeat(depth)}${']'.repeat(depth)}}`
      const token = `${b64u(hdr)}.${p}.AAAA`
      const started = process.hrtime.bigint()
      const failure = await expectOutcome(t, harness, token, 'R401', `nested ${depth} deep (${token.length} characters)`)
      const elapsed = Number(process.hrtime.bigint() - started) / 1e6
      t.equal(failure?.reason, token.length > 8192 ? 'token_too_long' : 'signature_invalid', `nested ${depth} deep: ${failure?.reason}`)
      t.ok(elapsed < 2000, `nested ${depth} deep: answered quickly (${elapsed.toFixed(0)} ms)`)
    }
  })
})

t.test('B12 non-token strings', async (t) => {
  await eachConfig(t, async (t, config) => {
    const harness = await buildHarness(t, config)
    for (const value of ['null', 'undefined', 'true', 'false', 'NaN', '0', '{}', '""', '[]']) {
      await expectOutcome(t, harness, { authorization: `Bearer ${value}` }, 'R401', `Bearer ${value}`)
    }
    // "[object Object]" holds a space: two parts after the scheme, which D2 makes a malformed
    // request (R400). One deterministic rule for every input: never a 500.
    await expectOutcome(t, harness, { authorization: 'Bearer [object Object]' }, 'R400', 'Bearer [object Object]')
  })
})
