import type { FastifyBaseLogger } from 'fastify'
import t from 'tap'
import { MemoryRefreshStore } from '../../lib/refresh/memory-store.js'
import { parseRefreshToken } from '../../lib/refresh/refresh-token.js'
import { RefreshSessions, type RefreshSettings } from '../../lib/refresh/sessions.js'
import type { RefreshStore } from '../../lib/refresh/store.js'
import { toTokenClaims } from '../../lib/tokens/claims.js'

// The rules of refresh-token sessions, with a memory store and an injected clock: rotation, the
// grace of a race, reuse ending the session, idle and absolute lifetimes, DPoP binding, outages.

const ISSUER = 'https://api.example'
const JKT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'

interface Harness {
  sessions: RefreshSessions
  store: RefreshStore
  revoked: string[]
  lines: Array<{ level: string, msg: string }>
  log: FastifyBaseLogger
  tick: (ms: number) => void
}

function harness (overrides: Partial<RefreshSettings> = {}): Harness {
  let clock = Date.parse('2030-01-01T00:00:00Z')
  const store = overrides.store ?? new MemoryRefreshStore({ now: () => clock })
  const revoked: string[] = []
  let signed = 0
  const lines: Array<{ level: string, msg: string }> = []
  const record = (level: string) => (_object: unknown, msg: string) => { lines.push({ level, msg }) }
  const log = { warn: record('warn'), error: record('error'), info: record('info') } as unknown as FastifyBaseLogger
  const sessions = new RefreshSessions({
    store,
    accessTokenLifetime: 300,
    idleTimeout: 3600,
    maxSessionAge: 86_400,
    reuseGrace: 2,
    now: () => clock,
    issuer: ISSUER,
    // The access token, readable: what it would carry, and how it would be signed.
    encodeClaims: (claims) => toTokenClaims(claims, null),
    sign: async (userid, claims, options) => JSON.stringify({ userid, claims, options, signed: ++signed }),
    revokeSession: async (sid, iss) => { revoked.push(`${sid}@${iss}`) },
    ...overrides
  })
  return { sessions, store, revoked, lines, log, tick: (ms) => { clock += ms } }
}

const reasonOf = async (promise: Promise<unknown>): Promise<unknown> => await promise.then(() => 'accepted', (error: { code?: string, reason?: string }) => `${error.code} ${error.reason}`)

