import type { Middleware } from 'koa';
import { loadPending, type Pending } from '../accounts/pending-second-factor.ts';
import type { Services } from '../context.ts';
import { sendJsonRefusal, sendRefusalPage } from '../http/html-page.ts';
import { interactionState } from './interaction-deps.ts';

/**
 * The sign-in steps that need the pending second-factor record (src/accounts/pending-second-factor.ts)
 * load it here, into ctx.state.pending, and refuse a step that is not expected now.
 */

/** Form steps: the pending record must be at `stage` (and the login prompt open) into ctx.state.pending. */
export function requirePendingStage(services: Services, stage: Pending['stage']): Middleware {
  return async (ctx, next) => {
    const state = interactionState(ctx);
    const pending = state.interaction.prompt.name === 'login' ? await loadPending(services, state.interaction.uid) : undefined;
    if (!pending || pending.stage !== stage) {
      return sendRefusalPage(ctx, 400, 'unexpected_step', 'This sign-in step is not expected now. Go back to the app and start again.');
    }
    state.pending = pending;
    await next();
  };
}

/** JSON (WebAuthn) steps: the login prompt open, and the pending record if any (none: passkey sign-in). */
export function loginPromptWithPending(services: Services): Middleware {
  return async (ctx, next) => {
    const state = interactionState(ctx);
    if (state.interaction.prompt.name !== 'login') return sendJsonRefusal(ctx, 400, 'You are already signed in.');
    state.pending = await loadPending(services, state.interaction.uid);
    await next();
  };
}
