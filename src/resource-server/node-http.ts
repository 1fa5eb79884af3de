import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticateRequest, type ResourceServerOptions } from './authenticate-request.ts';
import { refusalFor } from './refusal.ts';
import type { VerifiedAccessToken } from './verified-access-token.ts';

export interface NodeAccessTokenOptions extends ResourceServerOptions {
  /** Public base URL of this API (scheme://host[:port]); default http://<Host header>. Used for DPoP `htu`. */
  publicOrigin?: string;
}

const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(', ') : value);

/**
 * node:http: verifies the request and returns the token, or answers the refusal itself and
 * returns undefined.
 *   const token = await checkNodeRequest(req, res, { issuer, audience, scopes: ['notes:read'] });
 *   if (!token) return;
 */
export async function checkNodeRequest(req: IncomingMessage, res: ServerResponse, options: NodeAccessTokenOptions): Promise<VerifiedAccessToken | undefined> {
  const origin = options.publicOrigin ?? `http://${req.headers.host ?? 'localhost'}`;
  try {
    return await authenticateRequest(
      {
        method: req.method ?? 'GET',
        url: new URL(req.url ?? '/', origin).href,
        authorization: single(req.headers.authorization),
        dpop: single(req.headers.dpop),
      },
      options,
    );
  } catch (error) {
    const refusal = refusalFor(error, options);
    res.writeHead(refusal.status, { ...refusal.headers, 'content-type': 'application/json' }).end(JSON.stringify(refusal.body));
    return undefined;
  }
}

/**
 * Fetch API (Request/Response — Node's global fetch types, Deno, workers): returns the
 * token, or a ready Response for the refusal.
 */
export async function checkFetchRequest(
  request: Request,
  options: ResourceServerOptions,
): Promise<{ ok: true; token: VerifiedAccessToken } | { ok: false; response: Response }> {
  try {
    const token = await authenticateRequest(
      { method: request.method, url: request.url, authorization: request.headers.get('authorization'), dpop: request.headers.get('dpop') },
      options,
    );
    return { ok: true, token };
  } catch (error) {
    const refusal = refusalFor(error, options);
    return { ok: false, response: Response.json(refusal.body, { status: refusal.status, headers: refusal.headers }) };
  }
}
