import type Router from '@koa/router';
import type { Context } from 'koa';
import { factorSummary } from '../accounts/factors.ts';
import { deleteRecoveryCodes, generateRecoveryCodes } from '../accounts/recovery-codes.ts';
import { codesRefusal, normalizeTotpCode } from '../accounts/second-factor-policy.ts';
import { confirmTotpEnrolment, type EnrolmentOwner, pendingTotpEnrolment, removeTotp, startTotpEnrolment, verifyTotp } from '../accounts/totp.ts';
import { finishRegistration, registrationOptions, removePasskey } from '../accounts/webauthn.ts';
import type { User } from '../accounts/users.ts';
import type { Services } from '../context.ts';
import { csrfToken, csrfValid } from '../http/csrf.ts';
import { readForm } from '../http/form-body.ts';
import { readJson } from '../http/json-body.ts';
import { getEphemeral, putEphemeral } from '../interactions/ephemeral-store.ts';
import { attemptFrom, type CredentialAttempts } from '../security/credential-attempts.ts';
import { requestFields } from '../security/security-events.ts';

/**
 * Sign-in methods on the account page: authenticator app, passkeys and security keys,
 * recovery codes. Every change asks for the password or a code again first (ASVS 7.5.1): a
 * re-authentication is remembered for five minutes, keyed by the provider session's uid.
 */
const REAUTH_SECONDS = 300;

/**
 * A TOTP enrolment started on the account page belongs to that session (security rule 35) and
 * lasts long enough to scan the code and type the first one; "Set up" again starts a new secret.
 */
const ENROLMENT_SECONDS = 900;
const enrolmentOwner = (sessionUid: string): EnrolmentOwner => ({ kind: 'session', id: sessionUid, expiresAt: new Date(Date.now() + ENROLMENT_SECONDS * 1000) });

type SignedIn = { user: User; sessionUid: string };
type Page = (ctx: Context, view: string, data: Record<string, unknown>, status?: number) => void;

