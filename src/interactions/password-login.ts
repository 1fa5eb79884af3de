import type { Middleware } from 'koa';
import { describeWait } from '../accounts/second-factor-policy.ts';
import { verifyPasswordSignIn } from '../accounts/users.ts';
import { csrfToken } from '../http/csrf.ts';
import { sendPage, sendRefusalPage } from '../http/html-page.ts';
import { attemptFrom } from '../security/credential-attempts.ts';
import { requestFields } from '../security/security-events.ts';
import { afterPassword } from './after-password.ts';
import { interactionState, type InteractionDeps } from './interaction-deps.ts';
import { selfServiceLinks } from '../self-service/links.ts';

/** POST /interaction/:uid/login: e-mail and password, behind the sign-in attempt limits. */
export function passwordLogin(deps: InteractionDeps): Middleware {
  const { services, attempts, csrfSecret, clientViews } = deps;
  return async (ctx) => {
    const { form, interaction } = interactionState(ctx);
    if (interaction.prompt.name !== 'login') return sendRefusalPage(ctx, 400, 'unexpected_step', 'You are already signed in.');
    const email = (form.get('email') ?? '').slice(0, 254);
    const password = form.get('password') ?? '';
    const clientId = String(interaction.params.client_id);
    const loginPage = async (error: string, status: number) =>
      sendPage(ctx, 'login', { title: 'Sign in', uid: interaction.uid, csrf: csrfToken(csrfSecret, interaction.uid), client: await clientViews(clientId), email, error, ...selfServiceLinks(services.config) }, status);

    const attempt = attemptFrom(ctx, { kind: 'password', step: 'login', email });
    const gate = await attempts.begin(attempt);
    if (!gate.allowed) {
      ctx.set('Retry-After', String(gate.retryAfterSeconds));
      return loginPage(`Too many attempts. Try again in ${describeWait(gate.retryAfterSeconds)}.`, 429);
    }
    const user = password.length <= 256 ? await verifyPasswordSignIn(services, email, password) : undefined;
    await attempts.finish({ ...attempt, userId: user?.id }, Boolean(user));
    if (!user) services.events.emit({ type: 'signin.failure', clientId, details: { method: 'password' }, ...requestFields(ctx) });
    // During an account-wide lock (many failures from many addresses) a password alone is not
    // enough: the owner goes on with a second factor, or signs in with a passkey. A wrong
    // password and a right one without a second factor get the same answer then.
    if (gate.accountLocked && !user?.hasSecondFactor) {
      return loginPage('Too many failed sign-ins for this account. Sign in with a passkey, or try again later.', 429);
    }
    if (!user) return loginPage('Incorrect e-mail address or password.', 401);
    // Finishes with amr ['pwd'], or goes on to the second factor (or its enrolment).
    await afterPassword(services, ctx, interaction, user, { requireSecondFactor: gate.accountLocked });
  };
}
