import type { Middleware } from 'koa';

/**
 * Baseline headers for every response; pages additionally may not be framed (RFC 9700 §4.16)
 * and load nothing from elsewhere. form-action is left out on purpose: after the consent form
 * the browser follows a redirect to the app, which form-action would block.
 */
export function securityHeaders(options: { production: boolean }): Middleware {
  return async (ctx, next) => {
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (options.production) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    if (ctx.response.is('html')) {
      ctx.set(
        'Content-Security-Policy',
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
      );
      ctx.set('X-Frame-Options', 'DENY');
      if (!ctx.response.get('Cache-Control')) ctx.set('Cache-Control', 'no-store');
    }
  };
}
