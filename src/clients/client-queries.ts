import type { Prisma } from '../storage/database.ts';

/**
 * The client tables — `client`, `client_scope` (the API scopes a client may ask for) and
 * `client_machine_scope` (machine access an operator approved): every statement that changes
 * them. The libraries decide (client-registry.ts, dcr-client-store.ts, machine-access.ts, and
 * src/apis/ for each API's introspection client). A function that returns Prisma's lazy
 * promise instead of awaiting it runs when awaited, or inside the caller's
 * `prisma.$transaction([…])` with the other changes it belongs with. Every change is followed by
 * the caller's notifyChange(`client:<id>`), which drops cached copies in every instance.
 */
export interface NewClientRow {
  id: string;
  name: string;
  type: string;
  /** oidc-provider's validated metadata, without the secret */
  metadata: object;
  secretEncrypted: string | null;
  description?: string;
  ownerId?: string | null;
  createdVia?: string;
  approvalPending?: boolean;
  firstParty?: boolean;
}

export interface ClientChanges {
  name?: string;
  type?: string;
  description?: string;
  metadata?: object;
  secretEncrypted?: string | null;
  previousSecretEncrypted?: string | null;
  previousSecretExpiresAt?: Date | null;
  suspendedAt?: Date | null;
  firstParty?: boolean;
  approvalPending?: boolean;
}

/** A new client, allowed the API scopes `scopeIds`. */
export async function insertClient(prisma: Prisma, row: NewClientRow, scopeIds: readonly string[] = []): Promise<void> {
  await prisma.client.create({ data: { ...row, scopes: { create: scopeIds.map((scopeId) => ({ scopeId })) } } });
}

/** Changes a client; with `addScopeIds`, those scopes are added (after deleteClientScopes: they replace the old ones). */
export function updateClientRow(prisma: Prisma, clientId: string, changes: ClientChanges, addScopeIds?: readonly string[]) {
  return prisma.client.update({
    where: { id: clientId },
    data: { ...changes, ...(addScopeIds ? { scopes: { create: addScopeIds.map((scopeId) => ({ scopeId })) } } : {}) },
  });
}

/** The client row; its scopes, machine approvals and usage rows go with it (cascade). */
export function deleteClientRow(prisma: Prisma, clientId: string) {
  return prisma.client.delete({ where: { id: clientId } });
}

/** Every API scope the client may ask for. */
export function deleteClientScopes(prisma: Prisma, clientId: string) {
  return prisma.clientScope.deleteMany({ where: { clientId } });
}

/**
 * Holds the client's row until the transaction ends. Every transaction that changes what a client
 * asks for (client-change.ts) or approves its machine access (machine-access.ts) takes it first,
 * so for one client they run one after the other: a statement after it sees what the one before
 * committed.
 */
export function lockClientRow(prisma: Prisma, clientId: string) {
  return prisma.$queryRaw<Array<{ id: string }>>`SELECT id FROM client WHERE id = ${clientId} FOR UPDATE`;
}

/**
 * Machine approvals of scopes other than `keptScopeIds` (which client-rules.ts machineApprovalsKept
 * decides); returns the names of the scopes whose approval went, for the audit trail.
 */
export function deleteMachineApprovalsOutside(prisma: Prisma, clientId: string, keptScopeIds: readonly string[]) {
  return prisma.$queryRaw<Array<{ name: string }>>`
    DELETE FROM client_machine_scope m USING api_scope s
    WHERE m.client_id = ${clientId} AND s.id = m.scope_id AND m.scope_id <> ALL(${[...keptScopeIds]}::text[])
    RETURNING s.name`;
}

/** Approves machine access to these scopes (kept as they were where approved already). */
export async function insertMachineApprovals(prisma: Prisma, clientId: string, scopeIds: readonly string[], approvedBy: string): Promise<void> {
  await prisma.clientMachineScope.createMany({ data: scopeIds.map((scopeId) => ({ clientId, scopeId, approvedBy })), skipDuplicates: true });
}

/**
 * Approves machine access to those of `scopeIds` the client asks for at this moment, while it uses
 * client_credentials (the condition of client-rules.ts machineApprovalsKept, checked here in the
 * same statement as the insert); an approval already there is kept as it was. Returns the scope
 * ids approved, new or kept. Run it after lockClientRow in one transaction: a change of the
 * client committed since the caller read it is then seen, and one not yet begun waits.
 */
export function insertMachineApprovalsStillAsked(prisma: Prisma, clientId: string, scopeIds: readonly string[], approvedBy: string) {
  return prisma.$queryRaw<Array<{ scope_id: string }>>`
    INSERT INTO client_machine_scope (client_id, scope_id, approved_by)
    SELECT cs.client_id, cs.scope_id, ${approvedBy}
    FROM client_scope cs JOIN client c ON c.id = cs.client_id
    WHERE cs.client_id = ${clientId} AND cs.scope_id = ANY(${[...scopeIds]}::text[])
      AND c.metadata->'grant_types' @> '["client_credentials"]'::jsonb
    ON CONFLICT (client_id, scope_id) DO UPDATE SET approved_by = client_machine_scope.approved_by
    RETURNING scope_id`;
}

/** Withdraws the client's machine approvals for one API's scopes; returns how many. */
export async function deleteMachineApprovalsOfApi(prisma: Prisma, clientId: string, apiId: string): Promise<number> {
  const { count } = await prisma.clientMachineScope.deleteMany({ where: { clientId, scope: { apiId } } });
  return count;
}
