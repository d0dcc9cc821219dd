// The example app: an API for token clients and a small browser UI with cookie sessions, both
// protected by fastify-jwt-security. API clients send `Authorization: Bearer <token>`; the browser
// holds an HttpOnly session cookie. A PolicyChain serves both.
import { readFile } from 'node:fs/promises'
import Fastify from 'fastify'
import jwtSecurity, { Authenticated, JwtCookiePolicy, JwtHeaderPolicy, MemoryRevocationStore, PolicyChain } from 'fastify-jwt-security'
import { tokenRedactingLogger } from './redact.js'
import { checkPassword, findUser } from './users.js'

const PERMISSIONS = ['view', 'edit', 'admin']
const publicFile = (name) => readFile(new URL(`public/${name}`, import.meta.url), 'utf8')

const loginSchema = {
  body: {
    type: 'object',
    required: ['username', 'password'],
    additionalProperties: false,
    properties: {
      username: { type: 'string', minLength: 1, maxLength: 64 },
      password: { type: 'string', minLength: 1, maxLength: 256 }
    }
  }
}

const articleSchema = {
  body: {
    type: 'object',
    required: ['title'],
    additionalProperties: false,
    properties: { title: { type: 'string', minLength: 1, maxLength: 200 } }
  }
}

/**
 * Builds the example app. `secret` signs and verifies tokens; `logger` is Fastify's logger option
 * (`true`, `false` or pino options), to which the app adds the redaction of tokens in URLs;
 * `reissueTime` is how old a session cookie gets before it is reissued; `revocation` keeps logouts
 * (in memory by default; server.js passes a Redis store when REDIS_URL is set). Nothing here
 * listens: server.js does.
 */
export async function buildApp ({ secret, logger = true, reissueTime = '15m', revocation = new MemoryRevocationStore() }) {
  const app = Fastify({ logger: logger === false ? false : { ...(logger === true ? {} : logger), ...tokenRedactingLogger } })
  const articles = [{ id: 1, title: 'Hello, world', author: 'carol' }]
  const [page, script] = await Promise.all([publicFile('index.html'), publicFile('ui.js')])

  await app.register(jwtSecurity, {
    secret,
    expiresIn: '1h',
    // The header first: a request that presents a bad Authorization header is refused, never
    // rescued by a cookie. `secure: false` because this demo serves plain http on loopback; behind
    // TLS, keep the default (true) and the `__Host-` cookie name.
    policy: new PolicyChain([
      new JwtHeaderPolicy(),
      new JwtCookiePolicy({ cookieName: 'session', secure: false, reissueTime, maxSessionAge: '8h' })
    ]),
    // Pyramid's groupfinder: the roles come from the user store, so a removed user or a revoked
    // role loses its effect on the next request, whatever the token says.
    callback: (userid) => findUser(userid)?.roles ?? null,
    // Logout revokes the token it was given; "sign out everywhere" revokes every token of the user.
    revocation
  })

  app.post('/login', { schema: loginSchema }, async (request, reply) => {
    const user = await checkPassword(request.body.username, request.body.password)
    if (user === null) {
      reply.code(401)
      return { statusCode: 401, error: 'Unauthorized', message: 'Unknown username or wrong password' }
    }
    return { token: await request.createJwtToken(user.id, { name: user.name }), expiresIn: 3600 }
  })

  // The browser UI: a page and its script, served with a strict Content-Security-Policy.
  app.get('/', async (request, reply) => {
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'self'")
    return page
  })
  app.get('/ui.js', async (request, reply) => reply.type('text/javascript; charset=utf-8').send(script))

  // Cookie sessions for the browser: log in, see who you are and what you may do, log out.
  app.post('/session', { schema: loginSchema }, async (request, reply) => {
    const user = await checkPassword(request.body.username, request.body.password)
    if (user === null) {
      reply.code(401)
      return { statusCode: 401, error: 'Unauthorized', message: 'Unknown username or wrong password' }
    }
    await reply.remember(user.id, { name: user.name })
    return { ok: true }
  })

  app.get('/session', async (request) => {
    const permissions = {}
    for (const permission of PERMISSIONS) permissions[permission] = (await request.hasPermission(permission)).allowed
    return { userid: request.authenticatedUserid, name: request.jwtClaims?.name ?? null, permissions }
  })

  app.delete('/session', async (request, reply) => {
    await reply.forget()
    return { ok: true }
  })

  // Logout for API clients: the token they present is revoked (reply.forget() does it).
  app.post('/logout', { preHandler: app.permits(Authenticated) }, async (request, reply) => {
    await reply.forget()
    return { ok: true }
  })

  // Sign out of every device: every token of the user issued until now is refused.
  app.post('/session/everywhere', { preHandler: app.permits(Authenticated) }, async (request, reply) => {
    await app.revokeAllFor(request.authenticatedUserid)
    await reply.forget()
    return { ok: true }
  })

  app.get('/public', async (request) => ({
    message: 'Anyone may read this.',
    userid: request.authenticatedUserid
  }))

  app.get('/me', { preHandler: app.permits(Authenticated) }, async (request) => ({
    userid: request.authenticatedUserid,
    name: request.jwtClaims.name,
    principals: request.identity.principals
  }))

  app.get('/articles', { config: { permission: 'view' } }, async () => articles)

  app.post('/articles', { schema: articleSchema, config: { permission: 'edit' } }, async (request, reply) => {
    const article = { id: articles.length + 1, title: request.body.title, author: request.authenticatedUserid }
    articles.push(article)
    reply.code(201)
    return article
  })

  app.get('/admin', { config: { permission: 'admin' } }, async () => ({
    articles: articles.length,
    message: 'Only administrators see this.'
  }))

  return app
}