export function factorRoutes(
  router: Router,
  services: Services,
  csrfSecret: string,
  signedInAccount: (ctx: Context) => Promise<SignedIn | undefined>,
  page: Page,
  attempts: CredentialAttempts,
) {
  const recentlyReauthenticated = async (sessionUid: string) => Boolean(await getEphemeral(services.db.sql, 'LatchkeyReauth', sessionUid));
  const event = (ctx: Context, type: string, user: User, details?: Record<string, unknown>) =>
    services.events.emit({ type, actor: user.id, userId: user.id, ...(details ? { details } : {}), ...requestFields(ctx) });

  /** Signed in, CSRF-valid and recently re-authenticated; otherwise answers the request itself. */
  const guard = async (ctx: Context, form: URLSearchParams | undefined, csrfHeader?: string) => {
    const signedIn = await signedInAccount(ctx);
    if (!signedIn) return void page(ctx, 'error', { title: 'Error', message: 'Sign in first.', code: 'login_required' }, 401);
    if (!csrfValid(csrfSecret, signedIn.sessionUid, csrfHeader ?? form?.get('csrf'))) {
      return void page(ctx, 'error', { title: 'Error', message: 'The form was stale or forged. Reload the page and try again.', code: 'csrf' }, 403);
    }
    if (!(await recentlyReauthenticated(signedIn.sessionUid))) {
      return void page(ctx, 'reauth', { title: 'Confirm it is you', csrf: csrfToken(csrfSecret, signedIn.sessionUid) }, 401);
    }
    return signedIn;
  };
  const backToAccount = (ctx: Context) => {
    ctx.status = 303;
    ctx.redirect('/account');
  };

  router.post('/reauth', async (ctx) => {
    const form = await readForm(ctx);
    const signedIn = await signedInAccount(ctx);
    if (!signedIn) return page(ctx, 'error', { title: 'Error', message: 'Sign in first.', code: 'login_required' }, 401);
    if (!csrfValid(csrfSecret, signedIn.sessionUid, form.get('csrf'))) return page(ctx, 'error', { title: 'Error', message: 'The form was stale.', code: 'csrf' }, 403);
    const csrf = csrfToken(csrfSecret, signedIn.sessionUid);
    // The same limiter and lock-out as sign-in (src/security/credential-attempts.ts): a stolen
    // session cookie gives no faster way to guess the password or a code than the sign-in page.
    const code = normalizeTotpCode(form.get('code') ?? '');
    const attempt = attemptFrom(ctx, code
      ? { kind: 'code', step: 'reauth', userId: signedIn.user.id }
      : { kind: 'password', step: 'reauth', email: signedIn.user.email, userId: signedIn.user.id });
    const gate = await attempts.begin(attempt);
    if (!gate.allowed) {
      ctx.set('Retry-After', String(Math.ceil(Math.min(gate.retryAfterSeconds, 86_400))));
      return page(ctx, 'reauth', { title: 'Confirm it is you', csrf, error: code ? codesRefusal(gate.retryAfterSeconds) : 'Too many attempts. Try again later.' }, 429);
    }
    let ok: boolean;
    if (code) {
      ok = await verifyTotp(services, signedIn.user.id, code);
    } else {
      const row = await services.db.prisma.user.findUnique({ where: { id: signedIn.user.id }, select: { passwordHash: true } });
      const password = (form.get('password') ?? '').slice(0, 256);
      ok = password.length > 0 && (await services.passwords.verify(row?.passwordHash, password));
    }
    await attempts.finish(attempt, ok);
    if (!ok) {
      event(ctx, 'account.reauth.failure', signedIn.user);
      return page(ctx, 'reauth', { title: 'Confirm it is you', csrf, error: 'That was not right.' }, 401);
    }
    await putEphemeral(services.db.sql, 'LatchkeyReauth', signedIn.sessionUid, { at: Date.now() }, new Date(Date.now() + REAUTH_SECONDS * 1000));
    backToAccount(ctx);
  });

  router.post('/totp/setup', async (ctx) => {
    const signedIn = await guard(ctx, await readForm(ctx));
    if (!signedIn) return;
    const enrolment = await startTotpEnrolment(services, signedIn.user, enrolmentOwner(signedIn.sessionUid));
    if (!enrolment) return backToAccount(ctx);
    page(ctx, 'mfa-enroll', { title: 'Set up an authenticator app', email: signedIn.user.email, enrolment, csrf: csrfToken(csrfSecret, signedIn.sessionUid), confirmAction: '/account/totp/confirm' });
  });

  router.post('/totp/confirm', async (ctx) => {
    const signedIn = await guard(ctx, await readForm(ctx).then((f) => ((ctx.state.form = f), f)));
    if (!signedIn) return;
    const form = ctx.state.form as URLSearchParams;
    const csrf = csrfToken(csrfSecret, signedIn.sessionUid);
    const code = normalizeTotpCode(form.get('code') ?? '');
    if (!code || !(await confirmTotpEnrolment(services, signedIn.user.id, enrolmentOwner(signedIn.sessionUid), code))) {
      const enrolment = await pendingTotpEnrolment(services, signedIn.user, enrolmentOwner(signedIn.sessionUid));
      if (!enrolment) return backToAccount(ctx);
      return page(ctx, 'mfa-enroll', { title: 'Set up an authenticator app', email: signedIn.user.email, enrolment, csrf, confirmAction: '/account/totp/confirm', error: 'That code is not right.' }, 400);
    }
    event(ctx, 'factor.totp.enrolled', signedIn.user);
    const summary = await factorSummary(services, signedIn.user);
    if (summary.recoveryCodesRemaining > 0) return backToAccount(ctx);
    const codes = await generateRecoveryCodes(services, signedIn.user.id);
    event(ctx, 'recovery_code.generated', signedIn.user, { count: codes.length });
    page(ctx, 'mfa-done', { title: 'Recovery codes', codes, csrf, continueAction: '/account/done' });
  });

  router.post('/done', async (ctx) => backToAccount(ctx));

  const mayRemove = async (user: User, remaining: { totp: boolean; passkeys: number }) => {
    const summary = await factorSummary(services, user);
    return !summary.required || remaining.totp || remaining.passkeys > 0;
  };

  router.post('/totp/remove', async (ctx) => {
    const signedIn = await guard(ctx, await readForm(ctx));
    if (!signedIn) return;
    const summary = await factorSummary(services, signedIn.user);
    if (!(await mayRemove(signedIn.user, { totp: false, passkeys: summary.passkeys.length }))) {
      return page(ctx, 'error', { title: 'Error', message: 'Your account must keep a second factor. Add another one first.', code: 'mfa_required' }, 400);
    }
    if (await removeTotp(services, signedIn.user.id)) event(ctx, 'factor.totp.removed', signedIn.user);
    if (!summary.passkeys.length) await deleteRecoveryCodes(services, signedIn.user.id);
    backToAccount(ctx);
  });

  router.post('/passkeys/:id/remove', async (ctx) => {
    const signedIn = await guard(ctx, await readForm(ctx));
    if (!signedIn) return;
    const summary = await factorSummary(services, signedIn.user);
    if (!(await mayRemove(signedIn.user, { totp: summary.totp, passkeys: summary.passkeys.length - 1 }))) {
      return page(ctx, 'error', { title: 'Error', message: 'Your account must keep a second factor. Add another one first.', code: 'mfa_required' }, 400);
    }
    if (await removePasskey(services, signedIn.user.id, ctx.params.id!)) event(ctx, 'factor.webauthn.removed', signedIn.user, { credentialId: ctx.params.id });
    backToAccount(ctx);
  });

  router.post('/recovery-codes', async (ctx) => {
    const signedIn = await guard(ctx, await readForm(ctx));
    if (!signedIn) return;
    const summary = await factorSummary(services, signedIn.user);
    if (!summary.hasSecondFactor) return backToAccount(ctx);
    const codes = await generateRecoveryCodes(services, signedIn.user.id);
    event(ctx, 'recovery_code.generated', signedIn.user, { count: codes.length });
    page(ctx, 'mfa-done', { title: 'Recovery codes', codes, csrf: csrfToken(csrfSecret, signedIn.sessionUid), continueAction: '/account/done' });
  });

  // Adding a passkey or security key (views/assets/webauthn.js; CSRF token in a header).
  const json = async (ctx: Context) => {
    const body = await readJson(ctx);
    const signedIn = await signedInAccount(ctx);
    ctx.set('Cache-Control', 'no-store');
    if (!signedIn || !csrfValid(csrfSecret, signedIn.sessionUid, ctx.get('x-csrf-token'))) {
      ctx.status = 403;
      ctx.body = { error: 'Reload the page and try again.' };
      return undefined;
    }
    if (!(await recentlyReauthenticated(signedIn.sessionUid))) {
      ctx.status = 401;
      ctx.body = { error: 'Confirm it is you first (password or code), then try again.' };
      return undefined;
    }
    return { signedIn, body: body ?? {} };
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
    event(ctx, 'factor.webauthn.registered', signedIn.user, { credentialId: result.id });
    ctx.body = { redirect: '/account' };
  });

  /** What the account page shows about sign-in methods. */
  return async (user: User, sessionUid: string) => ({
    factors: await factorSummary(services, user),
    reauthenticated: await recentlyReauthenticated(sessionUid),
  });
}
