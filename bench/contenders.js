// The HTTP contenders and the comparisons between them. Each contender is a server in
// bench/servers.js that serves GET /hello.
//   tokens:    'server': the server signs 1,000 tokens with its own signer (plugin-issuer: with the
//              identity provider's key), and the load generator sends them over and over (a warm
//              cache). 'cold': every request carries a token the server has never seen
//              (bench/measure.js, ColdPool). null: no token.
//   transport: 'authorization' (Bearer header), 'cookie' (`session=<token>`) or 'dpop'
//              (`Authorization: DPoP <token>` and a `DPoP` header with a new proof signed with the
//              `proof` algorithm, bench/measure.js, ProofPool: the proof's check cannot be cached).
//   protected: a path that must answer 401 to a request without a token (checked before each run).

export const BASELINE = 'bare'

export const contenders = [
  { name: 'bare', tokens: null },
  { name: 'bare-hook', tokens: null },
  { name: 'plugin-anonymous', tokens: null, protected: '/private' },
  { name: 'plugin-hs256', tokens: 'server', transport: 'authorization', protected: '/hello' },
  { name: 'plugin-cookie', tokens: 'server', transport: 'cookie', protected: '/hello' },
  { name: 'plugin-dpop-es256', tokens: 'server', transport: 'dpop', proof: 'ES256', protected: '/hello' },
  { name: 'plugin-dpop-eddsa', tokens: 'server', transport: 'dpop', proof: 'EdDSA', protected: '/hello' },
  { name: 'plugin-issuer', tokens: 'server', transport: 'authorization', protected: '/hello' },
  { name: 'jose-cached', tokens: 'server', transport: 'authorization', protected: '/hello' },
  { name: 'fastify-jwt', tokens: 'server', transport: 'authorization', protected: '/hello' },
  { name: 'plugin-cold', tokens: 'cold', transport: 'authorization', protected: '/hello' },
  { name: 'jose-cold', tokens: 'cold', transport: 'authorization', protected: '/hello' },
  { name: 'fastify-jwt-cold', tokens: 'cold', transport: 'authorization', protected: '/hello' }
]

// The ratios a run reports, each at every pipelining level: of the medians of the rounds, and
// paired (the median of the per-cycle ratios of slices). `min` is the target both must reach; null
// for a ratio reported without a target.
export const targets = [
  { label: 'Header policy, warm cache, vs a minimal jose hook with a Map of verified tokens', contender: 'plugin-hs256', reference: 'jose-cached', min: 0.95 },
  { label: 'Cold path (every token new), vs jose alone', contender: 'plugin-cold', reference: 'jose-cold', min: 0.95 },
  { label: 'Anonymous public route, vs a bare route with an empty onRequest hook', contender: 'plugin-anonymous', reference: 'bare-hook', min: 0.98 },
  { label: 'Header policy, warm cache, vs @fastify/jwt', contender: 'plugin-hs256', reference: 'fastify-jwt', min: null },
  { label: 'Cold path, vs @fastify/jwt under the same load', contender: 'plugin-cold', reference: 'fastify-jwt-cold', min: null },
  { label: 'Cookie policy vs header policy, warm cache', contender: 'plugin-cookie', reference: 'plugin-hs256', min: null },
  // The token is a cache hit; the proof is new on every request, its signature checked every time.
  { label: 'DPoP (ES256 proofs) vs bearer, warm cache', contender: 'plugin-dpop-es256', reference: 'plugin-hs256', min: null },
  { label: 'DPoP (EdDSA proofs) vs bearer, warm cache', contender: 'plugin-dpop-eddsa', reference: 'plugin-hs256', min: null },
  // The design goal: on a cache hit, a known issuer's token costs no more than one the app signed.
  { label: 'Trusted issuer\'s token vs the app\'s own, warm cache', contender: 'plugin-issuer', reference: 'plugin-hs256', min: null }
]
