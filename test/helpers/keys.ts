import { generateKeyPairSync, type KeyObject } from 'node:crypto'

export interface PemPair { privateKey: string, publicKey: string, privateKeyObject: KeyObject, publicKeyObject: KeyObject }

const generators = {
  rsa: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  rsa1024: () => generateKeyPairSync('rsa', { modulusLength: 1024 }),
  ec256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  ec384: () => generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  ec521: () => generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  ed25519: () => generateKeyPairSync('ed25519'),
  ed448: () => generateKeyPairSync('ed448')
}

const cache = new Map<string, PemPair>()

/** A key pair as PEM text and KeyObjects, generated once per test process. */
export function keyPair (kind: keyof typeof generators): PemPair {
  let pair = cache.get(kind)
  if (pair === undefined) {
    const { privateKey, publicKey } = generators[kind]()
    pair = {
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
      privateKeyObject: privateKey,
      publicKeyObject: publicKey
    }
    cache.set(kind, pair)
  }
  return pair
}
