import Router from '@koa/router';
import { listConnectedApps } from '../accounts/connected-apps.ts';
import { factorSummary } from '../accounts/factors.ts';
import { listSessions, touchSession } from '../accounts/sessions.ts';
import type { Services } from '../context.ts';
import { finishSignIn, startSignIn } from '../oidc/first-party-session.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import type { CredentialAttempts } from '../security/credential-attempts.ts';
import type { RateLimits } from '../security/rate-limits.ts';
import { accountKit } from './account-kit.ts';
import { appRoutes } from './app-routes.ts';
import { dataRoutes } from './data-routes.ts';
import { deleteRoutes } from './delete-routes.ts';
import { emailChangeAvailable, emailRoutes, returnAfterSignIn } from './email-routes.ts';
import { factorRoutes } from './factor-routes.ts';
import { passwordRoutes } from './password-routes.ts';
import { reauthRoutes } from './reauth-routes.ts';
import { recoveryCodeRoutes } from './recovery-code-routes.ts';
import { sessionRoutes } from './session-routes.ts';

/**
 * The user's account page under /account. It trusts oidc-provider's own session; a visitor
 * without one is sent through Latchkey's authorization endpoint as the first-party
 * account-console client, so sign-in (and 2FA) happens in one place. One file per concern:
 * re-authentication, sign-in methods, recovery codes, sessions, connected apps, password,
 * e-mail address, data download, deletion.
 */
export function accountRoutes(services: Services, holder: ProviderHolder, csrfSecret: string, attempts: CredentialAttempts, limits?: RateLimits): Router {
  const router = new Router({ prefix: '/account', sensitive: true });
  const STATE_COOKIE = 'latchkey.account_state';
  const kit = accountKit(services, holder, csrfSecret, attempts);

  router.get('/', async (ctx) => {
    const signedIn = await kit.signedIn(ctx);
    if (!signedIn) return startSignIn(services, ctx, '/account', STATE_COOKIE);
    const { user, sessionUid } = signedIn;
    await touchSession(services, user.id, sessionUid);
    const reauthenticated = await kit.reauthenticated(signedIn, 'any');
    kit.page(ctx, 'account', {
      title: 'Your account',
      email: user.email,
      emailChange: emailChangeAvailable(services),
      csrf: kit.csrf(signedIn),
      apps: await listConnectedApps(services, user.id),
      sessions: await listSessions(services, user.id, { currentSessionUid: sessionUid }),
      factors: await factorSummary(services, user),
      reauthenticated,
      reauth: reauthenticated ? undefined : await kit.reauthForm(signedIn, 'any', '/account'),
    });
  });

  router.get('/callback', async (ctx) => {
    const error = finishSignIn(ctx, '/account', STATE_COOKIE);
    if (error === 'state_mismatch') return kit.refuse(ctx, 400, error, 'This sign-in link is stale. Open your account page again.');
    if (error) return kit.refuse(ctx, 400, error, 'Signing in to your account did not complete.');
    // Back to the e-mailed link that sent the visitor to sign in (src/account/email-routes.ts).
    ctx.redirect(returnAfterSignIn(ctx) ?? '/account');
  });

  reauthRoutes(router, kit);
  factorRoutes(router, kit);
  recoveryCodeRoutes(router, kit);
  sessionRoutes(router, kit);
  appRoutes(router, kit);
  passwordRoutes(router, kit);
  emailRoutes(router, kit, { startSignIn: (ctx) => startSignIn(services, ctx, '/account', STATE_COOKIE), limits });
  dataRoutes(router, kit);
  deleteRoutes(router, kit);
  return router;
}
