// Contender "plugin-hs512": fastify-jwt-security, HS512 (the plugin's default) with a 64-byte random secret.
import { servePlugin } from './plugin.js'

await servePlugin('HS512')
