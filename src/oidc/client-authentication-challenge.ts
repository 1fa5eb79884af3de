import type { Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

/** The endpoints where clients authenticate (RFC 6749 §2.3): token, introspection, revocation, PAR. */
const CLIENT_AUTHENTICATION_ROUTES: ReadonlySet<string> = new Set(['token', 'introspection', 'revocation', 'pushed_authorization_request']);

/**
 * A 401 carries a challenge (RFC 9110 §11.6.1; RFC 6749 §5.2 for invalid_client). oidc-provider
 * adds `WWW-Authenticate: Basic realm="<issuer>", error=…` only when the request itself came
 * with an Authorization header (lib/shared/client_auth.js), so a wrong client_secret_post
 * secret, a bad client assertion or an unknown public client got a bare 401. Here every 401 of
 * a client-authentication endpoint gets the same challenge: HTTP Basic is the one HTTP
 * authentication scheme these endpoints accept (client_secret_basic); the others travel in the
 * body and have no scheme to name. For provider.use().
 */
export function challengeFailedClientAuthentication(): Middleware {
  return async function clientAuthenticationChallenge(ctx, next) {
    await next();
    const route = (ctx as unknown as KoaContextWithOIDC).oidc?.route;
    if (ctx.status !== 401 || ctx.response.get('WWW-Authenticate') || !route || !CLIENT_AUTHENTICATION_ROUTES.has(route)) return;
    const { provider } = (ctx as unknown as KoaContextWithOIDC).oidc;
    const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
    ctx.set('WWW-Authenticate', basicChallenge({ realm: provider.issuer, error: body?.error, error_description: body?.error_description }));
  };
}

/** `Basic realm="…", error="…"` with RFC 9110 quoted strings, as oidc-provider writes its own. */
export function basicChallenge(fields: Record<string, unknown>): string {
  const parameters = Object.entries(fields)
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
    .map(([key, value]) => `${key}="${value.replace(/[\\"]/g, '\\$&')}"`);
  return `Basic ${parameters.join(', ')}`;
}
