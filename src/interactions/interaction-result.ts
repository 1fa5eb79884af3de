import type { Context } from 'koa';
import type { InteractionResults } from 'oidc-provider';
import type { ProviderHolder } from '../oidc/provider-holder.ts';

type Interaction = Awaited<ReturnType<ProviderHolder['current']['interactionDetails']>>;

/**
 * Stores the result of an interaction and returns where the browser goes next (oidc-provider's
 * resume URL), on the interaction already loaded for this request. This is what
 * provider.interactionResult does, minus reading and
 * verifying the interaction cookie and loading the interaction a second time. The lifetime is
 * not extended: the record keeps the expiry it had.
 */
export async function saveInteractionResult(interaction: Interaction, result: InteractionResults, opts: { mergeWithLastSubmission?: boolean } = {}): Promise<string> {
  interaction.result = opts.mergeWithLastSubmission && !('error' in result) ? { ...interaction.lastSubmission, ...result } : result;
  await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
  return interaction.returnTo;
}

/** 303 to `location` with an empty body, as provider.interactionFinished answers. */
export function seeOther(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.set('Location', location);
  ctx.body = '';
}
