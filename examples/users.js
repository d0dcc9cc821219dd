// The example's user store: three demo users whose passwords are kept only as scrypt hashes.
// The demo passwords are `<name>-demo-password` (alice-demo-password…): never ship such users.
import { scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const scryptAsync = promisify(scrypt)
const KEY_LENGTH = 32

const users = new Map([
  ['alice', { id: 'alice', name: 'Alice', roles: ['view'], salt: 'e16QejlxAcwvxVCOEO4biw', hash: 'pxfw1vLnwF5q6qzfYZb9Ul-mDCzE_MJPPt78hxVOGp4' }],
  ['bob', { id: 'bob', name: 'Bob', roles: ['view', 'edit'], salt: 'WJ-HY0KisZm63lWhmhU2gg', hash: '2-B-8CpZ2OmURwe-rCmFPOo5ZhJZoHh-HWMa9B5AhU4' }],
  ['carol', { id: 'carol', name: 'Carol', roles: ['view', 'edit', 'admin'], salt: 'fgj_FSPIoDxL2CRTEQmqOQ', hash: 'ZInRtGLVi3IwxkNUUCjfHwHi00RcM2t2VB8vSxCpPhg' }]
])

// Unknown usernames are checked against this hash too, so a login takes as long whether or not the
// user exists.
const NOBODY = { salt: '-9UBK_Pdo97Z57p0Sbjirw', hash: 'o0eslTNE-vWPHf0JkFJyzfkSoAOrpUveR16mvsRh-bI' }

/** The user whose password this is, or null. */
export async function checkPassword (username, password) {
  const user = users.get(username)
  const { salt, hash } = user ?? NOBODY
  const derived = await scryptAsync(password, Buffer.from(salt, 'base64url'), KEY_LENGTH)
  const matches = timingSafeEqual(derived, Buffer.from(hash, 'base64url'))
  return matches && user !== undefined ? user : null
}

/** The user with this id, or null. */
export function findUser (id) {
  return users.get(id) ?? null
}
