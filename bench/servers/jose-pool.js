// The token pool of the servers without the plugin that need tokens of the plugin's shape: signed
// with jose's SignJWT, HS256, with the plugin's header and claims (so, at 1,000 userids of 5
// characters, tokens as long as the plugin's).
import { SignJWT } from 'jose'
import { tokenPool } from './common.js'

/** Signs the pool with `key`, an HMAC CryptoKey that may sign. */
export function joseTokenPool (key) {
  return tokenPool((userid) => new SignJWT({ roles: ['view'], jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userid)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(key))
}
