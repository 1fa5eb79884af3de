import type { Context } from 'koa';
import { ACR_MFA, ACR_PASSWORD } from '../accounts/second-factor-policy.ts';
import type { Services } from '../context.ts';
import { requestFields } from '../security/security-events.ts';
import type { Interaction } from './interaction-deps.ts';
import { saveInteractionResult, seeOther } from './interaction-result.ts';
import { clearPending } from '../accounts/pending-second-factor.ts';

/**
 * Resolves the login prompt. The interaction loaded at the start of the request receives the
 * result (what provider.interactionResult does after reading the cookie and loading it a
 * second time). `clearPending` is false only where no pending record was ever consulted: the
 * password alone was enough (see after-password.ts).
 */
export async function finishSignIn(
  services: Services,
  ctx: Context,
  interaction: Interaction,
  accountId: string,
  amr: string[],
  opts: { json?: boolean; clearPending?: boolean } = {},
): Promise<void> {
  if (opts.clearPending !== false) await clearPending(services, interaction.uid);
  const acr = amr.length >= 2 ? ACR_MFA : ACR_PASSWORD;
  services.events.emit({
    type: 'signin.success', actor: accountId, userId: accountId, clientId: String(interaction.params.client_id), details: { amr }, ...requestFields(ctx),
  });
  const returnTo = await saveInteractionResult(interaction, { login: { accountId, amr, acr } });
  if (opts.json) {
    ctx.body = { redirect: returnTo };
    return;
  }
  seeOther(ctx, returnTo);
}
