import type Router from '@koa/router';
import type { Services } from '../context.ts';
import { NotFoundError } from '../errors.ts';
import { requestFields } from '../security/security-events.ts';
import { Suspensions } from '../security/suspensions.ts';
import { adminOf } from './console-auth.ts';
import { consolePage, seeOtherPage, shortTime } from './console-page.ts';

/**
 * Security → Suspensions: the active suspensions (automatic lock-outs and manual ones) and
 * "Lift", the same library call as `latchkey suspensions lift --id`. At most 500 are listed
 * (Suspensions.list), newest first; there are a handful in normal operation.
 */
export function suspensionsRoutes(router: Router, services: Services): void {
  // Built on first use, not with the router: the route table is read from routers built
  // without a database (test/e2e/guards.test.ts), and a console nobody opens needs none.
  let built: Suspensions | undefined;
  const suspensions = () => (built ??= new Suspensions(services.db, services.events, services.config.security.lockout));

  router.get('/security/suspensions', async (ctx) => {
    const active = await suspensions().list();
    consolePage(ctx, 'security', 'suspensions', {
      title: 'Suspensions',
      tab: 'suspensions',
      suspensions: active.map((s) => ({ ...s, createdAtText: shortTime(s.createdAt), untilText: shortTime(s.until) })),
    });
  });

  router.post('/security/suspensions/:id/lift', async (ctx) => {
    const admin = adminOf(ctx);
    const id = ctx.params.id!;
    const lifted = id.length <= 100 ? await suspensions().lift({ id }, admin.user.id) : 0;
    if (!lifted) throw new NotFoundError('No active suspension with this id (it may have ended or been lifted already).');
    services.events.emit({ type: 'admin.suspensions.lift', actor: admin.user.id, details: { id, via: 'console' }, ...requestFields(ctx) });
    seeOtherPage(ctx, '/admin/security/suspensions');
  });
}
