import type { Middleware } from 'koa';
import { sendRefusalPage } from '../http/html-page.ts';
import { requestFields } from '../security/security-events.ts';
import { apisOfRequest } from './apis-of-request.ts';
import { applyConsent } from './apply-consent.ts';
import type { AccessChoice } from '../apis/consent-model.ts';
import { interactionState, type InteractionDeps } from './interaction-deps.ts';
import { saveInteractionResult, seeOther } from './interaction-result.ts';

/**
 * POST /interaction/:uid/confirm: the consent page's answer. Each API is granted read-only
 * unless the user chose read-write and the app asked for a write scope (apply-consent.ts).
 */
export function confirmConsent(deps: InteractionDeps): Middleware {
  const { services, holder, clientViews } = deps;
  return async (ctx) => {
    const { form, interaction } = interactionState(ctx);
    const { prompt, params, session } = interaction;
    if (prompt.name !== 'consent' || !session) return sendRefusalPage(ctx, 400, 'unexpected_step', 'Nothing to confirm.');
    const provider = holder.current;
    const client = await clientViews(String(params.client_id));
    const apis = await apisOfRequest(services, interaction, client.allowedScopes);
    const choices = new Map<string, AccessChoice>();
    for (const api of apis) {
      choices.set(api.audience, form.get(`access:${api.audience}`) === 'read-write' && api.writeRequested ? 'read-write' : 'read-only');
    }
    const grant = interaction.grantId
      ? ((await provider.Grant.find(interaction.grantId)) ?? new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) }))
      : new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
    applyConsent(grant, {
      missingOIDCScope: (prompt.details.missingOIDCScope ?? []) as string[],
      missingOIDCClaims: (prompt.details.missingOIDCClaims ?? []) as string[],
      apis,
      choices,
    });
    const grantId = await grant.save();
    services.events.emit({
      type: 'consent.granted',
      actor: session.accountId,
      userId: session.accountId,
      clientId: String(params.client_id),
      details: { grantId, apis: Object.fromEntries([...choices].map(([audience, choice]) => [audience, choice])) },
      ...requestFields(ctx),
    });
    seeOther(ctx, await saveInteractionResult(interaction, { consent: { grantId } }, { mergeWithLastSubmission: true }));
  };
}
