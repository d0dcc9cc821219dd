// Tokens in URLs. The plugin never reads a token from the query string (`?access_token=`, which
// RFC 6750 section 2.3 allows and this plugin refuses to use), but a client may still send one there,
// and Fastify logs the URL of every request: in the "incoming request" line (`req.url`) and in the
// message of its default not-found handler ("Route GET:/x?access_token=… not found"). These logger
// options replace the value of such parameters with [REDACTED] in both.
const TOKEN_PARAMETER = /([?&;](?:access_token|id_token|refresh_token|token|jwt)=)[^&;#]*/gi

/** The URL with the values of token-like query parameters replaced by [REDACTED]. */
export function redactUrl (url) {
  return url.replace(TOKEN_PARAMETER, '$1[REDACTED]')
}

/** Pino options for Fastify's `logger`: merge them into yours. */
export const tokenRedactingLogger = {
  serializers: {
    // Fastify's own request serializer, with the URL redacted.
    req: (request) => ({
      method: request.method,
      url: redactUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort
    })
  },
  hooks: {
    // Every message string, such as the not-found handler's, before pino writes it.
    logMethod (args, method) {
      method.apply(this, args.map((arg) => typeof arg === 'string' ? redactUrl(arg) : arg))
    }
  }
}
