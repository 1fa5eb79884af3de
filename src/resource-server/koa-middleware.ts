import { insufficientScope } from './access-token-error.ts';
import { authenticateRequest, type ResourceServerOptions } from './authenticate-request.ts';
import { refusalFor } from './refusal.ts';
import type { VerifiedAccessToken } from './verified-access-token.ts';

/** The slice of a Koa context the middleware uses (structural, so Koa itself is not imported). */
export interface KoaLikeContext {
  method: string;
  protocol: string;
  host: string;
  path: string;
  get(field: string): string;
  set(field: string, value: string): void;
  status: number;
  body: unknown;
  state: Record<string, unknown> & { accessToken?: VerifiedAccessToken };
}

type Next = () => Promise<unknown>;

export interface KoaAccessTokenOptions extends ResourceServerOptions {
  /** Public base URL of this API (scheme://host[:port]) when behind a proxy that Koa does not trust; used for DPoP `htu`. */
  publicOrigin?: string;
}

function refuse(ctx: KoaLikeContext, error: unknown, options: KoaAccessTokenOptions) {
  const refusal = refusalFor(error, options);
  ctx.status = refusal.status;
  for (const [name, value] of Object.entries(refusal.headers)) ctx.set(name, value);
  ctx.body = refusal.body;
}

/**
 * Koa middleware: verifies the request's access token (and DPoP proof) and puts the result
 * on `ctx.state.accessToken`; refuses with RFC 6750 errors otherwise.
 *   router.get('/notes', requireAccessToken({ issuer, audience, scopes: ['notes:read'] }), list)
 */
export function requireAccessToken(options: KoaAccessTokenOptions) {
  return async function accessTokenMiddleware(ctx: KoaLikeContext, next: Next): Promise<void> {
    let token: VerifiedAccessToken;
    try {
      token = await authenticateRequest(
        {
          method: ctx.method,
          url: `${options.publicOrigin ?? `${ctx.protocol}://${ctx.host}`}${ctx.path}`,
          authorization: ctx.get('authorization') || undefined,
          dpop: ctx.get('dpop') || undefined,
        },
        options,
      );
    } catch (error) {
      return refuse(ctx, error, options);
    }
    ctx.state.accessToken = token;
    await next();
  };
}

/**
 * Koa middleware for a route that needs more scopes than the app-wide requireAccessToken:
 *   app.use(requireAccessToken({ issuer, audience }));
 *   router.post('/notes', requireScopes('notes:write'), create)
 */
export function requireScopes(...scopes: string[]) {
  return async function scopeMiddleware(ctx: KoaLikeContext, next: Next): Promise<void> {
    const token = ctx.state.accessToken;
    if (!token) throw new Error('requireScopes() must run after requireAccessToken()');
    if (!scopes.every((s) => token.scopes.includes(s))) {
      const refusal = refusalFor(insufficientScope(scopes, token.boundKeyThumbprint ? 'DPoP' : 'Bearer'), {});
      ctx.status = refusal.status;
      for (const [name, value] of Object.entries(refusal.headers)) ctx.set(name, value);
      ctx.body = refusal.body;
      return;
    }
    await next();
  };
}
