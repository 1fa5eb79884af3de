import type { Context } from 'koa';
import type { Services } from '../context.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import type { CredentialAttempts } from '../security/credential-attempts.ts';
import type { ClientViews } from './client-view.ts';
import type { Pending } from '../accounts/pending-second-factor.ts';

/** An interaction as oidc-provider loads it (interactionDetails). */
export type Interaction = Awaited<ReturnType<ProviderHolder['current']['interactionDetails']>>;

/** What every interaction action is built with (router.ts builds it once). */
export interface InteractionDeps {
  services: Services;
  holder: ProviderHolder;
  csrfSecret: string;
  attempts: CredentialAttempts;
  clientViews: ClientViews;
}

/**
 * What the shared middleware leaves on ctx.state for the action (as oidc-provider's ctx.oidc):
 * the interaction (load-interaction.ts), the parsed body (request-bodies.ts) and the pending
 * second-factor record (pending-guards.ts).
 */
export interface InteractionState {
  interaction: Interaction;
  form: URLSearchParams;
  json: Record<string, unknown>;
  pending?: Pending;
}

export const interactionState = (ctx: Context): InteractionState => ctx.state as InteractionState;
