// Key material in the encodings attackers feed to HMAC verifiers (catalogue A6, A13, F3):
// PEM, PKCS#1, X.509 certificates, JWK/JWKS text, OpenSSH lines and DER, built without OpenSSL.
import { createHash, createPublicKey, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto'

function tlv (tag: number, content: Buffer): Buffer {
  const length = content.length
  let lengthBytes: Buffer
  if (length < 0x80) {
    lengthBytes = Buffer.from([length])
  } else {
    const hex = length.toString(16)
    const bytes = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex')
    lengthBytes = Buffer.concat([Buffer.from([0x80 | bytes.length]), bytes])
  }
  return Buffer.concat([Buffer.from([tag]), lengthBytes, content])
}

const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items))
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items))
const integer = (value: number) => tlv(0x02, Buffer.from([value]))
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text))
const utcTime = (text: string) => tlv(0x17, Buffer.from(text))
const bitString = (bytes: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]))
const NULL = Buffer.from([0x05, 0x00])

function oid (dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]]
  const bytes = [40 * first + second]
  for (const arc of rest) {
    const digits = [arc & 0x7f]
    for (let value = arc >>> 7; value > 0; value >>>= 7) digits.unshift((value & 0x7f) | 0x80)
    bytes.push(...digits)
  }
  return tlv(0x06, Buffer.from(bytes))
}

function signatureAlgorithm (key: KeyObject): { identifier: Buffer, hash: string | null } {
  switch (key.asymmetricKeyType) {
    case 'rsa': return { identifier: sequence(oid('1.2.840.113549.1.1.11'), NULL), hash: 'sha256' }
    case 'ec': return { identifier: sequence(oid('1.2.840.10045.4.3.2')), hash: 'sha256' }
    case 'ed25519': return { identifier: sequence(oid('1.3.101.112')), hash: null }
  }
  throw new Error(`no certificate signature for ${key.asymmetricKeyType}`)
}

/** A self-signed X.509 v3 certificate (DER) for the key pair of `privateKey`. */
export function selfSignedCertificate (privateKey: KeyObject, commonName: string): Buffer {
  const { identifier, hash } = signatureAlgorithm(privateKey)
  const name = sequence(set(sequence(oid('2.5.4.3'), utf8(commonName))))
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' })
  const tbs = sequence(
    tlv(0xa0, integer(2)),
    integer(1),
    identifier,
    name,
    sequence(utcTime('250101000000Z'), utcTime('491231235959Z')),
    name,
    spki
  )
  return sequence(tbs, identifier, bitString(cryptoSign(hash, tbs, privateKey)))
}

/** DER bytes as PEM text with the given label. */
export function pem (der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) as string[]
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

function sshString (bytes: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(bytes.length)
  return Buffer.concat([length, bytes])
}

function sshMpint (bytes: Buffer): Buffer {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const trimmed = bytes.subarray(start)
  return sshString(((trimmed[0] as number) & 0x80) === 0 ? trimmed : Buffer.concat([Buffer.from([0]), trimmed]))
}

/** The OpenSSH `authorized_keys` line of a public key (ssh-rsa, ecdsa-sha2-nistp256 or ssh-ed25519). */
export function openSshLine (publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' })
  const bytes = (value: string | undefined) => Buffer.from(value as string, 'base64url')
  let type: string
  let blob: Buffer
  switch (publicKey.asymmetricKeyType) {
    case 'rsa':
      type = 'ssh-rsa'
      blob = Buffer.concat([sshString(Buffer.from(type)), sshMpint(bytes(jwk.e)), sshMpint(bytes(jwk.n))])
      break
    case 'ec':
      type = 'ecdsa-sha2-nistp256'
      blob = Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.from('nistp256')), sshString(Buffer.concat([Buffer.from([4]), bytes(jwk.x), bytes(jwk.y)]))])
      break
    default:
      type = 'ssh-ed25519'
      blob = Buffer.concat([sshString(Buffer.from(type)), sshString(bytes(jwk.x))])
  }
  return `${type} ${blob.toString('base64')} server@example`
}

