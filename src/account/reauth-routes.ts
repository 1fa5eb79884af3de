import type Router from '@koa/router';
import type { Context } from 'koa';
import { authenticationOptions, finishAuthentication } from '../accounts/webauthn.ts';
import { readForm } from '../http/form-body.ts';
import { attemptFrom } from '../security/credential-attempts.ts';
import { describeWait } from '../accounts/second-factor-policy.ts';
import type { AccountKit, SignedIn } from './account-kit.ts';
import { checkCode, checkPassword, type CheckResult } from './credential-checks.ts';
import { recordReauth, type ReauthMethod, type ReauthNeed } from '../accounts/reauthentication.ts';

/**
 * "Confirm it is you" on the account page, by password, a code from the authenticator app, or
 * a passkey / security key (src/accounts/reauthentication.ts says what each change needs). The
 * form is offered where it is needed (inline on the account page, on the delete and password
 * pages), and comes back to the page it was sent from.
 */
const NEEDS: ReadonlySet<string> = new Set(['any', 'strong', 'password']);

/** The pages re-authentication may return to (never a URL taken from the request as is). */
const RETURN_PATHS = new Set(['/account', '/account/password', '/account/email', '/account/delete', '/account/recovery-codes', '/account/data']);

function reauthReturnPath(value: string | null | undefined): string {
  return value && RETURN_PATHS.has(value) ? value : '/account';
}

export function reauthRoutes(router: Router, kit: AccountKit) {
  const showAgain = async (ctx: Context, signedIn: SignedIn, form: URLSearchParams, result: Exclude<CheckResult, { ok: true }>) => {
    const need = (NEEDS.has(form.get('need') ?? '') ? form.get('need') : 'any') as ReauthNeed;
    if (result.retryAfterSeconds) ctx.set('Retry-After', String(Math.ceil(Math.min(result.retryAfterSeconds, 86_400))));
    kit.page(ctx, 'reauth', { title: 'Confirm it is you', reauth: await kit.reauthForm(signedIn, need, reauthReturnPath(form.get('return'))), error: result.message }, result.status);
  };

  router.post('/reauth', async (ctx) => {
    const form = await readForm(ctx);
    const signedIn = await kit.formGuard(ctx, form);
    if (!signedIn) return;
    const password = form.get('password') ?? '';
    const code = (form.get('code') ?? '').trim();
    if (!password && !code) return showAgain(ctx, signedIn, form, { ok: false, status: 401, message: 'Enter your password or a code.' });
    const proved: ReauthMethod[] = [];
    for (const [method, value] of [['password', password], ['code', code]] as const) {
      if (!value) continue;
      const result = method === 'password' ? await checkPassword(kit, ctx, signedIn.user, 'reauth', value) : await checkCode(kit, ctx, signedIn.user, 'reauth', value);
      if (!result.ok) {
        kit.event(ctx, 'account.reauth.failure', signedIn.user, { method });
        return showAgain(ctx, signedIn, form, result);
      }
      proved.push(method);
    }
    await recordReauth(kit.services, signedIn.sessionUid, proved);
    kit.seeOther(ctx, reauthReturnPath(form.get('return')));
  });

  // A passkey or security key (views/assets/webauthn.js; the CSRF token in a header).
  const jsonGuard = kit.jsonGuard;
  const binding = (signedIn: SignedIn) => `account:${signedIn.sessionUid}`;

  router.post('/reauth/passkey/options', async (ctx) => {
    const step = await jsonGuard(ctx);
    if (!step) return;
    const options = await authenticationOptions(kit.services, binding(step.signedIn), 'reauth', step.signedIn.user.id);
    if (!options) {
      ctx.status = 400;
      ctx.body = { error: 'No passkey or security key is registered for this account.' };
      return;
    }
    ctx.body = options;
  });

  router.post('/reauth/passkey/verify', async (ctx) => {
    const step = await jsonGuard(ctx);
    if (!step) return;
    const { signedIn, body } = step;
    const attempt = attemptFrom(ctx, { kind: 'passkey', step: 'reauth', userId: signedIn.user.id });
    const gate = await kit.attempts.begin(attempt);
    if (!gate.allowed) {
      ctx.status = 429;
      ctx.body = { error: `Too many attempts. Try again in ${describeWait(gate.retryAfterSeconds)}.` };
      return;
    }
    const outcome = await finishAuthentication(kit.services, binding(signedIn), 'reauth', body.credential as never);
    const ok = outcome.ok && outcome.userId === signedIn.user.id;
    await kit.attempts.finish(attempt, ok);
    if (!outcome.ok || !ok) {
      kit.event(ctx, 'account.reauth.failure', signedIn.user, { method: 'webauthn', reason: outcome.ok ? 'wrong_user' : outcome.reason });
      ctx.status = 401;
      ctx.body = { error: outcome.ok || outcome.reason !== 'expired' ? 'This passkey or security key was not accepted.' : 'The request expired. Try again.' };
      return;
    }
    // A passkey that verified the user (PIN, biometrics) is a sign-in on its own; without that
    // it proves possession only, a second factor.
    await recordReauth(kit.services, signedIn.sessionUid, [outcome.userVerified ? 'passkey' : 'key']);
    ctx.body = { redirect: reauthReturnPath(typeof ctx.query.return === 'string' ? ctx.query.return : undefined) };
  });
}
