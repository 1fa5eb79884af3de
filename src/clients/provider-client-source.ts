import type { ClientSource } from '../storage/oidc-adapter.ts';
import type { ClientStore } from './client-store.ts';

/** RFC 7592 client management: where a suspended client's owner may still read or delete it. */
const MANAGEMENT_ROUTES = new Set(['client', 'client_update', 'client_delete']);

/**
 * The clients oidc-provider sees. A suspended client (or one awaiting approval) is not found,
 * so every endpoint answers invalid_client for it — except RFC 7592 management with its
 * registration access token, so its owner can still read or delete it.
 */
export function providerClientSource(store: ClientStore): ClientSource {
  return {
    async find(clientId, route) {
      const client = await store.find(clientId);
      if (!client) return undefined;
      if (client.suspended || client.approvalPending) {
        const current = route();
        if (!current || !MANAGEMENT_ROUTES.has(current)) return undefined;
      }
      return client.metadata;
    },
  };
}
