import type Router from '@koa/router';
import { deleteAccount } from '../accounts/delete-account.ts';
import { readForm } from '../http/form-body.ts';
import { requestFields } from '../security/security-events.ts';
import type { AccountKit } from './account-kit.ts';

/**
 * "Delete my account": a page that says what will happen, a confirmation as strong as a
 * sign-in (src/accounts/reauthentication.ts, `strong`), and a checkbox; then
 * src/accounts/delete-account.ts.
 */
export function deleteRoutes(router: Router, kit: AccountKit) {
  router.get('/delete', async (ctx) => {
    const signedIn = await kit.signedIn(ctx);
    if (!signedIn) return ctx.redirect('/account');
    const ready = await kit.reauthenticated(signedIn, 'strong');
    kit.page(ctx, 'account-delete', {
      title: 'Delete your account',
      email: signedIn.user.email,
      csrf: kit.csrf(signedIn),
      ready,
      reauth: ready ? undefined : await kit.reauthForm(signedIn, 'strong', '/account/delete'),
    });
  });

  router.post('/delete', async (ctx) => {
    const signedIn = await kit.reauthGuard(ctx, await readForm(ctx), 'strong', '/account/delete');
    if (!signedIn) return;
    const form = await readForm(ctx);
    if (form.get('confirm') !== 'yes') {
      return kit.page(ctx, 'account-delete', {
        title: 'Delete your account', email: signedIn.user.email, csrf: kit.csrf(signedIn), ready: true,
        error: 'Tick the box to confirm that you want to delete your account.',
      }, 400);
    }
    await deleteAccount(kit.services, signedIn.user.id, { actor: signedIn.user.id, ...requestFields(ctx) });
    kit.page(ctx, 'account-deleted', { title: 'Account deleted' });
  });
}
