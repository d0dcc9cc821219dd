// The contenders, in the order they run within a round. Each one is a server script in
// bench/servers/ that serves GET /hello.
//   tokens:    the child sends a pool of tokens, and every request carries the next one.
//   protected: a path that must answer 401 to a request without a token (checked before each run).
//   plugin:    a contender of this plugin; those with tokens are also compared to fastify-jwt.

export const contenders = [
  {
    name: 'bare',
    description: 'plain Fastify route, no authentication',
    tokens: false
  },
  {
    name: 'plugin-hs256',
    description: 'fastify-jwt-security, HS256 (32-byte secret), config: { permission: \'view\' }',
    tokens: true,
    protected: '/hello',
    plugin: true
  },
  {
    name: 'plugin-hs512',
    description: 'fastify-jwt-security, HS512 (64-byte secret), config: { permission: \'view\' }',
    tokens: true,
    protected: '/hello',
    plugin: true
  },
  {
    name: 'fastify-jwt',
    description: '@fastify/jwt defaults (HS256, 32-byte secret), onRequest: request.jwtVerify()',
    tokens: true,
    protected: '/hello'
  },
  {
    name: 'plugin-anonymous',
    description: 'fastify-jwt-security registered, public route, no Authorization header',
    tokens: false,
    protected: '/private',
    plugin: true
  }
]

export const BASELINE = 'bare'
export const REFERENCE = 'fastify-jwt'
