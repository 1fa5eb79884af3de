import type Router from '@koa/router';
import type { Context } from 'koa';
import { acceptableNewEmail, confirmEmailChange, EMAIL_CHANGE_TTL_SECONDS, EMAIL_CONFIRM_PATH, EMAIL_MAX_LENGTH, isChangeToken, pendingChangeOf, requestEmailChange } from '../accounts/email-change.ts';
import { describeWait } from '../accounts/second-factor-policy.ts';
import { InputError } from '../errors.ts';
import { readForm } from '../http/form-body.ts';
import { MailNotSentError } from '../mail/mailer.ts';
import { keyOf, type RateLimits } from '../security/rate-limits.ts';
import { requestFields } from '../security/security-events.ts';
import type { AccountKit, SignedIn } from './account-kit.ts';

/**
 * "Change e-mail" (src/accounts/email-change.ts): a confirmation as strong as a sign-in
 * (src/accounts/reauthentication.ts, `strong`), the new address, a link to it. The link is
 * followed in a browser signed in to the same account: a visitor who is not signed in signs in
 * first and comes back to it; someone signed in to another account is told so and nothing
 * changes. Opening the link shows a button; only pressing it (a POST with the session's CSRF
 * token) changes the address, so a mail scanner that opens every link changes nothing.
 *
 * The page never says whether another account uses the new address ("we sent a link" either
 * way), and shows no pending change: a pending change exists only for an address not in use.
 */
const RETURN_COOKIE = 'latchkey.account_return';
const RETURN_SHAPE = new RegExp(`^${EMAIL_CONFIRM_PATH}\\?token=[A-Za-z0-9_-]{43}$`);

