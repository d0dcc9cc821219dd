// Contender "plugin-hs256": fastify-jwt-security, HS256 with a 32-byte random secret.
import { servePlugin } from './plugin.js'

await servePlugin('HS256')
