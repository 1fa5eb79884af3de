import type { Middleware } from 'koa';
import { recoveryCodesRemaining } from '../accounts/recovery-codes.ts';
import { codesRefusal } from '../accounts/second-factor-policy.ts';
import { attemptFrom } from '../security/credential-attempts.ts';
import { requestFields } from '../security/security-events.ts';
import { finishSignIn } from './finish-sign-in.ts';
import { interactionState, type InteractionDeps } from './interaction-deps.ts';
import { savePending, uniqueAmr, type Pending } from '../accounts/pending-second-factor.ts';
import { renderSecondFactorPage } from './second-factor-page.ts';

type CodeMethod = 'totp' | 'recovery_code';

/**
 * A code factor (TOTP or recovery code) behind the per-account attempt limit: the shared body of
 * totp-step.ts and recovery-code-step.ts. After the pending record is at stage 'verify'.
 */
export function codeFactorStep(deps: InteractionDeps, method: CodeMethod, field: string, check: (pending: Pending, value: string) => Promise<boolean>): Middleware {
  const { services, attempts } = deps;
  return async (ctx) => {
    const { form, interaction, pending } = interactionState(ctx);
    if (!pending) throw new Error('codeFactorStep runs after requirePendingStage');
    const render = (extra: Record<string, unknown>, status?: number, at: Pending = pending) => renderSecondFactorPage(deps, ctx, interaction, at, extra, status);
    const clientId = String(interaction.params.client_id);
    const attempt = attemptFrom(ctx, { kind: 'code', step: `mfa/${method}`, userId: pending.accountId });
    const gate = await attempts.begin(attempt);
    if (!gate.allowed) {
      ctx.set('Retry-After', String(Math.ceil(Math.min(gate.retryAfterSeconds, 86_400))));
      return render({ error: codesRefusal(gate.retryAfterSeconds) }, 429);
    }
    const ok = await check(pending, (form.get(field) ?? '').slice(0, 64));
    const { lockedSeconds } = await attempts.finish(attempt, ok);
    if (!ok) {
      services.events.emit({ type: 'signin.mfa.failure', userId: pending.accountId, clientId, details: { method }, ...requestFields(ctx) });
      if (lockedSeconds) {
        ctx.set('Retry-After', String(lockedSeconds));
        return render({ error: codesRefusal(lockedSeconds) }, 429);
      }
      return render({ error: method === 'totp' ? 'That code is not right, or was already used. Wait for the next code and try again.' : 'That recovery code is not valid or was already used.' }, 401);
    }
    const amr = uniqueAmr([...pending.first, 'otp']);
    if (method === 'recovery_code') {
      const remaining = await recoveryCodesRemaining(services, pending.accountId);
      services.events.emit({ type: 'recovery_code.used', actor: pending.accountId, userId: pending.accountId, clientId, details: { remaining }, ...requestFields(ctx) });
      const notice = `Recovery code accepted. You have ${remaining} recovery code${remaining === 1 ? '' : 's'} left.` +
        (remaining <= 3 ? ' Create new ones on your account page.' : '');
      const done: Pending = { ...pending, stage: 'done', amr, notice };
      await savePending(services, interaction, done);
      return render({}, 200, done);
    }
    return finishSignIn(services, ctx, interaction, pending.accountId, amr);
  };
}
