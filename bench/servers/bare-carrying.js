// The server of "bare-token", "bare-cookie" and "bare-work": the baseline route of "bare",
// answering {"hello":"world"} whatever the request carries, with a pool of 1,000 tokens for the load
// generator to send. The tokens are signed with jose, with the same header and claims as the
// plugin's, so every request is as long as the plugin contender's it stands beside. Nothing reads
// them: what these contenders cost beyond "bare" is the longer request (Node's HTTP parsing, the
// kernel's copies, the load generator's writes), which any server that receives a token pays.
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { serve } from './common.js'
import { joseTokenPool } from './jose-pool.js'

/** Serves the bare route; `work`, when given, runs on every request before the reply; `details` go to the parent. */
export async function serveBareCarrying (work = null, details = null) {
  const key = await crypto.subtle.importKey('raw', randomBytes(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const app = Fastify({ logger: false })

  app.get('/hello', work === null
    ? async () => ({ hello: 'world' })
    : async () => {
      work()
      return { hello: 'world' }
    })

  await serve(app, await joseTokenPool(key), details)
}