export function emailRoutes(router: Router, kit: AccountKit, deps: { startSignIn(ctx: Context): void; limits?: RateLimits }) {
  const title = 'Change your e-mail address';
  const form = async (signedIn: SignedIn, ready: boolean, extra: Record<string, unknown> = {}) => ({
    title,
    email: signedIn.user.email,
    csrf: kit.csrf(signedIn),
    maximum: EMAIL_MAX_LENGTH,
    ready,
    reauth: ready ? undefined : await kit.reauthForm(signedIn, 'strong', '/account/email'),
    ...extra,
  });
  const notice = (ctx: Context, heading: string, message: string, status = 200) => kit.page(ctx, 'account-notice', { title: heading, message }, status);
  const unavailable = (ctx: Context) =>
    notice(ctx, title, 'Changing your e-mail address needs e-mail, and this server sends none. Ask its operators to change it for you.', 503);
  const deadLink = (ctx: Context) =>
    notice(ctx, 'This link does not work any more', 'The link has expired, was already used, was replaced by a newer one, or is not complete. Nothing was changed. To change your e-mail address, start again from your account page.', 400);
  const otherAccount = (ctx: Context, signedIn: SignedIn) =>
    notice(ctx, 'This link is for another account', `You are signed in as ${signedIn.user.email}, and this link belongs to another account. Nothing was changed. Sign out, then open the link again and sign in to the account that asked for the change.`, 403);

  router.get('/email', async (ctx) => {
    const signedIn = await kit.signedIn(ctx);
    if (!signedIn) return ctx.redirect('/account');
    if (!emailChangeAvailable(kit.services)) return unavailable(ctx);
    kit.page(ctx, 'account-email', await form(signedIn, await kit.reauthenticated(signedIn, 'strong')));
  });

  router.post('/email', async (ctx) => {
    const body = await readForm(ctx);
    const signedIn = await kit.reauthGuard(ctx, body, 'strong', '/account/email');
    if (!signedIn) return;
    if (!emailChangeAvailable(kit.services)) return unavailable(ctx);
    const refuse = async (status: number, error: string) => kit.page(ctx, 'account-email', await form(signedIn, true, { error, value: (body.get('email') ?? '').slice(0, EMAIL_MAX_LENGTH) }), status);
    try {
      const newEmail = acceptableNewEmail(body.get('email') ?? '');
      // The recipient's budget (RATE_LIMIT_MAIL_ADDRESS): a signed-in account cannot flood an address with links.
      const address = keyOf(newEmail);
      const wait = address && deps.limits ? await deps.limits.consume('mail-address', address) : 0;
      if (wait) {
        ctx.set('Retry-After', String(wait));
        return refuse(429, `Too many e-mails to this address. Try again in ${describeWait(wait)}.`);
      }
      await requestEmailChange(kit.services, signedIn.user, newEmail, requestFields(ctx));
      kit.page(ctx, 'account-email-sent', { title: 'Check your new address', newEmail, email: signedIn.user.email, hours: EMAIL_CHANGE_TTL_SECONDS / 3600 });
    } catch (error) {
      if (error instanceof InputError) return refuse(400, error.message);
      if (error instanceof MailNotSentError) return refuse(503, error.message);
      throw error;
    }
  });

  router.get('/email/confirm', async (ctx) => {
    const token = ctx.query.token;
    const pending = await pendingChangeOf(kit.services, token);
    if (!pending || !isChangeToken(token)) return deadLink(ctx);
    const signedIn = await kit.signedIn(ctx);
    if (!signedIn) {
      // Sign in first, then back here (src/account/routes.ts, /callback).
      ctx.cookies.set(RETURN_COOKIE, `${EMAIL_CONFIRM_PATH}?token=${token}`, {
        httpOnly: true, sameSite: 'lax', secure: kit.services.config.production, signed: true, path: '/account', maxAge: 600_000,
      });
      return deps.startSignIn(ctx);
    }
    if (signedIn.user.id !== pending.userId) return otherAccount(ctx, signedIn);
    kit.page(ctx, 'account-email-confirm', { title: 'Confirm your new e-mail address', email: signedIn.user.email, newEmail: pending.newEmail, token, csrf: kit.csrf(signedIn) });
  });

  router.post('/email/confirm', async (ctx) => {
    const body = await readForm(ctx);
    const signedIn = await kit.formGuard(ctx, body);
    if (!signedIn) return;
    const token = body.get('token');
    const pending = await pendingChangeOf(kit.services, token);
    if (!pending) return deadLink(ctx);
    if (signedIn.user.id !== pending.userId) return otherAccount(ctx, signedIn);
    const outcome = await confirmEmailChange(kit.services, signedIn.user.id, token, requestFields(ctx));
    if (!outcome.ok && outcome.reason === 'address-taken') {
      return notice(ctx, 'The address was not changed', 'Another account started using this address after you asked for the change, so your account keeps its current address.', 409);
    }
    if (!outcome.ok) return deadLink(ctx);
    const told = outcome.oldNotified ? `We told ${outcome.oldEmail} about the change.` : `We could not tell ${outcome.oldEmail} about the change by e-mail.`;
    notice(ctx, 'Your e-mail address was changed', `Your account now uses ${outcome.newEmail}: sign in with it from now on. ${told}`);
  });
}

/**
 * In production without SMTP_URL (allowed when sign-up and password reset are off) the links
 * would only reach DATA_DIR/outbox/: the change is not offered rather than left waiting forever.
 */
export function emailChangeAvailable(services: Pick<AccountKit['services'], 'config' | 'mailer'>): boolean {
  return services.mailer.transport === 'smtp' || !services.config.production;
}

/** Where /account/callback goes after a sign-in that a link started (then forgets it), or undefined. */
export function returnAfterSignIn(ctx: Context): string | undefined {
  const value = ctx.cookies.get(RETURN_COOKIE, { signed: true });
  if (value === undefined) return undefined;
  ctx.cookies.set(RETURN_COOKIE, null, { path: '/account' });
  return RETURN_SHAPE.test(value) ? value : undefined;
}
