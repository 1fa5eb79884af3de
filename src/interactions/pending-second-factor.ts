import type { Middleware } from 'koa';
import type { EnrolmentOwner } from '../accounts/totp.ts';
import type { Services } from '../context.ts';
import { sendJsonRefusal, sendRefusalPage } from '../http/html-page.ts';
import { getEphemeral, putEphemeral, takeEphemeral } from '../storage/ephemeral-store.ts';
import { interactionState, type Interaction } from './interaction-deps.ts';

/**
 * The `login` prompt is resolved only once every required factor has passed; until then "first
 * factor OK for account X" lives in a server-side record keyed by the interaction uid that
 * expires with the interaction (ephemeral-store.ts).
 */
export interface Pending {
  accountId: string;
  /** amr of the first factor: ['pwd'] after the password, or the session's amr on step-up */
  first: string[];
  stage: 'verify' | 'enroll' | 'done';
  /** for stage 'done' */
  amr?: string[];
  showCodes?: boolean;
  notice?: string;
  /** an app asked for more than the session has (acr_values): the page says so, and for which app */
  stepUp?: boolean;
}

const PENDING = 'LatchkeyMfaPending';

const interactionExpiry = (interaction: Interaction) => new Date((interaction.exp ?? Math.floor(Date.now() / 1000) + 3600) * 1000);

export const savePending = (services: Services, interaction: Interaction, pending: Pending) =>
  putEphemeral(services.db.sql, PENDING, interaction.uid, pending, interactionExpiry(interaction));
export const loadPending = (services: Services, uid: string) => getEphemeral<Pending>(services.db.sql, PENDING, uid);
export const clearPending = (services: Services, uid: string) => takeEphemeral(services.db.sql, PENDING, uid);

/** A TOTP enrolment started at sign-in belongs to the interaction, and expires with it. */
export const enrolmentOwner = (interaction: Interaction): EnrolmentOwner => ({ kind: 'interaction', id: interaction.uid, expiresAt: interactionExpiry(interaction) });

/** amr values in first-seen order, each once. */
export const uniqueAmr = (values: string[]) => [...new Set(values)];

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
