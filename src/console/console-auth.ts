import type { Context, Next } from 'koa';
import { ACR_MFA } from '../accounts/second-factor-policy.ts';
import type { User } from '../accounts/users.ts';
import type { Services } from '../context.ts';
import { csrfToken, csrfValid } from '../http/csrf.ts';
import { readForm } from '../http/form-body.ts';
import { signedInUser, startSignIn } from '../oidc/first-party-session.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { consoleErrorPage } from './console-page.ts';

/**
 * Who may use the operator console: a user with the `admin` role whose provider session was
 * signed in with a second factor (acr urn:latchkey:acr:mfa). The session comes from Latchkey's
 * own authorization endpoint (first-party client, like the account page):
 *   - no session: GET starts sign-in; anything else is 401;
 *   - not an admin: 403, before any second factor is asked for (a non-admin is not made to enrol one);
 *   - an admin signed in with a password only: GET asks the authorization endpoint for the MFA
 *     acr, which is step-up (src/oidc/step-up.ts: the second factor, or its enrolment);
 *     a change is refused (403) — it never silently runs on a one-factor session;
 *   - every change (POST) carries the form's CSRF token, bound to the session.
 * The admin is then `ctx.state.admin`; every change the console makes names them as the actor.
 */
export const CONSOLE_BASE = '/admin';
export const CONSOLE_STATE_COOKIE = 'latchkey.console_state';

export interface ConsoleAdmin {
  user: User;
  sessionUid: string;
  csrf: string;
}

export const consoleCsrf = (secret: string, sessionUid: string) => csrfToken(secret, `console:${sessionUid}`);

export function requireConsoleAdmin(services: Services, holder: ProviderHolder, csrfSecret: string) {
  return async function consoleAdmin(ctx: Context, next: Next): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    const reading = ctx.method === 'GET' || ctx.method === 'HEAD';
    // A change's form is read first (the edge has buffered it), so a refusal below never leaves a body unread.
    const form = reading ? undefined : await readForm(ctx);
    const signedIn = await signedInUser(services, holder, ctx);
    if (!signedIn) {
      if (reading) return startSignIn(services, ctx, CONSOLE_BASE, CONSOLE_STATE_COOKIE);
      return consoleErrorPage(ctx, 401, 'Sign in first.', 'login_required');
    }
    if (!signedIn.user.roles.includes('admin')) {
      return consoleErrorPage(ctx, 403, 'The operator console is for accounts with the admin role. Ask an administrator if you need it.', 'forbidden');
    }
    if (signedIn.acr !== ACR_MFA) {
      if (reading) return startSignIn(services, ctx, CONSOLE_BASE, CONSOLE_STATE_COOKIE, { acrValues: ACR_MFA });
      return consoleErrorPage(ctx, 403, 'The operator console needs a sign-in with a second factor. Open the console again to add one.', 'mfa_required');
    }
    const csrf = consoleCsrf(csrfSecret, signedIn.sessionUid);
    if (form && !csrfValid(csrfSecret, `console:${signedIn.sessionUid}`, form.get('csrf'))) {
      return consoleErrorPage(ctx, 403, 'The form was stale or forged. Reload the page and try again.', 'csrf');
    }
    ctx.state.admin = { user: signedIn.user, sessionUid: signedIn.sessionUid, csrf } satisfies ConsoleAdmin;
    await next();
  };
}

/** The admin of a request that passed requireConsoleAdmin. */
export const adminOf = (ctx: Context): ConsoleAdmin => ctx.state.admin as ConsoleAdmin;
