import Router from '@koa/router';
import type { Context } from 'koa';
import { useRecoveryCode } from '../accounts/recovery-codes.ts';
import { codesRefusal, describeWait, normalizeTotpCode } from '../accounts/second-factor-policy.ts';
import { PASSWORD_MIN_LENGTH, minimumPasswordLength } from '../accounts/password-policy.ts';
import { verifyTotp } from '../accounts/totp.ts';
import { authenticationOptions, finishAuthentication } from '../accounts/webauthn.ts';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { readForm } from '../http/form-body.ts';
import { sendPage } from '../http/html-page.ts';
import { readJson } from '../http/json-body.ts';
import { MailNotSentError } from '../mail/mailer.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { attemptFrom, type CredentialAttempts } from '../security/credential-attempts.ts';
import { keyOf, type RateLimits } from '../security/rate-limits.ts';
import { requestFields } from '../security/security-events.ts';
import { normalizeEmail } from '../accounts/users.ts';
import { INVITE_PATH, RESET_CHOOSE_PATH, RESET_PATH, SIGNUP_PATH, VERIFY_EMAIL_PATH } from '../accounts/emailed-links.ts';
import { acceptInvitation, invitationLink } from '../accounts/invitations.ts';
import { completePasswordReset, newPasswordProblem, recordPasskeyProven, requestPasswordReset, resetLink, type ResetLink } from '../accounts/password-reset.ts';
import { confirmEmail, signUp, verificationLink } from '../accounts/signup.ts';
import { formBinding } from './form-binding.ts';
import { returnUid } from './links.ts';

/**
 * The pages behind the e-mailed links, outside any sign-in (the interaction cookie's path is
 * /interaction/<uid>, so these cannot live there): /signup and /signup/verify (SIGNUP=open),
 * /invite (links from `latchkey user invite`), /reset-password and /reset-password/choose
 * (PASSWORD_RESET=on). Handlers stay thin: the libraries decide (src/accounts/signup.ts,
 * invitations.ts, password-reset.ts). A link that no longer works gets a page saying so and
 * what to do, never a 5xx; a refused step changes nothing. Afterwards the user goes back to the
 * sign-in they came from when it is still open, else to the account page.
 */
