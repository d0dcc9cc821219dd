import type { FastifyInstance } from 'fastify'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type GenerateKeyPairResult } from 'jose'
import * as oauth from 'oauth4webapi'

/** The origin the test apps are configured with (`dpop.publicOrigin`): requests name it, app.inject answers them. */
export const PUBLIC_ORIGIN = 'https://api.example.test'

/** A response as the client library saw it, with the proof it sent. */
export interface DpopAnswer {
  readonly status: number
  readonly headers: Headers
  readonly body: string
  readonly json: () => { code?: string } & Record<string, unknown>
  readonly proof: string | null
}

interface RequestOptions {
  method?: string
  /** The origin the client believes it calls; the request is still answered by `app`. */
  origin?: string
  headers?: Record<string, string>
  body?: string
}

/**
 * A DPoP client made of oauth4webapi's DPoP handle (which also keeps the nonces servers send),
 * whose requests are answered by `app.inject`: nothing leaves the process.
 */
export class DpopClient {
  readonly keyPair: GenerateKeyPairResult
  readonly jkt: string
  readonly handle: oauth.DPoPHandle

  private constructor (keyPair: GenerateKeyPairResult, jkt: string) {
    this.keyPair = keyPair
    this.jkt = jkt
    this.handle = oauth.DPoP({}, keyPair)
  }

  static async create (alg: 'ES256' | 'EdDSA' | 'PS256' = 'ES256'): Promise<DpopClient> {
    const keyPair = await generateKeyPair(alg, { extractable: false })
    return new DpopClient(keyPair, await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)))
  }

  /** A client with the same key and a handle of its own: it knows none of the nonces this one was sent. */
  withoutNonces (): DpopClient {
    return new DpopClient(this.keyPair, this.jkt)
  }

  /** A resource request with `Authorization: DPoP <token>` and a fresh proof. A 401 is returned, not thrown. */
  async request (app: FastifyInstance, token: string, path: string, options: RequestOptions = {}): Promise<DpopAnswer> {
    const { method = 'GET', origin = PUBLIC_ORIGIN, headers = {}, body = null } = options
    const caught: { proof: string | null } = { proof: null }
    try {
      const response = await oauth.protectedResourceRequest(token, method, new URL(path, origin), new Headers(headers), body, {
        DPoP: this.handle,
        [oauth.customFetch]: injector(app, caught)
      })
      return await answer(response, caught.proof)
    } catch (error) {
      if (error instanceof oauth.WWWAuthenticateChallengeError) return await answer(error.response, caught.proof)
      throw error
    }
  }

  /** A token request (a POST to `path`, as oauth4webapi sends to a token endpoint) with a proof without `ath`. */
  async tokenRequest (app: FastifyInstance, path = '/login', parameters: Record<string, string> = { username: 'alice' }): Promise<DpopAnswer> {
    const caught: { proof: string | null } = { proof: null }
    const as: oauth.AuthorizationServer = { issuer: PUBLIC_ORIGIN, token_endpoint: new URL(path, PUBLIC_ORIGIN).href }
    const response = await oauth.clientCredentialsGrantRequest(as, { client_id: 'test-client' }, oauth.None(), new URLSearchParams(parameters), {
      DPoP: this.handle,
      [oauth.customFetch]: injector(app, caught)
    })
    return await answer(response, caught.proof)
  }

  /** The proof the client would send with `token` to `url`: for tests that replay or alter it. */
  async proof (method: string, url: string, token: string): Promise<string> {
    const caught: { proof: string | null } = { proof: null }
    await oauth.protectedResourceRequest(token, method, new URL(url), new Headers(), null, {
      DPoP: this.handle,
      [oauth.customFetch]: async (_url: string, init: RequestInit) => {
        caught.proof = new Headers(init.headers).get('dpop')
        return new Response('{}', { status: 200 })
      }
    })
    return caught.proof as string
  }
}

function injector (app: FastifyInstance, caught: { proof: string | null }) {
  return async (url: string, init: RequestInit): Promise<Response> => {
    const headers = Object.fromEntries(new Headers(init.headers).entries())
    caught.proof = headers.dpop ?? null
    const target = new URL(url)
    const injected = await app.inject({
      method: init.method as 'GET',
      url: target.pathname + target.search,
      headers,
      ...(init.body === undefined || init.body === null ? {} : { payload: String(init.body) })
    })
    const responseHeaders = new Headers()
    for (const [name, value] of Object.entries(injected.headers)) {
      for (const item of [value].flat()) if (item !== undefined) responseHeaders.append(name, String(item))
    }
    return new Response(injected.body, { status: injected.statusCode, headers: responseHeaders })
  }
}

async function answer (response: Response, proof: string | null): Promise<DpopAnswer> {
  const body = await response.text()
  return { status: response.status, headers: response.headers, body, json: () => JSON.parse(body) as { code?: string } & Record<string, unknown>, proof }
}
