// The contenders' servers, one per child process: `node bench/servers.js <contender>`, forked by
// bench/run.js. Each serves GET /hello on a random loopback port and sends the parent its port and,
// for a contender with 'server' tokens, 1,000 tokens signed by its own signer, all with the same
// claims (sub, roles, jti, iat, exp = iat + 1 h; plugin-issuer's also iss and aud, the DPoP
// contenders' also cnf). Libraries are imported only by the servers that use them, so that every
// server starts from the same state.
import { randomBytes, randomUUID } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import Fastify from 'fastify'

// 'u0000' to 'u0999': as long as 'world', so every reply has the same size.
const userids = Array.from({ length: 1000 }, (_, index) => 'u' + String(index).padStart(4, '0'))
const signPool = (sign) => Promise.all(userids.map(async (userid) => ({ userid, token: await sign(userid) })))
const hello = async () => ({ hello: 'world' })
const PROTECTED = { config: { permission: 'view' } }
const identity = async (request) => ({ hello: request.authenticatedUserid })

function coldSecret () {
  const text = process.env.BENCH_JWT_SECRET
  if (!text) throw new Error('BENCH_JWT_SECRET is not set: run the cold contenders with `npm run bench`')
  return Buffer.from(text, 'base64url')
}

async function plugin (options) {
  const { default: jwtSecurity, JwtCookiePolicy } = await import('fastify-jwt-security')
  const app = Fastify({ logger: false })
  const { cookie, ...registration } = options
  const policy = cookie ? { policy: new JwtCookiePolicy({ cookieName: 'session', secure: false }) } : {}
  await app.register(jwtSecurity, { ...registration, ...policy })
  return app
}

async function fastifyJwt (secret) {
  const { default: jwt } = await import('@fastify/jwt')
  const app = Fastify({ logger: false })
  await app.register(jwt, { secret })
  // The check as the route's onRequest hook, where the plugin's permission check runs.
  app.get('/hello', { onRequest: async (request) => { await request.jwtVerify() } }, async (request) => ({ hello: request.user.sub }))
  return app
}

// A minimal jose hook: the Bearer token, looked up in `verified` (a Map, exp checked) when given,
// verified with jwtVerify (CryptoKey imported once, HS256 pinned) otherwise.
async function joseHook (key, verified) {
  const { jwtVerify } = await import('jose')
  const options = { algorithms: ['HS256'] }
  const app = Fastify({ logger: false })
  app.decorateRequest('sub', '')
  app.get('/hello', {
    onRequest: async (request, reply) => {
      const header = request.headers.authorization
      if (header === undefined || !header.startsWith('Bearer ')) return reply.code(401).send()
      const token = header.slice(7)
      let payload = verified?.get(token)
      if (payload === undefined || payload.exp * 1000 <= Date.now()) {
        try {
          payload = (await jwtVerify(token, key, options)).payload
        } catch {
          return reply.code(401).send()
        }
        verified?.set(token, payload)
      }
      request.sub = payload.sub
    }
  }, async (request) => ({ hello: request.sub }))
  return app
}

// plugin-hs256 with DPoP: its pool bound to the load generator's key (BENCH_DPOP_JKT; ES256 or
// Ed25519, both allowed by default), every request with a new proof. maxAge 10 min, the most: a
// server's proofs are all signed before its run; the store keeps every jti that long, and has room
// for more than a round sends (a full store would answer 503).
async function dpop () {
  const { MemoryDpopReplayStore } = await import('fastify-jwt-security')
  const { BENCH_DPOP_JKT: jkt, BENCH_DPOP_ORIGIN: publicOrigin } = process.env
  if (!jkt) throw new Error('BENCH_DPOP_JKT is not set: run the DPoP contenders with `npm run bench`')
  const replay = new MemoryDpopReplayStore({ maxEntries: 10_000_000 })
  const app = await plugin({ secret: randomBytes(32), algorithm: 'HS256', dpop: { publicOrigin, maxAge: '10m', replay } })
  app.get('/hello', PROTECTED, identity)
  return { app, pool: await signPool((userid) => app.createJwtToken(userid, { roles: ['view'] }, { jkt })) }
}

const hmacKey = (secret) => crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])