export function selfServiceRoutes(services: Services, holder: ProviderHolder, csrfSecret: string, attempts: CredentialAttempts, limits: RateLimits): Router {
  const router = new Router({ sensitive: true, strict: true });
  const { config } = services;
  const forms = formBinding(csrfSecret, config.production);

  const message = (ctx: Context, status: number, data: { heading: string; message: string; error?: boolean; notes?: string[]; links?: Array<{ href: string; label: string }> }) =>
    sendPage(ctx, 'self-service-message', { title: data.heading, ...data }, status);

  const deadLink = (ctx: Context, again: { href: string; label: string }) =>
    message(ctx, 400, {
      heading: 'This link does not work any more',
      message: 'It has expired, was already used, or a newer e-mail replaced it. Nothing was changed.',
      error: true,
      links: [again],
    });

  const staleForm = (ctx: Context) =>
    message(ctx, 403, { heading: 'Please try again', message: 'The form was stale or came from another site. Reload the page and send it again.', error: true });

  const off = (ctx: Context, what: string) => message(ctx, 404, { heading: 'Not available', message: `${what} is turned off on this server. Ask its operator for help.`, error: true, links: [{ href: '/account', label: 'Go to your account' }] });

  /** Where to sign in afterwards: the sign-in still open that this started from (in this browser), else the account page. */
  const onwards = async (uid: string | undefined) => {
    const open = uid ? await holder.current.Interaction.find(uid).catch(() => undefined) : undefined;
    return open ? { href: `/interaction/${uid}`, label: 'Continue signing in' } : { href: '/account', label: 'Sign in' };
  };

  const tooMany = (ctx: Context, seconds: number) => {
    ctx.set('Retry-After', String(seconds));
    return `Too many requests. Try again in ${describeWait(seconds)}.`;
  };

  /** The per-requester and per-recipient budget of e-mails: a wait in seconds, or 0. */
  const mailBudget = async (ctx: Context, email: string) => {
    const ip = await limits.consume('mail-ip', ctx.ip);
    if (ip) return ip;
    const address = keyOf(normalizeEmail(email));
    return address ? limits.consume('mail-address', address) : 0;
  };

  type FormPage = (ctx: Context, data: Record<string, unknown>, status?: number) => void;

  /**
   * The two forms that send an e-mail (sign-up, forgot password): the e-mail budgets, the
   * library call, the same answers to a refused field or a failed send (the form again, with
   * what was typed), then "Check your e-mail", worded the same whoever owns the address.
   */
  const mailRequest = async (
    ctx: Context,
    form: URLSearchParams,
    options: { path: string; page: FormPage; send: (email: string, uid: string | undefined) => Promise<unknown>; sent: (email: string) => string },
  ) => {
    if (!forms.valid(ctx, form.get('csrf'))) return staleForm(ctx);
    const email = (form.get('email') ?? '').slice(0, 320);
    const uid = returnUid(form.get('interaction'));
    const again = (error: string, status: number) => options.page(ctx, { returnUid: uid, email: email.slice(0, 254), error }, status);
    try {
      const wait = await mailBudget(ctx, email);
      if (wait) return again(tooMany(ctx, wait), 429);
      await options.send(email, uid);
    } catch (error) {
      if (error instanceof InputError) return again(error.message, 400);
      if (error instanceof MailNotSentError) return again('We could not send the e-mail. Please try again in a few minutes.', 503);
      throw error;
    }
    sendPage(ctx, 'check-email', {
      title: 'Check your e-mail',
      message: options.sent(normalizeEmail(email)),
      againHref: `${options.path}${uid ? `?interaction=${uid}` : ''}`,
      returnUid: uid,
    });
  };

  // ---------------------------------------------------------------------------------------------
  // Sign-up

  const signupPage: FormPage = (ctx, data, status = 200) =>
    sendPage(ctx, 'signup', { title: 'Create an account', csrf: forms.token(ctx), minLength: PASSWORD_MIN_LENGTH, ...data }, status);

  router.get(SIGNUP_PATH, async (ctx) => {
    if (config.signup !== 'open') return off(ctx, 'Creating an account');
    signupPage(ctx, { returnUid: returnUid(ctx.query.interaction) });
  });

  router.post(SIGNUP_PATH, async (ctx) => {
    const form = await readForm(ctx);
    if (config.signup !== 'open') return off(ctx, 'Creating an account');
    await mailRequest(ctx, form, {
      path: SIGNUP_PATH,
      page: signupPage,
      send: (email, uid) => signUp(services, { email, password: form.get('password') ?? '', returnTo: uid }, requestFields(ctx)),
      sent: (email) => `We sent a message to ${email}. Open the link in it within 24 hours to finish creating your account.`,
    });
  });

  const signupAgain = { href: SIGNUP_PATH, label: 'Sign up again' };

  router.get(VERIFY_EMAIL_PATH, async (ctx) => {
    const link = await verificationLink(services, ctx.query.token);
    if (!link) return deadLink(ctx, signupAgain);
    sendPage(ctx, 'signup-verify', { title: 'Confirm your e-mail address', csrf: forms.token(ctx), token: ctx.query.token, email: link.email });
  });

  router.post(VERIFY_EMAIL_PATH, async (ctx) => {
    const form = await readForm(ctx);
    if (!forms.valid(ctx, form.get('csrf'))) return staleForm(ctx);
    const token = form.get('token') ?? '';
    const link = await verificationLink(services, token);
    if (!link) return deadLink(ctx, signupAgain);
    const page = (error: string, status: number) =>
      sendPage(ctx, 'signup-verify', { title: 'Confirm your e-mail address', csrf: forms.token(ctx), token, email: link.email, error }, status);
    // The password is checked here as at sign-in, behind the same limiter and lock-out.
    const attempt = attemptFrom(ctx, { kind: 'password', step: 'verify-email', email: link.email });
    const gate = await attempts.begin(attempt);
    if (!gate.allowed) return page(tooMany(ctx, gate.retryAfterSeconds), 429);
    const result = await confirmEmail(services, { token, password: form.get('password') ?? '' }, requestFields(ctx));
    await attempts.finish({ ...attempt, userId: result.ok || result.reason === 'wrong-password' ? result.userId : undefined }, result.ok);
    if (!result.ok && result.reason === 'invalid-link') return deadLink(ctx, signupAgain);
    if (!result.ok) return page('That is not the password you chose when you signed up.', 401);
    message(ctx, 200, {
      heading: 'Your e-mail address is confirmed',
      message: `The account ${result.email} is ready. Sign in with your e-mail address and password.`,
      links: [await onwards(result.returnTo)],
    });
  });

  // ---------------------------------------------------------------------------------------------
  // Invitations (`latchkey user invite`)

  const invitePage = (ctx: Context, data: Record<string, unknown>, status = 200) =>
    sendPage(ctx, 'invite', { title: 'Choose your password', csrf: forms.token(ctx), minLength: PASSWORD_MIN_LENGTH, ...data }, status);
  const askOperator = { href: '/account', label: 'Go to the sign-in page' };

  router.get(INVITE_PATH, async (ctx) => {
    const link = await invitationLink(services, ctx.query.token);
    if (!link) return deadLink(ctx, askOperator);
    invitePage(ctx, { token: ctx.query.token, email: link.email });
  });

  router.post(INVITE_PATH, async (ctx) => {
    const form = await readForm(ctx);
    if (!forms.valid(ctx, form.get('csrf'))) return staleForm(ctx);
    const token = form.get('token') ?? '';
    const result = await acceptInvitation(services, { token, password: form.get('password') ?? '' }, requestFields(ctx));
    if (!result.ok && result.reason === 'invalid-link') return deadLink(ctx, askOperator);
    if (!result.ok) return invitePage(ctx, { token, email: (await invitationLink(services, token))?.email, error: result.message }, 400);
    message(ctx, 200, {
      heading: 'Your account is ready',
      message: `Sign in as ${result.email} with your new password.`,
      links: [{ href: '/account', label: 'Sign in' }],
    });
  });

  // ---------------------------------------------------------------------------------------------
  // Forgot password

  const resetPage: FormPage = (ctx, data, status = 200) => sendPage(ctx, 'reset', { title: 'Forgot your password?', csrf: forms.token(ctx), ...data }, status);
  const resetAgain = { href: RESET_PATH, label: 'Ask for a new link' };

  router.get(RESET_PATH, async (ctx) => {
    if (!config.passwordReset) return off(ctx, 'Password reset');
    resetPage(ctx, { returnUid: returnUid(ctx.query.interaction) });
  });

  router.post(RESET_PATH, async (ctx) => {
    const form = await readForm(ctx);
    if (!config.passwordReset) return off(ctx, 'Password reset');
    await mailRequest(ctx, form, {
      path: RESET_PATH,
      page: resetPage,
      send: (email, uid) => requestPasswordReset(services, { email, returnTo: uid }, requestFields(ctx)),
      sent: (email) => `We sent a message to ${email}. If it has an account here, the message holds a link to choose a new password; the link works for 30 minutes.`,
    });
  });

  const choosePage = (ctx: Context, link: ResetLink, token: string, extra: Record<string, unknown> = {}, status = 200) =>
    sendPage(ctx, 'reset-choose', {
      title: 'Choose a new password',
      csrf: forms.token(ctx),
      token,
      email: link.user.email,
      minLength: minimumPasswordLength(link.factors.hasSecondFactor),
      secondFactor: link.factors.hasSecondFactor,
      totp: link.factors.totp,
      passkeys: link.factors.passkeys.length > 0,
      recoveryCodes: link.factors.recoveryCodesRemaining > 0,
      passkeyProven: link.passkeyProven,
      ...extra,
    }, status);

  router.get(RESET_CHOOSE_PATH, async (ctx) => {
    if (!config.passwordReset) return off(ctx, 'Password reset');
    const link = await resetLink(services, ctx.query.token);
    if (!link) return deadLink(ctx, resetAgain);
    choosePage(ctx, link, String(ctx.query.token));
  });

  /** For an account with a second factor: proven by passkey on this page already, or by the code in the form now. */
  const secondFactorProven = async (ctx: Context, link: ResetLink, form: URLSearchParams): Promise<true | { error: string; status: number }> => {
    if (!link.factors.hasSecondFactor || link.passkeyProven) return true;
    const code = normalizeTotpCode(form.get('code') ?? '');
    const recovery = (form.get('recovery_code') ?? '').trim().slice(0, 64);
    if (!(code && link.factors.totp) && !recovery) {
      return { error: 'Your account has a second factor: enter a code from your authenticator app, a recovery code, or use your passkey.', status: 401 };
    }
    const method = code && link.factors.totp ? 'totp' : 'recovery_code';
    const attempt = attemptFrom(ctx, { kind: 'code', step: `reset/${method}`, userId: link.user.id });
    const gate = await attempts.begin(attempt);
    if (!gate.allowed) {
      ctx.set('Retry-After', String(Math.ceil(Math.min(gate.retryAfterSeconds, 86_400))));
      return { error: codesRefusal(gate.retryAfterSeconds), status: 429 };
    }
    const ok = method === 'totp' ? await verifyTotp(services, link.user.id, code!) : await useRecoveryCode(services, link.user.id, recovery);
    const { lockedSeconds } = await attempts.finish(attempt, ok);
    if (ok) return true;
    services.events.emit({ type: 'password_reset.factor_failure', userId: link.user.id, details: { method }, ...requestFields(ctx) });
    if (lockedSeconds) return { error: codesRefusal(lockedSeconds), status: 429 };
    return { error: method === 'totp' ? 'That code is not right, or was already used. Wait for the next code and try again.' : 'That recovery code is not valid or was already used.', status: 401 };
  };

  router.post(RESET_CHOOSE_PATH, async (ctx) => {
    const form = await readForm(ctx);
    if (!config.passwordReset) return off(ctx, 'Password reset');
    if (!forms.valid(ctx, form.get('csrf'))) return staleForm(ctx);
    const token = form.get('token') ?? '';
    const link = await resetLink(services, token);
    if (!link) return deadLink(ctx, resetAgain);
    const password = form.get('password') ?? '';
    // The password first, so a refused one never uses up a recovery code.
    const problem = newPasswordProblem(link, password);
    if (problem) return choosePage(ctx, link, token, { error: problem }, 400);
    const proven = await secondFactorProven(ctx, link, form);
    if (proven !== true) return choosePage(ctx, link, token, { error: proven.error }, proven.status);
    const result = await completePasswordReset(services, { token, password }, requestFields(ctx));
    if (!result.ok) return deadLink(ctx, resetAgain);
    message(ctx, 200, {
      heading: 'Your password was changed',
      message: 'Every device and app that was signed in to your account has been signed out. Sign in again with your new password.',
      notes: result.notified ? [] : ['We could not send you the confirmation e-mail; your password is changed all the same.'],
      links: [await onwards(result.returnTo)],
    });
  });

  // A passkey as the second factor: JSON calls from views/assets/webauthn.js, CSRF token in a header.
  const passkeyStep = async (ctx: Context) => {
    ctx.set('Cache-Control', 'no-store');
    const fail = (status: number, error: string) => {
      ctx.status = status;
      ctx.body = { error };
      return undefined;
    };
    if (!config.passwordReset) return fail(404, 'Password reset is turned off on this server.');
    const body = (await readJson(ctx)) ?? {};
    if (!forms.valid(ctx, ctx.get('x-csrf-token'))) return fail(403, 'The page was stale. Reload it and try again.');
    const link = await resetLink(services, ctx.query.token);
    if (!link) return fail(400, 'This link does not work any more. Ask for a new one.');
    if (!link.factors.passkeys.length) return fail(400, 'No passkey or security key is registered for this account.');
    return { link, body, binding: `reset-password:${link.row.id}`, fail };
  };

  router.post('/reset-password/passkey/options', async (ctx) => {
    const step = await passkeyStep(ctx);
    if (!step) return;
    ctx.body = await authenticationOptions(services, step.binding, 'reauth', step.link.user.id);
  });

  router.post('/reset-password/passkey/verify', async (ctx) => {
    const step = await passkeyStep(ctx);
    if (!step) return;
    const { link, body, binding, fail } = step;
    const attempt = attemptFrom(ctx, { kind: 'passkey', step: 'reset/passkey', userId: link.user.id });
    const gate = await attempts.begin(attempt);
    if (!gate.allowed) return fail(429, `Too many attempts. Try again in ${describeWait(gate.retryAfterSeconds)}.`);
    const outcome = await finishAuthentication(services, binding, 'reauth', body.credential as never);
    const ok = outcome.ok && outcome.userId === link.user.id;
    await attempts.finish(attempt, ok);
    if (!ok) {
      services.events.emit({ type: 'password_reset.factor_failure', userId: link.user.id, details: { method: 'webauthn', reason: outcome.ok ? 'wrong_user' : outcome.reason }, ...requestFields(ctx) });
      return fail(401, outcome.ok || outcome.reason !== 'expired' ? 'This passkey or security key was not accepted.' : 'The request expired. Try again.');
    }
    await recordPasskeyProven(services, link);
    ctx.body = { redirect: `${RESET_CHOOSE_PATH}?token=${encodeURIComponent(String(ctx.query.token))}` };
  });

  return router;
}
