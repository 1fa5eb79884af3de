import type Router from '@koa/router';
import { factorSummary } from '../accounts/factors.ts';
import { minimumPasswordLength, PASSWORD_MAX_LENGTH } from '../accounts/password-policy.ts';
import { notifyPasswordChanged } from '../accounts/password-changed-notice.ts';
import { setUserPassword } from '../accounts/user-password.ts';
import { InputError } from '../errors.ts';
import { endAllSessions } from '../accounts/sessions.ts';
import { readForm } from '../http/form-body.ts';
import { requestFields } from '../security/security-events.ts';
import type { AccountKit, SignedIn } from './account-kit.ts';

/**
 * "Change password": the current password and, when one is enrolled, a second factor first
 * (src/accounts/reauthentication.ts, `password`); then the new password twice, under the
 * password policy (src/accounts/password-policy.ts). Every other session of the user is signed out: whoever
 * knew the old password and signed in with it is put out. The owner is told by e-mail (a failed
 * send is logged and audited, and the password stays changed: the event says `notified: false`).
 */
export function passwordRoutes(router: Router, kit: AccountKit) {
  const form = async (signedIn: SignedIn, extra: Record<string, unknown> = {}) => {
    const factors = await factorSummary(kit.services, signedIn.user);
    return { title: 'Change your password', csrf: kit.csrf(signedIn), minimum: minimumPasswordLength(factors.hasSecondFactor), maximum: PASSWORD_MAX_LENGTH, ...extra };
  };

  router.get('/password', async (ctx) => {
    const signedIn = await kit.signedIn(ctx);
    if (!signedIn) return ctx.redirect('/account');
    const ready = await kit.reauthenticated(signedIn, 'password');
    kit.page(ctx, 'account-password', await form(signedIn, { ready, reauth: ready ? undefined : await kit.reauthForm(signedIn, 'password', '/account/password') }));
  });

  router.post('/password', async (ctx) => {
    const signedIn = await kit.reauthGuard(ctx, await readForm(ctx), 'password', '/account/password');
    if (!signedIn) return;
    const body = await readForm(ctx);
    const next = body.get('new_password') ?? '';
    const again = body.get('new_password_again') ?? '';
    const factors = await factorSummary(kit.services, signedIn.user);
    const refuse = async (problem: string) => kit.page(ctx, 'account-password', await form(signedIn, { ready: true, error: `Not changed: ${problem}.` }), 400);
    if (next !== again) return refuse('the two new passwords are not the same');
    try {
      await setUserPassword(kit.services, signedIn.user, next, { hasSecondFactor: factors.hasSecondFactor });
    } catch (error) {
      if (error instanceof InputError) return refuse(error.message);
      throw error;
    }
    const ended = await endAllSessions(kit.services, signedIn.user.id, { except: signedIn.sessionUid });
    const notified = await notifyPasswordChanged(kit.services, signedIn.user, { signedOut: false }, requestFields(ctx));
    kit.event(ctx, 'account.password.changed', signedIn.user, { otherSessionsEnded: ended, notified });
    kit.page(ctx, 'account-notice', {
      title: 'Password changed',
      message: ended ? `Your password was changed, and your ${ended} other session${ended === 1 ? ' was' : 's were'} signed out.` : 'Your password was changed.',
    });
  });
}
