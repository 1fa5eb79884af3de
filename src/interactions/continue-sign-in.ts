import type { Middleware } from 'koa';
import { finishSignIn } from './finish-sign-in.ts';
import { interactionState, type InteractionDeps } from './interaction-deps.ts';

/** POST /interaction/:uid/mfa/continue: past the recovery-code page (stage 'done'), finish the sign-in. */
export function continueSignIn(deps: InteractionDeps): Middleware {
  return async (ctx) => {
    const { interaction, pending } = interactionState(ctx);
    if (!pending) throw new Error('continueSignIn runs after requirePendingStage');
    await finishSignIn(deps.services, ctx, interaction, pending.accountId, pending.amr ?? pending.first);
  };
}
