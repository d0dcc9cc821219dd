import t from 'tap'
import { isAuthentic, newFamilyId, newFamilySecret, parseRefreshToken, refreshTokenOf } from '../../lib/refresh/refresh-token.js'

const family = { id: newFamilyId(), secret: newFamilySecret() }

t.test('a refresh token names its family and generation, authenticated by the family\'s secret', async (t) => {
  t.match(family.id, /^[A-Za-z0-9_-]{22}$/)
  t.match(family.secret, /^[A-Za-z0-9_-]{43}$/)
  t.not(newFamilyId(), family.id)
  const token = refreshTokenOf(family, 7)
  t.match(token, new RegExp(`^rt\\.${family.id}\\.7\\.[A-Za-z0-9_-]{43}$`))
  t.equal(refreshTokenOf(family, 7), token, 'the same generation gives the same token: the store keeps none')
  t.not(refreshTokenOf(family, 8), token)
  const parts = parseRefreshToken(token)
  t.same(parts, { familyId: family.id, generation: 7, mac: token.slice(-43) })
  t.ok(isAuthentic(parts as NonNullable<typeof parts>, family.secret))
  t.notOk(isAuthentic(parts as NonNullable<typeof parts>, newFamilySecret()), 'another family\'s secret')
  const forged = parseRefreshToken(`rt.${family.id}.8.${token.slice(-43)}`)
  t.notOk(isAuthentic(forged as NonNullable<typeof forged>, family.secret), 'a generation changed by hand')
})

t.test('anything but a refresh token parses to null: JWTs, other generations\' syntax, long or odd values', async (t) => {
  const valid = refreshTokenOf(family, 0)
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2ln'
  for (const value of [jwt, '', 'rt', valid.replace('rt.', 'RT.'), valid.replace('.0.', '.00.'), valid.replace('.0.', '.-1.'),
    valid.replace('.0.', '.1234567890.'), `${valid}=`, ` ${valid}`, valid.slice(0, -1), 42, null, undefined, { token: valid }, `${valid}.x`]) {
    t.equal(parseRefreshToken(value), null, JSON.stringify(value))
  }
  t.equal(parseRefreshToken(valid.replace('.0.', '.999999999.'))?.generation, 999_999_999)
})
