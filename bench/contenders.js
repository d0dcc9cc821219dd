// The HTTP contenders, in the order their servers start within the first round (later rounds start
// one further down the list; the slices of each cycle take them in an order of their own). Each one is a server script in bench/servers/ that serves GET /hello.
//   tokens:    'server': the child signs a pool of 1,000 tokens with its own signer and sends it
//              over IPC; the parent sends each token twice (priming), then every connection
//              goes through the pool in turn, one prepared request per token.
//              'cold': the parent signs a pool of tokens never seen before (bench/cold-tokens.js),
//              big enough that no token is sent twice in a run; the child gets the secret.
//              null: requests carry no token.
//   transport: where the token travels: 'authorization' (Bearer header) or 'cookie' (`cookie`).
//   protected: a path that must answer 401 to a request without a token (checked before each run).
//   compare:   other contenders this one's req/s is divided by, besides bare (every contender).
//   ignoresTokens: the server reads no token: it answers {"hello":"world"} to any request
//              (checked with a tampered token too), and is sent a pool only to get its bytes.

export const contenders = [
  {
    name: 'bare',
    description: 'plain Fastify route, no authentication',
    tokens: null
  },
  {
    name: 'bare-token',
    description: 'the bare route, sent plugin-hs256\'s requests (Authorization: Bearer, 1,000 tokens of the same length) and reading none of them',
    tokens: 'server',
    transport: 'authorization',
    ignoresTokens: true
  },
  {
    name: 'bare-cookie',
    description: 'the bare route, sent plugin-cookie\'s requests (Cookie: session=<token>, 1,000 tokens of the same length) and reading none of them',
    tokens: 'server',
    transport: 'cookie',
    cookieName: 'session',
    ignoresTokens: true
  },
  {
    name: 'bare-work',
    description: 'the control: bare-token\'s route and requests, plus 2 µs of arithmetic per request (timed at start-up)',
    tokens: 'server',
    transport: 'authorization',
    ignoresTokens: true,
    compare: ['bare-token']
  },
  {
    name: 'plugin-hs256',
    description: 'fastify-jwt-security, header policy, HS256 (32-byte secret), config: { permission: \'view\' }, 1,000 tokens reused',
    tokens: 'server',
    transport: 'authorization',
    protected: '/hello',
    compare: ['bare-token', 'fastify-jwt', 'jose-cached']
  },
  {
    name: 'plugin-hs512',
    description: 'the same with HS512 (the plugin\'s default algorithm, 64-byte secret)',
    tokens: 'server',
    transport: 'authorization',
    protected: '/hello',
    compare: ['fastify-jwt']
  },
  {
    name: 'fastify-jwt',
    description: '@fastify/jwt defaults (HS256, 32-byte secret, no cache), onRequest: request.jwtVerify(), 1,000 tokens reused',
    tokens: 'server',
    transport: 'authorization',
    protected: '/hello'
  },
  {
    name: 'jose-cached',
    description: 'no plugin: an onRequest hook with a Map of verified tokens (exp checked), jose jwtVerify (CryptoKey, HS256) on a miss, 1,000 tokens reused',
    tokens: 'server',
    transport: 'authorization',
    protected: '/hello',
    compare: ['bare-token']
  },
  {
    name: 'plugin-cookie',
    description: 'fastify-jwt-security, JwtCookiePolicy (cookie "session", CSRF on), HS256, config: { permission: \'view\' }, 1,000 tokens reused',
    tokens: 'server',
    transport: 'cookie',
    cookieName: 'session',
    protected: '/hello',
    compare: ['bare-cookie']
  },
  {
    name: 'plugin-cold',
    description: 'fastify-jwt-security, header policy, HS256, default options (cache on): every request carries a new token',
    tokens: 'cold',
    transport: 'authorization',
    protected: '/hello',
    compare: ['fastify-jwt-cold', 'jose-cold', 'fastify-jwt']
  },
  {
    name: 'fastify-jwt-cold',
    description: '@fastify/jwt defaults: every request carries a new token',
    tokens: 'cold',
    transport: 'authorization',
    protected: '/hello'
  },
  {
    name: 'jose-cold',
    description: 'no plugin: an onRequest hook calling jose jwtVerify with a CryptoKey (HS256 pinned): every request carries a new token',
    tokens: 'cold',
    transport: 'authorization',
    protected: '/hello',
    compare: ['fastify-jwt-cold']
  },
  {
    name: 'bare-hook',
    description: 'the control of plugin-anonymous: the bare route, one onRequest hook that does nothing, and the plugin\'s request and reply decorations',
    tokens: null
  },
  {
    name: 'plugin-anonymous',
    description: 'fastify-jwt-security registered (HS512), public route, no token',
    tokens: null,
    protected: '/private',
    compare: ['bare-hook']
  }
]

export const BASELINE = 'bare'

/** The reference columns of the tables: every contender named in some `compare`, in order. */
export function referencesOf (list) {
  return [...new Set(list.flatMap((contender) => contender.compare ?? []))]
}
