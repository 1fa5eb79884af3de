/**
 * DCR's client storage: the Client adapter's upsert and destroy land here, so clients registered
 * through RFC 7591/7592 live in the same tables as every other client (secret encrypted, owner
 * and API scopes recorded from the policy's decision).
 */
import type { Services } from '../context.ts';
import { deleteClient } from './client-registry.ts';
import { saveClientChange } from './client-change.ts';
import { insertClient } from './client-queries.ts';
import { clientTypeOf, SERVER_OWNED_PREFIX } from './client-rules.ts';
import { secretContext } from './client-store.ts';
import { takeDecision } from './registration-decision.ts';

/** The Client adapter's upsert and destroy, which only DCR uses (RFC 7591 create, 7592 update/delete). */
export function registrationClientStore(services: Services) {
  return {
    async upsert(clientId: string, payload: Record<string, unknown>): Promise<void> {
      const { client_secret: secret, ...metadata } = payload;
      for (const key of Object.keys(metadata)) if (key.startsWith(SERVER_OWNED_PREFIX)) delete metadata[key];
      const decided = takeDecision(clientId);
      const name = typeof metadata.client_name === 'string' && metadata.client_name.trim() ? metadata.client_name.trim() : 'Unnamed app';
      const type = clientTypeOf(metadata);
      const secretEncrypted = typeof secret === 'string' ? services.encryptor.encrypt(secret, secretContext(clientId)) : null;
      const existing = await services.db.prisma.client.findUnique({ where: { id: clientId }, select: { id: true, scopes: { select: { scopeId: true } } } });
      if (existing) {
        // The policy decided the API scopes of every update; without a decision they stay as they were.
        await saveClientChange(services, clientId, { name, type, secretEncrypted }, {
          metadata,
          askedScopeIds: decided?.scopeIds ?? existing.scopes.map((s) => s.scopeId),
          replaceScopes: decided?.scopeIds !== undefined,
          actor: `client:${clientId}`,
          via: 'dcr',
        });
        services.events.emit({ type: 'registration.updated', actor: `client:${clientId}`, clientId });
      } else {
        const approvalPending = services.config.clientApproval === 'manual';
        await insertClient(
          services.db.prisma,
          { id: clientId, name, type, ownerId: decided?.ownerId ?? null, createdVia: 'dcr', approvalPending, metadata, secretEncrypted },
          decided?.scopeIds ?? [],
        );
        services.events.emit({ type: 'client.created', actor: 'registration', clientId, userId: decided?.ownerId ?? undefined, details: { type, via: 'dcr', approvalPending } });
        services.events.emit({ type: 'registration.created', actor: 'registration', clientId, userId: decided?.ownerId ?? undefined });
      }
      await services.db.notifyChange(`client:${clientId}`);
    },
    async destroy(clientId: string): Promise<void> {
      await deleteClient(services, clientId, `client:${clientId}`).catch((error) => {
        if ((error as Error).name !== 'NotFoundError') throw error;
      });
      services.events.emit({ type: 'registration.deleted', actor: `client:${clientId}`, clientId });
    },
  };
}
