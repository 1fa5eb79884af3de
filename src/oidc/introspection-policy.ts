import type { ClientStore } from '../clients/client-store.ts';
import { RESOURCE_SERVER_AUDIENCE_KEY } from '../apis/introspection-client.ts';

interface IntrospectedToken {
  clientId?: string;
  aud?: string | string[];
  resourceServer?: { audience?: string };
}

/**
 * Who may introspect a token: the client it was issued to, or the API it was issued for
 * (the API's resource-server client, whose registered audience matches the token's aud).
 * oidc-provider's default would let any confidential client introspect any token.
 */
export function introspectionAllowedPolicy(clients: ClientStore) {
  return async (_ctx: unknown, caller: { clientId: string }, token: IntrospectedToken): Promise<boolean> => {
    // A suspended client's tokens introspect as inactive, whoever asks.
    const owner = token.clientId ? await clients.find(token.clientId) : undefined;
    if (owner && (owner.suspended || owner.approvalPending)) return false;
    if (caller.clientId === token.clientId) return true;
    const apiAudience = (await clients.find(caller.clientId))?.metadata[RESOURCE_SERVER_AUDIENCE_KEY];
    if (typeof apiAudience !== 'string') return false;
    const audiences = [token.resourceServer?.audience, ...(Array.isArray(token.aud) ? token.aud : [token.aud])];
    return audiences.includes(apiAudience);
  };
}
