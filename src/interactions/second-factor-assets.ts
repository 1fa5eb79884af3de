import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Middleware } from 'koa';
import { viewsDir } from '../http/views.ts';

/**
 * The browser side of WebAuthn, served by Latchkey itself (CSP script-src 'self', no inline
 * scripts): @simplewebauthn/browser's UMD bundle from node_modules, and views/assets/webauthn.js.
 */
const require = createRequire(import.meta.url);
const bundlePath = path.join(path.dirname(require.resolve('@simplewebauthn/browser')), '../dist/bundle/index.umd.min.js');

const files: Record<string, Buffer> = {
  '/assets/simplewebauthn-browser.js': readFileSync(bundlePath),
  '/assets/webauthn.js': readFileSync(path.join(viewsDir, 'assets/webauthn.js')),
};

export function secondFactorAssets(): Middleware {
  return async (ctx, next) => {
    const body = ctx.method === 'GET' ? files[ctx.path] : undefined;
    if (!body) return next();
    ctx.type = 'application/javascript';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = body;
  };
}
