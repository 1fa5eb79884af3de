/**
 * Saving a change of an existing app, whichever way it changes (a portal or admin-API edit in
 * client-registry.ts, an RFC 7592 update in dcr-client-store.ts): one transaction that holds the
 * client's row first, so an operator's machine approval (machine-access.ts) lands wholly before
 * the change — which then drops it if the scope goes — or wholly after it, seeing the new
 * scopes; never in between. The approvals the change no longer keeps (client-rules.ts
 * machineApprovalsKept) go, and an audit event names them: an operator who approved a scope
 * can see why the approval is gone.
 */
import type { Services } from '../context.ts';
import { deleteClientScopes, deleteMachineApprovalsOutside, lockClientRow, updateClientRow, type ClientChanges } from './client-queries.ts';
import { machineApprovalsKept } from './client-rules.ts';

export interface SavedChange {
  /** the validated metadata the client will have */
  metadata: Record<string, unknown>;
  /** the API scope ids the client asks for after the change */
  askedScopeIds: readonly string[];
  /** whether `askedScopeIds` replaces the scopes it asks for (false: they stay as they were) */
  replaceScopes: boolean;
  /** who made it, and which way, for the audit event */
  actor: string;
  via: 'edit' | 'dcr';
}

export async function saveClientChange(services: Pick<Services, 'db' | 'events'>, clientId: string, changes: Omit<ClientChanges, 'metadata'>, change: SavedChange): Promise<void> {
  const { prisma } = services.db;
  const { metadata, askedScopeIds, replaceScopes } = change;
  const results = await prisma.$transaction([
    lockClientRow(prisma, clientId),
    ...(replaceScopes ? [deleteClientScopes(prisma, clientId)] : []),
    deleteMachineApprovalsOutside(prisma, clientId, machineApprovalsKept(metadata, askedScopeIds)),
    updateClientRow(prisma, clientId, { ...changes, metadata }, replaceScopes ? askedScopeIds : undefined),
  ]);
  const dropped = (results.at(-2) as Array<{ name: string }>).map((s) => s.name).sort();
  if (dropped.length) {
    services.events.emit({ type: 'client.machine_access_dropped', actor: change.actor, clientId, details: { scopes: dropped, via: change.via } });
  }
}