t.test('a session opens with generation 0 and access tokens that name it', async (t) => {
  const { sessions, store, log } = harness()
  const pair = await sessions.open('alice', { roles: ['editor'] }, null, log)
  t.equal(pair.token_type, 'Bearer')
  t.equal(pair.expires_in, 300)
  const parts = parseRefreshToken(pair.refresh_token)
  t.equal(parts?.generation, 0)
  const family = await store.get(parts?.familyId as string)
  t.equal(family?.sub, 'alice')
  t.equal(family?.iss, ISSUER)
  t.same(JSON.parse(pair.access_token), {
    userid: 'alice',
    claims: { roles: ['editor'], sid: parts?.familyId, auth_time: Math.floor(Date.parse('2030-01-01T00:00:00Z') / 1000) },
    options: { expiresIn: 300 },
    signed: 1
  })
  await t.rejects(sessions.open('alice', { sid: 'mine' }, null, log), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS' }, 'sid is the session\'s')
  await t.rejects(sessions.open('alice', { auth_time: 1 }, null, log), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS', message: /"auth_time" is set by the refresh session/ })
})

t.test('a refresh rotates: the next generation, a new access token; the rotated token used again ends the session', async (t) => {
  const { sessions, store, revoked, lines, log, tick } = harness()
  const first = await sessions.open('alice', {}, null, log)
  tick(10_000)
  const second = await sessions.refresh({ token: first.refresh_token, jkt: null, log })
  t.equal(parseRefreshToken(second.refresh_token)?.generation, 1)
  t.not(second.access_token, first.access_token)
  const id = parseRefreshToken(first.refresh_token)?.familyId as string
  t.equal((await store.get(id))?.lastUsedAt, Date.parse('2030-01-01T00:00:10Z'))

  tick(3_000)
  // The thief replays the token it stole before the rotation: the session ends, for both.
  t.equal(await reasonOf(sessions.refresh({ token: first.refresh_token, jkt: null, log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_reused')
  t.same(revoked, [`${id}@${ISSUER}`], 'its access tokens are revoked')
  t.equal(await store.get(id), null, 'and the family is gone')
  t.equal(await reasonOf(sessions.refresh({ token: second.refresh_token, jkt: null, log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_unknown', 'the user\'s next refresh fails too')
  t.same(lines.map(({ level, msg }) => `${level}: ${msg}`), ['warn: a rotated refresh token was used again: its session is ended, access tokens included'])
})

t.test('two refreshes with one token at once: one rotates, the other gets the same refresh token within the grace', async (t) => {
  const { sessions, log, tick } = harness()
  const first = await sessions.open('alice', {}, null, log)
  const [a, b] = await Promise.all([
    sessions.refresh({ token: first.refresh_token, jkt: null, log }),
    sessions.refresh({ token: first.refresh_token, jkt: null, log })
  ])
  t.equal(a.refresh_token, b.refresh_token, 'both tabs hold the session\'s current token')
  t.equal(parseRefreshToken(a.refresh_token)?.generation, 1)
  tick(2_000)
  t.equal(parseRefreshToken((await sessions.refresh({ token: first.refresh_token, jkt: null, log })).refresh_token)?.generation, 1, 'the grace lasts reuseGrace')
  tick(1)
  t.equal(await reasonOf(sessions.refresh({ token: first.refresh_token, jkt: null, log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_reused')
})

t.test('lifetimes: a session idle for idleTimeout ends, and none outlives maxSessionAge', async (t) => {
  const idle = harness()
  const pair = await idle.sessions.open('alice', {}, null, idle.log)
  idle.tick(3_600_001)
  t.equal(await reasonOf(idle.sessions.refresh({ token: pair.refresh_token, jkt: null, log: idle.log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_unknown', 'the store let it expire')

  // A store that keeps families longer than asked: the session checks the times itself.
  const lasting = new MemoryRefreshStore({ now: () => 0 })
  const kept = harness({ store: lasting })
  const stale = await kept.sessions.open('alice', {}, null, kept.log)
  kept.tick(3_600_001)
  t.equal(await reasonOf(kept.sessions.refresh({ token: stale.refresh_token, jkt: null, log: kept.log })), 'FST_JWT_SECURITY_INVALID_GRANT session_idle')
  t.equal(kept.revoked.length, 1, 'its access tokens revoked')

  // Used every 50 minutes, a session still ends at maxSessionAge: the store lets it expire then,
  // and a store that keeps it longer meets the session's own check.
  const aging = harness()
  let token = (await aging.sessions.open('alice', {}, null, aging.log)).refresh_token
  for (let step = 1; step <= 28; step++) {
    aging.tick(3_000_000)
    token = (await aging.sessions.refresh({ token, jkt: null, log: aging.log })).refresh_token
  }
  aging.tick(86_400_000 - 28 * 3_000_000)
  t.equal(await reasonOf(aging.sessions.refresh({ token, jkt: null, log: aging.log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_unknown', 'gone from the store at maxSessionAge')
  const forever = harness({ store: new MemoryRefreshStore({ now: () => 0 }) })
  const old = await forever.sessions.open('alice', {}, null, forever.log)
  forever.tick(3_000_000)
  const renewed = await forever.sessions.refresh({ token: old.refresh_token, jkt: null, log: forever.log })
  forever.tick(86_400_000)
  t.equal(await reasonOf(forever.sessions.refresh({ token: renewed.refresh_token, jkt: null, log: forever.log })), 'FST_JWT_SECURITY_INVALID_GRANT session_expired')
})

t.test('refused without ending the session: malformed, unknown, forged, another DPoP key', async (t) => {
  const { sessions, store, revoked, log } = harness()
  const bound = await sessions.open('alice', {}, JKT, log)
  t.equal(bound.token_type, 'DPoP')
  t.same(JSON.parse(bound.access_token).options, { expiresIn: 300, jkt: JKT })
  const id = parseRefreshToken(bound.refresh_token)?.familyId as string
  t.equal(await reasonOf(sessions.refresh({ token: 'eyJ.eyJ.sig', jkt: null, log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_malformed')
  t.equal(await reasonOf(sessions.refresh({ token: bound.refresh_token.replace(id, 'A'.repeat(22)), jkt: null, log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_unknown')
  t.equal(await reasonOf(sessions.refresh({ token: `${bound.refresh_token.slice(0, -4)}AAAA`, jkt: JKT, log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_unknown', 'a forged MAC')
  t.equal(await reasonOf(sessions.refresh({ token: bound.refresh_token.replace('.0.', '.5.'), jkt: JKT, log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_unknown', 'a generation to come')
  t.equal(await reasonOf(sessions.refresh({ token: bound.refresh_token, jkt: null, log })), 'FST_JWT_SECURITY_INVALID_GRANT dpop_key_mismatch', 'a bound session needs a proof of its key')
  t.equal(await reasonOf(sessions.refresh({ token: bound.refresh_token, jkt: 'x'.repeat(43), log })), 'FST_JWT_SECURITY_INVALID_GRANT dpop_key_mismatch')
  t.same(revoked, [])
  t.equal((await store.get(id))?.generation, 0, 'none of them rotated or ended it')
  t.equal((await sessions.refresh({ token: bound.refresh_token, jkt: JKT, log })).token_type, 'DPoP')
})

t.test('sessions of a user are listed and ended one by one', async (t) => {
  const { sessions, revoked, log, tick } = harness()
  const first = await sessions.open('alice', {}, null, log)
  tick(1000)
  await sessions.open('alice', {}, null, log)
  await sessions.open('bob', {}, null, log)
  const listed = await sessions.list('alice', log)
  t.same(listed.map((family) => family.sub), ['alice', 'alice'])
  t.ok((listed[0]?.createdAt as number) < (listed[1]?.createdAt as number), 'oldest first')
  const id = parseRefreshToken(first.refresh_token)?.familyId as string
  t.equal(await sessions.end(id, log), true)
  t.equal(await sessions.end(id, log), false, 'ended once')
  t.same(revoked, [`${id}@${ISSUER}`])
  t.equal((await sessions.list('alice', log)).length, 1)
})

t.test('a store that fails refuses with a 503, logged once per outage', async (t) => {
  let down = false
  const memory = new MemoryRefreshStore()
  const failing: RefreshStore = {
    create: (family, ttl) => { if (down) throw new Error('connection refused'); memory.create(family, ttl) },
    get: (id) => { if (down) throw new Error('connection refused'); return memory.get(id) },
    rotate: (...args) => memory.rotate(...args),
    delete: (id) => memory.delete(id),
    listFor: (subject) => memory.listFor(subject)
  }
  const { sessions, lines, log } = harness({ store: failing })
  const pair = await sessions.open('alice', {}, null, log)
  down = true
  for (const attempt of [1, 2]) {
    const error = await sessions.refresh({ token: pair.refresh_token, jkt: null, log }).catch((caught: unknown) => caught) as { statusCode: number, code: string, headers: unknown }
    t.same([error.statusCode, error.code, error.headers], [503, 'FST_JWT_SECURITY_REFRESH_UNAVAILABLE', { 'retry-after': '5' }], `attempt ${attempt}`)
  }
  await t.rejects(sessions.open('alice', {}, null, log), { code: 'FST_JWT_SECURITY_REFRESH_UNAVAILABLE' })
  down = false
  t.equal(parseRefreshToken((await sessions.refresh({ token: pair.refresh_token, jkt: null, log })).refresh_token)?.generation, 1)
  t.same(lines.map(({ level, msg }) => `${level}: ${msg}`), [
    'error: the refresh store cannot be used: refreshes are refused (503)',
    'warn: the refresh store answers again'
  ])
})

t.test('without an issuer, families are keyed on an empty iss, and their access tokens revoked without one', async (t) => {
  const { sessions, store, revoked, log } = harness({ issuer: undefined })
  const pair = await sessions.open('alice', {}, null, log)
  const id = parseRefreshToken(pair.refresh_token)?.familyId as string
  t.equal((await store.get(id))?.iss, '')
  t.equal((await sessions.list('alice', log)).length, 1)
  await sessions.end(id, log)
  t.same(revoked, [`${id}@undefined`])
})

t.test('a family ended between the read and the rotation is unknown', async (t) => {
  const memory = new MemoryRefreshStore()
  const store: RefreshStore = {
    create: (family, ttl) => { memory.create(family, ttl) },
    get: (id) => memory.get(id),
    rotate: (id) => { memory.delete(id); return { rotated: false, family: null } },
    delete: (id) => memory.delete(id),
    listFor: (subject) => memory.listFor(subject)
  }
  const { sessions, log } = harness({ store })
  const pair = await sessions.open('alice', {}, null, log)
  t.equal(await reasonOf(sessions.refresh({ token: pair.refresh_token, jkt: null, log })), 'FST_JWT_SECURITY_INVALID_GRANT refresh_token_unknown')
})

t.test('claims are encoded once, at login, as every later access token carries them; ill-formed Unicode is refused', async (t) => {
  const { sessions, log } = harness({ encodeClaims: (claims) => toTokenClaims(claims, (value) => value instanceof Date ? Math.floor(value.getTime() / 1000) : value) })
  const pair = await sessions.open('alice', { since: new Date('2029-12-01T00:00:00Z') }, null, log)
  const refreshed = await sessions.refresh({ token: pair.refresh_token, jkt: null, log })
  t.equal(JSON.parse(pair.access_token).claims.since, 1_890_777_600)
  t.equal(JSON.parse(refreshed.access_token).claims.since, 1_890_777_600, 'the same after a refresh')
  for (const [userid, claims] of [['al\ud800ice', {}], ['alice', { name: 'x\udc00' }], ['alice', { '\ud800': 1 }], ['alice', { nested: ['\ud83d'] }]] as const) {
    await t.rejects(sessions.open(userid, claims, null, log), { code: 'FST_JWT_SECURITY_INVALID_CLAIMS', message: /well-formed Unicode/ }, JSON.stringify(userid))
  }
  t.ok(await sessions.open('al\ud83d\ude00ice', { emoji: '\ud83d\ude00' }, null, log), 'a surrogate pair is fine')
})

t.test('a session is ended for its own subject only', async (t) => {
  const { sessions, log } = harness()
  const pair = await sessions.open('alice', {}, null, log)
  const id = parseRefreshToken(pair.refresh_token)?.familyId as string
  t.equal(await sessions.end(id, log, 'mallory'), false)
  t.equal((await sessions.list('alice', log)).length, 1)
  t.equal(await sessions.end(id, log, 'alice'), true)
})
