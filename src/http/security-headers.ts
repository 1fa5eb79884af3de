import { randomBytes } from 'node:crypto';
import type { Middleware } from 'koa';

/**
 * Baseline headers for every response; pages additionally may not be framed (RFC 9700 §4.16)
 * and load nothing from elsewhere. form-action is left out on purpose: after the consent form
 * the browser follows a redirect to the app, which form-action would block.
 *
 * Every page gets a fresh CSP nonce, readable as `ctx.state.cspNonce`; a view that needs an inline
 * `<script nonce="<%= it.nonce %>">` passes it through. External scripts from 'self' keep working.
 * A page that set its own CSP (oidc-provider's form_post adds a script hash) keeps it.
 */
export function securityHeaders(options: { production: boolean }): Middleware {
  return async (ctx, next) => {
    // Made on first use: most responses (tokens, JSON) are not pages and never need one.
    let nonce: string | undefined;
    const cspNonce = () => (nonce ??= randomBytes(16).toString('base64'));
    Object.defineProperty(ctx.state, 'cspNonce', { get: cspNonce, enumerable: true, configurable: true });
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (options.production) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    if (ctx.response.is('html')) {
      if (!ctx.response.get('Content-Security-Policy')) ctx.set('Content-Security-Policy', contentSecurityPolicy(cspNonce()));
      ctx.set('X-Frame-Options', 'DENY');
      if (!ctx.response.get('Cache-Control')) ctx.set('Cache-Control', 'no-store');
    }
  };
}

export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' https: data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
