import type { Middleware } from 'koa';
import { describeWait } from '../accounts/second-factor-policy.ts';
import { finishAuthentication, finishRegistration } from '../accounts/webauthn.ts';
import { findUserById } from '../accounts/users.ts';
import { sendJsonRefusal } from '../http/html-page.ts';
import { attemptFrom } from '../security/credential-attempts.ts';
import { requestFields } from '../security/security-events.ts';
import { finishSignIn } from './finish-sign-in.ts';
import { interactionState, type InteractionDeps } from './interaction-deps.ts';
import { savePending, uniqueAmr } from '../accounts/pending-second-factor.ts';

/**
 * POST /interaction/:uid/webauthn/verify: the browser's WebAuthn answer to passkey-options.ts —
 * registers the security key at enrolment, or proves a passkey (sole factor, user verification
 * required) or a security key (second factor) behind the attempt limit.
 */
export function passkeyVerify(deps: InteractionDeps): Middleware {
  const { services, attempts } = deps;
  return async (ctx) => {
    const { interaction, pending, json: body } = interactionState(ctx);
    const clientId = String(interaction.params.client_id);
    const credential = body.credential as never;
    if (pending?.stage === 'enroll') {
      const result = await finishRegistration(services, pending.accountId, interaction.uid, credential, String(body.name ?? ''));
      if (!result.ok) return sendJsonRefusal(ctx, 400, result.reason);
      services.events.emit({ type: 'factor.webauthn.registered', actor: pending.accountId, userId: pending.accountId, details: { credentialId: result.id }, ...requestFields(ctx) });
      await savePending(services, interaction, { ...pending, stage: 'done', amr: uniqueAmr([...pending.first, 'hwk']), showCodes: true });
      ctx.body = { redirect: `/interaction/${interaction.uid}` };
      return;
    }
    const purpose = pending ? 'second-factor' : 'passkey';
    if (pending && pending.stage !== 'verify') return sendJsonRefusal(ctx, 400, 'This sign-in step is not expected now.');
    const attempt = attemptFrom(ctx, { kind: 'passkey', step: pending ? 'mfa/webauthn' : 'passkey', userId: pending?.accountId });
    const gate = await attempts.begin(attempt);
    if (!gate.allowed) return sendJsonRefusal(ctx, 429, `Too many attempts. Try again in ${describeWait(gate.retryAfterSeconds)}.`);
    const outcome = await finishAuthentication(services, interaction.uid, purpose, credential);
    await attempts.finish({ ...attempt, userId: outcome.userId ?? attempt.userId }, outcome.ok);
    if (!outcome.ok) {
      services.events.emit({
        type: pending ? 'signin.mfa.failure' : 'signin.failure', userId: outcome.userId, clientId,
        details: { method: pending ? 'webauthn' : 'passkey', reason: outcome.reason }, ...requestFields(ctx),
      });
      const message = outcome.reason === 'expired' ? 'The request expired. Try again.'
        : outcome.reason === 'counter' ? 'This security key looks cloned (its signature counter went backwards). It was refused.'
        : 'This passkey or security key was not accepted.';
      return sendJsonRefusal(ctx, 401, message);
    }
    const user = await findUserById(services, outcome.userId);
    if (!user || user.disabled) return sendJsonRefusal(ctx, 401, 'This passkey or security key was not accepted.');
    if (pending) return finishSignIn(services, ctx, interaction, user.id, uniqueAmr([...pending.first, 'hwk']), { json: true });
    if (!outcome.userVerified) return sendJsonRefusal(ctx, 401, 'Your device did not verify you (PIN or biometrics). Sign in with your password instead.');
    return finishSignIn(services, ctx, interaction, user.id, ['hwk', 'user'], { json: true });
  };
}
