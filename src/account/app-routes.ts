import type Router from '@koa/router';
import { disconnectApp } from '../accounts/connected-apps.ts';
import { readForm } from '../http/form-body.ts';
import type { AccountKit } from './account-kit.ts';

/** "Connected apps": revoke an app's access (its grant, and every token issued under it). */
export function appRoutes(router: Router, kit: AccountKit) {
  router.post('/apps/:grantId/revoke', async (ctx) => {
    const signedIn = await kit.formGuard(ctx, await readForm(ctx));
    if (!signedIn) return;
    const grantId = ctx.params.grantId!;
    const revoked = await disconnectApp(kit.services, signedIn.user.id, grantId);
    if (!revoked) return kit.refuse(ctx, 404, 'not_found', 'No such connected app.');
    kit.services.events.emit({
      type: 'consent.revoked', actor: signedIn.user.id, userId: signedIn.user.id, clientId: revoked.clientId, details: { grantId },
      ip: ctx.ip, userAgent: ctx.get('user-agent').slice(0, 300) || undefined, requestId: ctx.state.requestId,
    });
    kit.seeOther(ctx, '/account#apps');
  });
}
