import type { Services } from '../context.ts';
import { requestedApis, type ApiRequest } from '../apis/consent-model.ts';
import type { Interaction } from './interaction-deps.ts';

/**
 * The APIs this consent prompt asks about: the resource scopes oidc-provider found missing, or
 * on prompt=consent every requested resource again.
 */
export async function apisOfRequest(services: Services, interaction: Interaction, allowedScopes: Set<string>): Promise<ApiRequest[]> {
  const apis = await services.apis.all();
  const resource = interaction.params.resource;
  const missing = (interaction.prompt.details.missingResourceScopes ?? {}) as Record<string, string[]>;
  const promptedAgain = String(interaction.params.prompt ?? '').split(' ').includes('consent');
  return requestedApis({
    requestedScope: String(interaction.params.scope ?? ''),
    resourcesInRequest: promptedAgain ? (Array.isArray(resource) ? resource : resource ? [String(resource)] : []) : [],
    missingResourceScopes: missing,
    apiByAudience: (audience) => apis.find((a) => a.audience === audience),
    allowedScopes,
  });
}