/** The raw public key bytes: the RSA modulus, the uncompressed EC point, or the Ed25519 key. */
function rawPublicKey (publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' })
  const bytes = (value: string | undefined) => Buffer.from(value as string, 'base64url')
  if (jwk.kty === 'RSA') return bytes(jwk.n)
  if (jwk.kty === 'EC') return Buffer.concat([Buffer.from([4]), bytes(jwk.x), bytes(jwk.y)])
  return bytes(jwk.x)
}

/**
 * Every encoding of the server's public key that the catalogue (A6) lists, as the bytes an
 * attacker would use as an HMAC secret.
 */
export function publicKeyEncodings (privateKey: KeyObject): Array<[string, Buffer]> {
  const publicKey = createPublicKey(privateKey)
  const spkiPem = publicKey.export({ type: 'spki', format: 'pem' }) as string
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' })
  const certificate = selfSignedCertificate(privateKey, 'server.example')
  const jwk = publicKey.export({ format: 'jwk' })
  const ssh = openSshLine(publicKey)
  const encodings: Array<[string, string | Buffer]> = [
    ['SPKI PEM', spkiPem],
    ['SPKI PEM without its final newline', spkiPem.trimEnd()],
    ['SPKI PEM with CRLF line ends', spkiPem.replace(/\n/g, '\r\n')]
  ]
  if (publicKey.asymmetricKeyType === 'rsa') {
    encodings.push(
      ['PKCS#1 PEM', publicKey.export({ type: 'pkcs1', format: 'pem' }) as string],
      ['PKCS#1 DER', publicKey.export({ type: 'pkcs1', format: 'der' })]
    )
  }
  encodings.push(
    ['X.509 certificate PEM', pem(certificate, 'CERTIFICATE')],
    ['X.509 certificate DER', certificate],
    ['PEM with leading spaces', `  ${spkiPem}`],
    ['PEM with a leading newline', `\n${spkiPem}`],
    ['PEM with a leading tab', `\t${spkiPem}`],
    ['PEM with a leading BOM', `\uFEFF${spkiPem}`],
    ['PEM with a leading zero-width space', `\u200B${spkiPem}`],
    ['JWK JSON', JSON.stringify(jwk)],
    ['JWK JSON with kid, alg and use', JSON.stringify({ ...jwk, kid: 'server', use: 'sig' })],
    ['pretty-printed JWK JSON', JSON.stringify(jwk, null, 2)],
    ['JWKS JSON', JSON.stringify({ keys: [jwk] })],
    ['OpenSSH line', ssh],
    ['OpenSSH line with a newline', `${ssh}\n`],
    ['SPKI DER', spkiDer],
    ['raw public key bytes', rawPublicKey(publicKey)]
  )
  return encodings.map(([name, value]) => [name, Buffer.isBuffer(value) ? value : Buffer.from(value)])
}

/** An RSA public key whose modulus has exactly `bits` bits (random, not a product of primes: only its size matters). */
export function rsaPublicKeyOfSize (bits: number): KeyObject {
  const modulus = randomBytes(Math.ceil(bits / 8))
  const spare = modulus.length * 8 - bits
  modulus[0] = ((modulus[0] as number) & (0xff >> spare)) | (0x80 >> spare)
  modulus[modulus.length - 1] = (modulus[modulus.length - 1] as number) | 1
  return createPublicKey({ key: { kty: 'RSA', n: modulus.toString('base64url'), e: 'AQAB' }, format: 'jwk' })
}

/** The `x5t` (SHA-1) and `x5t#S256` thumbprints of a DER certificate. */
export function thumbprints (certificate: Buffer): { x5t: string, x5tS256: string } {
  return {
    x5t: createHash('sha1').update(certificate).digest('base64url'),
    x5tS256: createHash('sha256').update(certificate).digest('base64url')
  }
}
