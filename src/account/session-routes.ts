import type Router from '@koa/router';
import { endAllSessions, endSession } from '../accounts/sessions.ts';
import { readForm } from '../http/form-body.ts';
import type { AccountKit } from './account-kit.ts';

/**
 * "Sessions and devices" on the account page: sign out one session, or every one but this.
 * Signed in and a valid form are enough (no re-authentication): signing out only takes access
 * away, and a user who suspects a stolen session must be able to act at once.
 */
export function sessionRoutes(router: Router, kit: AccountKit) {
  router.post('/sessions/:id/end', async (ctx) => {
    const signedIn = await kit.formGuard(ctx, await readForm(ctx));
    if (!signedIn) return;
    const id = ctx.params.id!;
    if (!(await endSession(kit.services, signedIn.user.id, id))) {
      return kit.refuse(ctx, 404, 'not_found', 'No such session: it may have ended already. Reload your account page.');
    }
    kit.event(ctx, 'account.session.ended', signedIn.user, { sessionId: id });
    kit.seeOther(ctx, '/account#sessions');
  });

  router.post('/sessions/end-others', async (ctx) => {
    const signedIn = await kit.formGuard(ctx, await readForm(ctx));
    if (!signedIn) return;
    const ended = await endAllSessions(kit.services, signedIn.user.id, { except: signedIn.sessionUid });
    kit.event(ctx, 'account.session.ended_others', signedIn.user, { count: ended });
    kit.seeOther(ctx, '/account#sessions');
  });
}
