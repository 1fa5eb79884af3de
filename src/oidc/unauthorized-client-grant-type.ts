import type { Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

/** oidc-provider's refusal of a grant type the client is not registered for (lib/actions/token.js). */
const NOT_ALLOWED = 'requested grant type is not allowed for this client';

/**
 * RFC 6749 §5.2: an authenticated client using a grant type it is not authorized to use gets
 * `unauthorized_client`; oidc-provider says `invalid_request`, which clients (authlib,
 * openid-client) report as a malformed request. The answer is translated after the provider
 * has authenticated the client and refused, so nothing else about the request changes (status
 * 400, no token, the provider's `grant.error` event as before). For provider.use().
 */
export function answerUnauthorizedClientForGrantType(): Middleware {
  return async function unauthorizedClientForGrantType(ctx, next) {
    await next();
    if ((ctx as unknown as KoaContextWithOIDC).oidc?.route !== 'token' || ctx.status !== 400) return;
    const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
    if (body?.error === 'invalid_request' && body.error_description === NOT_ALLOWED) body.error = 'unauthorized_client';
  };
}
