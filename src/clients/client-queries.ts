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

/** Machine approvals of scopes other than `keptScopeIds` (which client-rules.ts machineApprovalsKept decides). */
export function deleteMachineApprovalsOutside(prisma: Prisma, clientId: string, keptScopeIds: readonly string[]) {
  return prisma.clientMachineScope.deleteMany({ where: { clientId, scopeId: { notIn: [...keptScopeIds] } } });
}

/** Approves machine access to these scopes (kept as they were where approved already). */
export async function insertMachineApprovals(prisma: Prisma, clientId: string, scopeIds: readonly string[], approvedBy: string): Promise<void> {
  await prisma.clientMachineScope.createMany({ data: scopeIds.map((scopeId) => ({ clientId, scopeId, approvedBy })), skipDuplicates: true });
}

/** Withdraws the client's machine approvals for one API's scopes; returns how many. */
export async function deleteMachineApprovalsOfApi(prisma: Prisma, clientId: string, apiId: string): Promise<number> {
  const { count } = await prisma.clientMachineScope.deleteMany({ where: { clientId, scope: { apiId } } });
  return count;
}
