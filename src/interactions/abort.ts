import type { Middleware } from 'koa';
import type { Services } from '../context.ts';
import { requestFields } from '../security/security-events.ts';
import { interactionState } from './interaction-deps.ts';
import { saveInteractionResult, seeOther } from './interaction-result.ts';

/** POST /interaction/:uid/abort: the user declined; the app gets access_denied. */
export function abortInteraction(services: Services): Middleware {
  return async (ctx) => {
    const { interaction } = interactionState(ctx);
    services.events.emit({ type: 'consent.denied', userId: interaction.session?.accountId, clientId: String(interaction.params.client_id), ...requestFields(ctx) });
    seeOther(ctx, await saveInteractionResult(interaction, { error: 'access_denied', error_description: 'End-user denied the request' }));
  };
}
