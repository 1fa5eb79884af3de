import Router from '@koa/router';
import type { Services } from '../context.ts';
import { finishSignIn } from '../oidc/first-party-session.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { apisRoutes } from './apis-pages.ts';
import { appsRoutes } from './apps-pages.ts';
import { auditRoutes } from './audit-page.ts';
import { CONSOLE_BASE, CONSOLE_STATE_COOKIE, requireConsoleAdmin } from './console-auth.ts';
import { consoleErrorPage } from './console-page.ts';
import { dashboardRoutes } from './dashboard-page.ts';
import { keysRoutes } from './keys-page.ts';
import { suspensionsRoutes } from './suspensions-page.ts';
import { usersRoutes } from './users-pages.ts';

/**
 * The operator console under /admin (docs/operator-console.md). The admin API lives beside it
 * under /admin/api; the server mounts this router for every other /admin path only.
 */
export function consoleRoutes(services: Services, holder: ProviderHolder, csrfSecret: string): Router {
  const router = new Router({ prefix: CONSOLE_BASE, sensitive: true });

  // The answer of the authorization endpoint; registered before the guard, which it must not pass through.
  router.get('/callback', (ctx) => {
    const error = finishSignIn(ctx, CONSOLE_BASE, CONSOLE_STATE_COOKIE);
    if (error === 'state_mismatch') return consoleErrorPage(ctx, 400, 'This sign-in link is stale. Open the console again.', error);
    if (error) return consoleErrorPage(ctx, 400, 'Signing in to the console did not complete.', error);
    ctx.redirect(CONSOLE_BASE);
  });

  const pages = new Router({ sensitive: true });
  pages.use(requireConsoleAdmin(services, holder, csrfSecret));
  dashboardRoutes(pages, services);
  usersRoutes(pages, services);
  appsRoutes(pages, services);
  apisRoutes(pages, services, holder);
  suspensionsRoutes(pages, services);
  auditRoutes(pages, services);
  keysRoutes(pages, services);
  router.use(pages.routes());
  return router;
}
