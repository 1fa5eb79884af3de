import type { Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * How long a verifier may keep Latchkey's JWKS (for provider.use). A new signing key is published
 * KEY_PUBLISH_DELAY_SECONDS before it signs (src/keys/signing-keys.ts), so a verifier that
 * follows `Cache-Control` has always refetched by then: max-age is the delay, at most five
 * minutes (a removed key should not linger either); no delay means no caching.
 */
export const JWKS_MAX_AGE_CAP_SECONDS = 300;

export function jwksCacheControl(publishDelaySeconds: number): Middleware {
  const maxAge = Math.min(JWKS_MAX_AGE_CAP_SECONDS, Math.max(0, Math.floor(publishDelaySeconds)));
  const value = maxAge > 0 ? `public, max-age=${maxAge}` : 'no-cache';
  return async function jwksCaching(ctx, next) {
    await next();
    if (ctx.status === 200 && (ctx as unknown as KoaContextWithOIDC).oidc?.route === 'jwks') ctx.set('Cache-Control', value);
  };
}
