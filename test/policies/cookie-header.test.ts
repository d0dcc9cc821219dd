import t from 'tap'
import { hasTwoPairs } from '../../lib/policies/cookie-header.js'

t.test('a name counts as the cookie parser reads names: after a ; or the start, before a =, spaces ignored', async (t) => {
  t.equal(hasTwoPairs('a=1; a=2', 'a'), true)
  t.equal(hasTwoPairs('a=1;a =2', 'a'), true)
  t.equal(hasTwoPairs('a=1;\ta=2', 'a'), true)
  t.equal(hasTwoPairs('a=1', 'a'), false)
  t.equal(hasTwoPairs('a=1; ba=2', 'a'), false, 'another name that ends with it')
  t.equal(hasTwoPairs('a=1; ab=2', 'a'), false, 'another name that begins with it')
  t.equal(hasTwoPairs('x=a=1; y=a', 'a'), false, 'in values')
  t.equal(hasTwoPairs('', 'a'), false)
})
