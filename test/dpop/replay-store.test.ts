import t from 'tap'
import { MemoryDpopReplayStore, replayTtlSeconds } from '../../lib/dpop/replay-store.js'

function clocked (options: { maxEntries?: number } = {}) {
  const clock = { now: 1_800_000_000_000 }
  return { clock, store: new MemoryDpopReplayStore({ ...options, now: () => clock.now }) }
}

t.test('a key is a first use once, then a replay until its time to live ends', async (t) => {
  const { clock, store } = clocked()
  t.equal(store.firstUse('jkt:j1', 60), true)
  t.equal(store.firstUse('jkt:j1', 60), false, 'the same key again: a replay')
  t.equal(store.firstUse('jkt:j2', 60), true, 'another key is unaffected')
  clock.now += 59_999
  t.equal(store.firstUse('jkt:j1', 60), false, 'still a replay 1 ms before it expires')
  clock.now += 1
  t.equal(store.firstUse('jkt:j1', 60), true, 'an expired key counts as absent')
  t.equal(store.firstUse('jkt:j1', 60), false, 'and is recorded again')
})

t.test('a time to live is kept in whole seconds, at least one, as Redis keeps it', async (t) => {
  const { clock, store } = clocked()
  store.firstUse('short', 0.2)
  store.firstUse('zero', 0)
  store.firstUse('rounded', 1.5)
  clock.now += 999
  t.same(['short', 'zero', 'rounded'].map((key) => store.firstUse(key, 1)), [false, false, false], 'each kept at least 1 s')
  clock.now += 1
  t.same(['short', 'zero', 'rounded'].map((key) => store.firstUse(key, 1)), [true, true, false], '1.5 s is kept 2 s')
  t.same([replayTtlSeconds(0.2), replayTtlSeconds(-5), replayTtlSeconds(60), replayTtlSeconds(60.01)], [1, 1, 60, 61])
})

t.test('a time to live that is not a finite number throws rather than keep nothing', async (t) => {
  const { store } = clocked()
  for (const ttl of [Number.NaN, Infinity, undefined as unknown as number]) {
    t.throws(() => store.firstUse('k', ttl), { name: 'RangeError', message: /needs a finite time to live/ }, String(ttl))
  }
  t.equal(store.size, 0, 'nothing was recorded')
  t.equal(store.firstUse('k', 60), true)
})

t.test('expired keys are dropped from the front as new ones come: memory stays bounded without a sweep', async (t) => {
  const { clock, store } = clocked({ maxEntries: 1000 })
  let largest = 0
  let firstUses = 0
  for (let second = 0; second < 5000; second++) {
    if (store.firstUse(`key-${second}`, 10)) firstUses++
    largest = Math.max(largest, store.size)
    clock.now += 1000
  }
  t.equal(firstUses, 5000)
  t.equal(largest, 10, 'never more than the keys of the last 10 seconds, far below maxEntries')
  t.equal(store.firstUse('key-4999', 10), false, 'the newest key is still a replay')
  t.equal(store.firstUse('key-4989', 10), true, 'a key that expired is a first use again')
})

t.test('the front stops at the first live key: an expired key behind it waits for its lookup or a sweep', async (t) => {
  const { clock, store } = clocked({ maxEntries: 4 })
  store.firstUse('long', 100)
  store.firstUse('short-1', 1)
  store.firstUse('short-2', 1)
  clock.now += 5000
  store.firstUse('new', 100)
  t.equal(store.size, 4, 'the expired keys behind "long" are still held')
  t.equal(store.firstUse('short-1', 1), true, 'looked up, an expired key is a first use')
  t.equal(store.size, 4, 'and takes its own place, not another')
  t.equal(store.firstUse('fresh', 100), true, 'the store is full: the sweep drops short-2 to make room')
  t.equal(store.size, 4)
  t.same(['long', 'new', 'fresh'].map((key) => store.firstUse(key, 100)), [false, false, false], 'the sweep kept every live key')
})

t.test('a key used again after it expired: its old arrival, reaching the front, does not drop the new one', async (t) => {
  const { clock, store } = clocked()
  store.firstUse('long', 5)
  store.firstUse('k', 1)
  clock.now += 4500
  t.equal(store.firstUse('k', 10), true, 'expired behind "long": a first use, kept 10 s from now')
  clock.now += 1500
  t.equal(store.firstUse('other', 10), true, '"long" and the first arrival of k are dropped from the front')
  t.equal(store.firstUse('k', 10), false, 'k is still a replay')
  t.equal(store.size, 2, 'k and other')
})

t.test('old arrivals of keys used again cannot pile up behind a long-lived key', async (t) => {
  const { clock, store } = clocked({ maxEntries: 2 })
  store.firstUse('long', 10)
  for (let round = 0; round < 5; round++) {
    t.equal(store.firstUse('k', 1), true, `round ${round}: a first use`)
    t.equal(store.firstUse('k', 1), false, `round ${round}: then a replay`)
    t.equal(store.firstUse('long', 10), false)
    clock.now += 2000
  }
  t.equal(store.size, 2, 'each use of k took the same place')
  clock.now += 1000
  t.equal(store.firstUse('new', 10), true)
  t.equal(store.size, 1, 'both expired keys were dropped from the front: the queue kept k\'s current arrival')
})

t.test('a store full of live keys throws, still answers replays, and takes new keys once some expire', async (t) => {
  const { clock, store } = clocked({ maxEntries: 3 })
  store.firstUse('a', 10)
  store.firstUse('b', 10)
  store.firstUse('c', 20)
  t.throws(() => store.firstUse('d', 10), { name: 'Error', message: 'the DPoP replay store holds 3 live proofs, its maxEntries: a new one cannot be checked' })
  t.equal(store.size, 3, 'nothing was forgotten to make room')
  t.equal(store.firstUse('a', 10), false, 'a replay is still refused while full')
  clock.now += 10_000
  t.equal(store.firstUse('d', 10), true)
  t.equal(store.size, 2, 'a and b expired and were dropped')
  t.equal(store.firstUse('c', 20), false)
})

t.test('options are checked', async (t) => {
  const invalid = (message: RegExp) => ({ code: 'FST_JWT_SECURITY_INVALID_OPTION', message })
  t.throws(() => new MemoryDpopReplayStore({ maxEntries: 0 }), invalid(/"maxEntries": expected a positive integer/))
  t.throws(() => new MemoryDpopReplayStore({ maxEntries: 1.5 }), invalid(/"maxEntries"/))
  t.throws(() => new MemoryDpopReplayStore({ maxEntries: Infinity }), invalid(/"maxEntries"/))
  t.throws(() => new MemoryDpopReplayStore({ now: 'now' as unknown as () => number }), invalid(/"now": expected a function/))
  t.throws(() => new MemoryDpopReplayStore({ maxEntires: 10 } as never), invalid(/"maxEntires": unknown option/), 'a misspelt option is refused, not ignored')
  t.throws(() => new MemoryDpopReplayStore(null as never), invalid(/"options": expected an object/))
  const store = new MemoryDpopReplayStore()
  t.equal(store.firstUse('k', 60), true, 'the real clock by default')
  t.equal(store.firstUse('k', 60), false)
})
