import type Router from '@koa/router';
import { exportAccountData } from '../accounts/data-export.ts';
import { readForm } from '../http/form-body.ts';
import type { AccountKit } from './account-kit.ts';

/**
 * "Download my data": a JSON file of everything Latchkey keeps about the user, without secrets
 * (src/accounts/data-export.ts). It asks the user to confirm it is them first: a session cookie
 * alone (a browser left open) should not hand over the whole history.
 */
export function dataRoutes(router: Router, kit: AccountKit) {
  router.get('/data', async (ctx) => {
    const signedIn = await kit.signedIn(ctx);
    if (!signedIn) return ctx.redirect('/account');
    const ready = await kit.reauthenticated(signedIn, 'any');
    kit.page(ctx, 'account-data', { title: 'Download your data', csrf: kit.csrf(signedIn), ready, reauth: ready ? undefined : await kit.reauthForm(signedIn, 'any', '/account/data') });
  });

  router.post('/data', async (ctx) => {
    const signedIn = await kit.reauthGuard(ctx, await readForm(ctx), 'any', '/account/data');
    if (!signedIn) return;
    const data = await exportAccountData(kit.services, signedIn.user.id, signedIn.sessionUid);
    kit.event(ctx, 'account.data.exported', signedIn.user);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', `attachment; filename="latchkey-account-${new Date().toISOString().slice(0, 10)}.json"`);
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(data, null, 2);
  });
}
