// The example app: a small API protected by fastify-jwt-security's header policy.
import Fastify from 'fastify'
import jwtSecurity, { Authenticated } from 'fastify-jwt-security'
import { checkPassword, findUser } from './users.js'

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
 * Builds the example app. `secret` signs and verifies tokens; `logger` is Fastify's logger option.
 * Nothing here listens: server.js does.
 */
export async function buildApp ({ secret, logger = true }) {
  const app = Fastify({ logger })
  const articles = [{ id: 1, title: 'Hello, world', author: 'carol' }]

  await app.register(jwtSecurity, {
    secret,
    expiresIn: '1h',
    // Pyramid's groupfinder: the roles come from the user store, so a removed user or a revoked
    // role loses its effect on the next request, whatever the token says.
    callback: (userid) => findUser(userid)?.roles ?? null
  })

  app.post('/login', { schema: loginSchema }, async (request, reply) => {
    const user = await checkPassword(request.body.username, request.body.password)
    if (user === null) {
      reply.code(401)
      return { statusCode: 401, error: 'Unauthorized', message: 'Unknown username or wrong password' }
    }
    return { token: await request.createJwtToken(user.id, { name: user.name }), expiresIn: 3600 }
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
