// Contender "bare": a plain Fastify route, no authentication. The baseline.
import Fastify from 'fastify'
import { serve } from './common.js'

const app = Fastify({ logger: false })

app.get('/hello', async () => ({ hello: 'world' }))

await serve(app)
