import t from 'tap'
import { MAX_USERID_LENGTH, toUserid } from '../lib/userid.js'
import { caught } from './helpers/errors.js'

t.test('a userid becomes the sub a token carries', async (t) => {
  t.equal(toUserid('alice'), 'alice')
  t.equal(toUserid('x'.repeat(MAX_USERID_LENGTH)), 'x'.repeat(MAX_USERID_LENGTH))
  t.equal(toUserid(42), '42', 'a safe integer, as its decimal digits')
  t.equal(toUserid(-7), '-7')
  t.equal(toUserid(Number.MAX_SAFE_INTEGER), '9007199254740991')
})

t.test('anything else is a coded error naming the rule', async (t) => {
  for (const userid of ['', 'x'.repeat(MAX_USERID_LENGTH + 1), 1.5, 2 ** 53, Number.NaN, null, undefined, 42n, ['alice'], { id: 1 }]) {
    const error = caught(() => toUserid(userid))
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_CLAIMS', typeof userid)
    t.match(error.message, /userid must be a non-empty string of at most 1024 characters, or a safe integer/)
  }
})
