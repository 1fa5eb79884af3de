import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Router from '@koa/router';
import { viewsDir } from './views.ts';

/**
 * Static files Latchkey serves itself (CSP script-src 'self', no CDN): the stylesheet, the
 * browser side of WebAuthn (@simplewebauthn/browser's UMD bundle and views/assets/webauthn.js),
 * and `/`, which sends people to their account page.
 */
const require = createRequire(import.meta.url);
const simpleWebAuthnBundle = path.join(path.dirname(require.resolve('@simplewebauthn/browser')), '../dist/bundle/index.umd.min.js');

const files: Array<{ path: string; type: string; body: Buffer }> = [
  { path: '/assets/latchkey.css', type: 'text/css', body: readFileSync(path.join(viewsDir, 'assets/latchkey.css')) },
  { path: '/assets/console.css', type: 'text/css', body: readFileSync(path.join(viewsDir, 'assets/console.css')) },
  { path: '/assets/simplewebauthn-browser.js', type: 'application/javascript', body: readFileSync(simpleWebAuthnBundle) },
  { path: '/assets/webauthn.js', type: 'application/javascript', body: readFileSync(path.join(viewsDir, 'assets/webauthn.js')) },
  { path: '/assets/recovery-codes.js', type: 'application/javascript', body: readFileSync(path.join(viewsDir, 'assets/recovery-codes.js')) },
];

export function assetRoutes(): Router {
  const router = new Router({ sensitive: true });
  for (const file of files) {
    router.get(file.path, (ctx) => {
      ctx.type = file.type;
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = file.body;
    });
  }
  router.get('/', (ctx) => ctx.redirect('/account'));
  return router;
}
