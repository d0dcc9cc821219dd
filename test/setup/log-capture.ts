// Log capture for the whole tap suite, preloaded in every test process with Node's --import
// (.taprc: node-arg). It
// - redirects `import Fastify from 'fastify'` in the project's files to ./fastify.ts, which makes
//   every instance log at level trace into the capture (tests' own streams still get what they
//   asked for) and records every token, Authorization and Cookie value, Set-Cookie value and
//   plugin secret the instance handles;
// - when the tests of the file are done, and at exit, scans every captured line for every recorded
//   value (16 characters or more, raw or JSON-escaped): a leak fails the test file, with the
//   offending lines redacted.
// LOG_CAPTURE_STATS=1 prints, per process, how many lines and values were scanned and how long it took.
import { register } from 'node:module'
import { scanAtExit, scanBeforeTapEnds, type TapRoot } from './capture.js'

register('./redirect-fastify.mjs', import.meta.url, {
  data: {
    wrapper: new URL('./fastify.ts', import.meta.url).href,
    root: new URL('../..', import.meta.url).href
  }
})

// In a tap test process, the scan runs when the root test is about to end, and a leak is a failed
// assertion of the file (stderr is not shown by every reporter). Lines logged later, and processes
// outside tap, are scanned at exit: a leak is printed on stderr and sets the exit code to 1.
if (process.env.TAP === '1') {
  const { t } = await import('tap')
  const root = t as unknown as TapRoot & { onbeforeend: () => unknown }
  const before = root.onbeforeend
  root.onbeforeend = function (this: unknown) {
    scanBeforeTapEnds(root)
    return before.call(this)
  }
}
process.on('exit', scanAtExit)
