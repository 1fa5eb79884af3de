import Router from '@koa/router';
import type { Context } from 'koa';
import { factorRoutes } from './factor-routes.ts';
import type { Services } from '../context.ts';
import { csrfToken, csrfValid } from '../http/csrf.ts';
import { readForm } from '../http/form-body.ts';
import { renderView } from '../http/views.ts';
import { describeAccess, describeIdentityScopes } from '../interactions/consent-model.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID } from '../oidc/account-console-client.ts';
import { finishSignIn, signedInUser, startSignIn } from '../oidc/first-party-session.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import type { CredentialAttempts } from '../security/credential-attempts.ts';
import { requestFields } from '../security/security-events.ts';
import { listGrantsOfAccount, revokeGrant } from '../storage/oidc-adapter.ts';

/**
 * The user's account page: connected apps and revocation. It trusts oidc-provider's own
 * session; a visitor without one is sent through Latchkey's authorization endpoint as the
 * first-party account-console client, so sign-in (and later 2FA) happens in one place.
 */
export function accountRoutes(services: Services, holder: ProviderHolder, csrfSecret: string, attempts: CredentialAttempts): Router {
  const router = new Router({ prefix: '/account', sensitive: true });
  const STATE_COOKIE = 'latchkey.account_state';

  const signedInAccount = (ctx: Context) => signedInUser(services, holder, ctx);

  const page = (ctx: Context, view: string, data: Record<string, unknown>, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderView(view, data);
  };

  // Sign-in methods: authenticator app, passkeys, recovery codes (factor-routes.ts).
  const signInMethods = factorRoutes(router, services, csrfSecret, signedInAccount, page, attempts);

  router.get('/', async (ctx) => {
    const signedIn = await signedInAccount(ctx);
    if (!signedIn) return startSignIn(services, ctx, '/account', STATE_COOKIE);
    const grants = (await listGrantsOfAccount(services.db.sql, signedIn.user.id)).filter((g) => g.clientId !== ACCOUNT_CONSOLE_CLIENT_ID);
    const apis = await services.apis.all();
    const apps = [];
    for (const grant of grants) {
      const client = await holder.current.Client.find(grant.clientId).catch(() => undefined);
      apps.push({
        grantId: grant.id,
        clientId: grant.clientId,
        name: client?.clientName ?? grant.clientId,
        identity: describeIdentityScopes(grant.openidScope),
        apis: Object.entries(grant.resources).flatMap(([audience, scope]) => {
          const api = apis.find((a) => a.audience === audience);
          const access = api ? describeAccess(api, scope.split(' ')) : undefined;
          return api && access ? [{ name: api.name, access }] : [];
        }),
      });
    }
    page(ctx, 'account', { title: 'Your account', email: signedIn.user.email, apps, csrf: csrfToken(csrfSecret, signedIn.sessionUid), ...(await signInMethods(signedIn.user, signedIn.sessionUid)) });
  });

  router.get('/callback', async (ctx) => {
    const error = finishSignIn(ctx, '/account', STATE_COOKIE);
    if (error === 'state_mismatch') {
      return page(ctx, 'error', { title: 'Error', message: 'This sign-in link is stale. Open your account page again.', code: error }, 400);
    }
    if (error) return page(ctx, 'error', { title: 'Error', message: 'Signing in to your account did not complete.', code: error }, 400);
    ctx.redirect('/account');
  });

  router.post('/apps/:grantId/revoke', async (ctx) => {
    const form = await readForm(ctx);
    const signedIn = await signedInAccount(ctx);
    if (!signedIn) return page(ctx, 'error', { title: 'Error', message: 'Sign in first.', code: 'login_required' }, 401);
    if (!csrfValid(csrfSecret, signedIn.sessionUid, form.get('csrf'))) {
      return page(ctx, 'error', { title: 'Error', message: 'The form was stale or forged. Reload the page and try again.', code: 'csrf' }, 403);
    }
    const grantId = ctx.params.grantId!;
    const mine = (await listGrantsOfAccount(services.db.sql, signedIn.user.id)).find((g) => g.id === grantId);
    if (!mine) return page(ctx, 'error', { title: 'Error', message: 'No such connected app.', code: 'not_found' }, 404);
    await revokeGrant(services.db.sql, grantId);
    services.events.emit({ type: 'consent.revoked', actor: signedIn.user.id, userId: signedIn.user.id, clientId: mine.clientId, details: { grantId }, ...requestFields(ctx) });
    ctx.status = 303;
    ctx.redirect('/account');
  });

  return router;
}
