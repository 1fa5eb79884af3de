import type Router from '@koa/router';
import type { Context } from 'koa';
import { factorSummary } from '../accounts/factors.ts';
import { deleteRecoveryCodes } from '../accounts/recovery-codes.ts';
import { normalizeTotpCode } from '../accounts/second-factor-policy.ts';
import { confirmTotpEnrolment, type EnrolmentOwner, pendingTotpEnrolment, removeTotp, startTotpEnrolment } from '../accounts/totp.ts';
import { finishRegistration, registrationOptions, removePasskey } from '../accounts/webauthn.ts';
import type { User } from '../accounts/users.ts';
import { readForm } from '../http/form-body.ts';
import type { AccountKit } from './account-kit.ts';
import { reauthMethods } from '../accounts/reauthentication.ts';
import { createRecoveryCodes } from './recovery-code-routes.ts';

/**
 * Sign-in methods on the account page: authenticator app, passkeys and security keys. Every
 * change asks the user to confirm it is them first (src/accounts/reauthentication.ts, any one
 * method). The first second factor of any kind comes with recovery codes, shown on
 * /account/recovery-codes.
 */

/**
 * A TOTP enrolment started on the account page belongs to that session (security rule 35) and
 * lasts long enough to scan the code and type the first one; "Set up" again starts a new secret.
 */
const ENROLMENT_SECONDS = 900;
const enrolmentOwner = (sessionUid: string): EnrolmentOwner => ({ kind: 'session', id: sessionUid, expiresAt: new Date(Date.now() + ENROLMENT_SECONDS * 1000) });

export function factorRoutes(router: Router, kit: AccountKit) {
  const { services } = kit;
  const guard = async (ctx: Context) => kit.reauthGuard(ctx, await readForm(ctx), 'any', '/account');

  /** After a factor was added: recovery codes if the user has none left, else the account page. */
  const nextAfterAdding = async (user: User, sessionUid: string, ctx: Context) => {
    const summary = await factorSummary(services, user);
    if (summary.recoveryCodesRemaining > 0) return '/account';
    await createRecoveryCodes(kit, ctx, { user, sessionUid });
    return '/account/recovery-codes';
  };

  router.post('/totp/setup', async (ctx) => {
    const signedIn = await guard(ctx);
    if (!signedIn) return;
    const enrolment = await startTotpEnrolment(services, signedIn.user, enrolmentOwner(signedIn.sessionUid));
    if (!enrolment) return kit.seeOther(ctx, '/account');
    kit.page(ctx, 'mfa-enroll', { title: 'Set up an authenticator app', email: signedIn.user.email, enrolment, csrf: kit.csrf(signedIn), confirmAction: '/account/totp/confirm' });
  });

  router.post('/totp/confirm', async (ctx) => {
    const signedIn = await guard(ctx);
    if (!signedIn) return;
    const form = await readForm(ctx);
    const code = normalizeTotpCode(form.get('code') ?? '');
    if (!code || !(await confirmTotpEnrolment(services, signedIn.user.id, enrolmentOwner(signedIn.sessionUid), code))) {
      const enrolment = await pendingTotpEnrolment(services, signedIn.user, enrolmentOwner(signedIn.sessionUid));
      if (!enrolment) return kit.seeOther(ctx, '/account');
      return kit.page(ctx, 'mfa-enroll', { title: 'Set up an authenticator app', email: signedIn.user.email, enrolment, csrf: kit.csrf(signedIn), confirmAction: '/account/totp/confirm', error: 'That code is not right.' }, 400);
    }
    kit.event(ctx, 'factor.totp.enrolled', signedIn.user);
    kit.seeOther(ctx, await nextAfterAdding(signedIn.user, signedIn.sessionUid, ctx));
  });

  router.post('/done', async (ctx) => kit.seeOther(ctx, '/account'));

  const mayRemove = async (user: User, remaining: { totp: boolean; passkeys: number }) => {
    const summary = await factorSummary(services, user);
    return !summary.required || remaining.totp || remaining.passkeys > 0;
  };
  const mustKeepOne = (ctx: Context) => kit.refuse(ctx, 400, 'mfa_required', 'Your account must keep a second factor. Add another one first.');

  router.post('/totp/remove', async (ctx) => {
    const signedIn = await guard(ctx);
    if (!signedIn) return;
    const summary = await factorSummary(services, signedIn.user);
    if (!(await mayRemove(signedIn.user, { totp: false, passkeys: summary.passkeys.length }))) return mustKeepOne(ctx);
    if (await removeTotp(services, signedIn.user.id)) kit.event(ctx, 'factor.totp.removed', signedIn.user);
    if (!summary.passkeys.length) await deleteRecoveryCodes(services, signedIn.user.id);
    kit.seeOther(ctx, '/account');
  });

  router.post('/passkeys/:id/remove', async (ctx) => {
    const signedIn = await guard(ctx);
    if (!signedIn) return;
    const summary = await factorSummary(services, signedIn.user);
    if (!(await mayRemove(signedIn.user, { totp: summary.totp, passkeys: summary.passkeys.length - 1 }))) return mustKeepOne(ctx);
    if (await removePasskey(services, signedIn.user.id, ctx.params.id!)) kit.event(ctx, 'factor.webauthn.removed', signedIn.user, { credentialId: ctx.params.id });
    if (!summary.totp && summary.passkeys.length <= 1) await deleteRecoveryCodes(services, signedIn.user.id);
    kit.seeOther(ctx, '/account');
  });

  // Adding a passkey or security key (views/assets/webauthn.js; CSRF token in a header).
  const json = async (ctx: Context) => {
    const step = await kit.jsonGuard(ctx);
    if (!step) return undefined;
    const { signedIn } = step;
    if (!(await reauthMethods(services, signedIn.sessionUid)).length) {
      // The page offers the confirmation next to this button; this answer is for a page left
      // open past the five minutes a confirmation lasts.
      ctx.status = 401;
      ctx.body = { error: 'Confirm it is you first: reload the page and use the "Confirm it is you" form.' };
      return undefined;
    }
    return step;
  };
  router.post('/passkeys/options', async (ctx) => {
    const step = await json(ctx);
    if (!step) return;
    ctx.body = await registrationOptions(services, step.signedIn.user, `account:${step.signedIn.sessionUid}`);
  });
  router.post('/passkeys/register', async (ctx) => {
    const step = await json(ctx);
    if (!step) return;
    const { signedIn, body } = step;
    const result = await finishRegistration(services, signedIn.user.id, `account:${signedIn.sessionUid}`, body.credential as never, String(body.name ?? ''));
    if (!result.ok) {
      ctx.status = 400;
      ctx.body = { error: result.reason };
      return;
    }
    kit.event(ctx, 'factor.webauthn.registered', signedIn.user, { credentialId: result.id });
    ctx.body = { redirect: await nextAfterAdding(signedIn.user, signedIn.sessionUid, ctx) };
  });
}