const servers = {
  async bare () {
    const app = Fastify({ logger: false })
    app.get('/hello', hello)
    return { app }
  },
  // The control of plugin-anonymous: what Fastify charges any plugin that resolves an identity in
  // onRequest, before its own code runs: one global hook (doing nothing) and the plugin's request
  // and reply decorations, with the same initial values.
  async 'bare-hook' () {
    const app = Fastify({ logger: false })
    for (const [name, initial] of [['identity', null], ['jwtClaims', null], ['authenticatedUserid', null], ['isAuthenticated', false], ['authFailure', null]]) {
      app.decorateRequest(name, initial)
    }
    app.decorateRequest(Symbol('rootContext'), null)
    app.decorateRequest('hasPermission', function () {})
    app.decorateRequest('createJwtToken', function () {})
    app.decorateRequest('dpopProof', function () {})
    app.decorateReply('remember', async function () {})
    app.decorateReply('forget', async function () {})
    app.addHook('onRequest', (request, reply, done) => { done() })
    app.get('/hello', hello)
    return { app }
  },
  // The plugin at its defaults (HS512), a public route requested without a token. /private exists
  // for the check that the plugin is active.
  async 'plugin-anonymous' () {
    const app = await plugin({ secret: randomBytes(64) })
    app.get('/hello', hello)
    app.get('/private', PROTECTED, identity)
    return { app }
  },
  async 'plugin-hs256' () {
    const app = await plugin({ secret: randomBytes(32), algorithm: 'HS256' })
    app.get('/hello', PROTECTED, identity)
    return { app, pool: await signPool((userid) => app.createJwtToken(userid, { roles: ['view'] })) }
  },
  // The cookie policy (CSRF defence on; GET is safe, so it checks nothing here), Secure off for
  // plain HTTP on loopback.
  async 'plugin-cookie' () {
    const app = await plugin({ secret: randomBytes(32), algorithm: 'HS256', cookie: true })
    app.get('/hello', PROTECTED, identity)
    return { app, pool: await signPool((userid) => app.createJwtToken(userid, { roles: ['view'] })) }
  },
  'plugin-dpop-es256': dpop,
  'plugin-dpop-eddsa': dpop,
  // The tokens of a trusted issuer (an identity provider's ES256 key, given as a public JWK), the
  // app's only source of tokens; the server plays the provider too, signing its pool.
  async 'plugin-issuer' () {
    const { SignJWT, exportJWK, generateKeyPair } = await import('jose')
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const [issuer, audience] = ['https://idp.bench.test', 'bench-api']
    const app = await plugin({ issuers: [{ issuer, audience, keys: [{ kid: 'idp-1', algorithm: 'ES256', publicKey: await exportJWK(publicKey) }], claims: { roles: ['roles'] } }] })
    app.get('/hello', PROTECTED, identity)
    const pool = await signPool((userid) => new SignJWT({ roles: ['view'], jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setSubject(userid).setIssuer(issuer).setAudience(audience).setIssuedAt().setExpirationTime('1h').sign(privateKey))
    return { app, pool }
  },
  async 'plugin-cold' () {
    const app = await plugin({ secret: coldSecret(), algorithm: 'HS256' })
    app.get('/hello', PROTECTED, identity)
    return { app }
  },
  async 'jose-cached' () {
    const key = await hmacKey(randomBytes(32))
    const app = await joseHook(key, new Map())
    const { SignJWT } = await import('jose')
    const pool = await signPool((userid) => new SignJWT({ roles: ['view'], jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userid).setIssuedAt().setExpirationTime('1h').sign(key))
    return { app, pool }
  },
  async 'jose-cold' () {
    return { app: await joseHook(await hmacKey(coldSecret()), null) }
  },
  // @fastify/jwt's defaults: HS256, no verification cache.
  async 'fastify-jwt' () {
    const app = await fastifyJwt(randomBytes(32))
    return { app, pool: await signPool((userid) => app.jwt.sign({ sub: userid, roles: ['view'], jti: randomUUID() }, { expiresIn: '1h' })) }
  },
  async 'fastify-jwt-cold' () {
    return { app: await fastifyJwt(coldSecret()) }
  }
}

const name = process.argv[2]
if (servers[name] === undefined || typeof process.send !== 'function') {
  throw new Error(`this is a benchmark server (one of ${Object.keys(servers).join(', ')}): run it with \`npm run bench\``)
}
process.on('disconnect', () => process.exit(0))
process.on('message', (message) => {
  if (message?.type === 'stats') process.send({ type: 'stats', cpu: process.cpuUsage() })
})
const { app, pool = [] } = await servers[name]()
// A full collection of the start-up garbage before app.ready() (listen readies the app): without
// it, a server readied right after registering a plugin could run slower for the whole run than
// one that did other work in between, a difference of start-up history, not of request path.
setFlagsFromString('--expose-gc')
runInNewContext('gc')()
await app.listen({ host: '127.0.0.1', port: 0 })
process.send({ type: 'ready', port: app.server.address().port, pool })
