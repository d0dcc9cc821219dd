import t from 'tap'
import { freezeClaims, MAX_USERID_LENGTH, RESERVED_CLAIMS, toTokenClaims, toUserid } from '../../lib/tokens/claims.js'
import { caught } from '../helpers/errors.js'
import { sameHiddenClass } from '../helpers/hidden-class.js'

t.test('extra claims are copied as JSON-safe data', async (t) => {
  const input = { name: 'Alice', admin: false, n: 1.5, none: null, list: [1, 'a', [true]], nested: { a: { b: 'c' } } }
  const copy = toTokenClaims(input, null)
  t.same(copy, input)
  t.not(copy.nested, input.nested, 'a copy, not the caller\'s objects')
  t.same(toTokenClaims(undefined, null), {})
  t.same(toTokenClaims(Object.assign(Object.create(null), { a: 1 }), null), { a: 1 })
})

t.test('reserved claims are refused by name', async (t) => {
  t.same([...RESERVED_CLAIMS], ['sub', 'iat', 'exp', 'nbf', 'aud', 'iss', 'jti', 'cnf'])
  for (const name of RESERVED_CLAIMS) {
    const error = caught(() => toTokenClaims({ [name]: 'x' }, null))
    t.ok(error instanceof TypeError)
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_CLAIMS')
    t.match(error.message, `"${name}" is a reserved claim`)
  }
})

t.test('values JSON would drop or mangle are refused, never dropped', async (t) => {
  class User { id = 1 }
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = cyclic
  let deep: Record<string, unknown> = {}
  const root = deep
  for (let level = 0; level < 40; level++) { deep.x = {}; deep = deep.x as Record<string, unknown> }
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', ['a'], /extra claims must be a plain object/],
    ['null', null, /plain object/],
    ['class instance', new User(), /plain object/],
    ['undefined value', { a: undefined }, /claim "a" holds a value of type undefined/],
    ['function', { f: () => 1 }, /claim "f" holds a value of type function/],
    ['bigint', { big: 10n }, /claim "big" holds a value of type bigint/],
    ['symbol', { s: Symbol('s') }, /claim "s" holds a value of type symbol/],
    ['NaN', { list: [1, NaN] }, /claim "list\[1\]" holds NaN/],
    ['Infinity', { a: { b: Infinity } }, /claim "a.b" holds Infinity/],
    ['Date', { when: new Date(0) }, /claim "when" holds an instance of Date/],
    ['Map', { m: new Map() }, /an instance of Map/],
    ['instance of an anonymous prototype', { o: Object.create({}) }, /an instance of Object/],
    ['instance without a constructor', { o: Object.create(Object.create(null)) }, /an instance of an unknown class/],
    ['cycle', cyclic, /claim "self" contains a cycle/],
    ['__proto__ key', JSON.parse('{"a":{"__proto__":{"x":1}}}'), /claim "a" has a "__proto__" key/],
    ['too deep', root, /nested more than 32 levels/]
  ]
  for (const [name, value, message] of cases) {
    const error = caught(() => toTokenClaims(value, null))
    t.ok(error instanceof TypeError, name)
    t.equal(error.code, 'FST_JWT_SECURITY_INVALID_CLAIMS', name)
    t.match(error.message, message, name)
  }
  const shared = { x: 1 }
  t.same(toTokenClaims({ a: shared, b: shared }, null), { a: { x: 1 }, b: { x: 1 } }, 'a repeated object is not a cycle')
})

t.test('encodeClaim converts what JSON cannot carry (pyramid_jwt json_encoder)', async (t) => {
  const encode = (value: unknown): unknown => {
    if (value instanceof Date) return value.toISOString()
    if (typeof value === 'bigint') return value.toString()
    if (value instanceof Set) return [...value]
    return value
  }
  t.same(toTokenClaims({ when: new Date(0), big: 12n, tags: new Set(['a', new Date(1000)]) }, encode), {
    when: '1970-01-01T00:00:00.000Z', big: '12', tags: ['a', '1970-01-01T00:00:01.000Z']
  })
  const refused = caught(() => toTokenClaims({ f: () => 1 }, encode))
  t.match(refused.message, /claim "f" holds a value of type function/)
  const loops = caught(() => toTokenClaims({ x: 1n }, (value) => typeof value === 'bigint' ? value + 1n : value))
  t.match(loops.message, /nested more than 32 levels/, 'an encoder that never reaches JSON stops')
})

t.test('freezeClaims copies into frozen null-prototype objects', async (t) => {
  const claims = freezeClaims({ sub: 'a', list: [{ x: 1 }] })
  t.ok(claims !== null && Object.isFrozen(claims) && Object.getPrototypeOf(claims) === null)
  t.equal(freezeClaims(JSON.parse('{"sub":"a","__proto__":1}')), null)
})

t.test('freezeClaims: copies of claims with the same names share hidden classes, at every level', async (t) => {
  // Frozen Object.create(null) objects each had a hidden class of their own: every read of a claim
  // then missed V8's caches, and each token verified left one more class behind.
  const copy = (n: number) => freezeClaims(JSON.parse(`{"sub":"u${n}","iat":${n},"roles":["r${n}"],"org":{"id":"o${n}"}}`)) as Record<string, any>
  const first = copy(1)
  const others = [copy(2), copy(3)]
  for (const other of others) {
    t.ok(sameHiddenClass(first, other), 'the claims')
    t.ok(sameHiddenClass(first.org, other.org), 'a nested object')
    t.ok(sameHiddenClass(first.roles, other.roles), 'an array')
  }
  t.notOk(sameHiddenClass(first, freezeClaims({ sub: 'u', other: 1 }) as object), 'other names, another class: the check can fail')
})

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
