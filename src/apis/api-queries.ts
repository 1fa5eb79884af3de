import type { Prisma } from '../storage/database.ts';

/**
 * The API tables — `api` and `api_scope`: every statement that changes them. The libraries
 * decide (api-registry.ts creates and changes APIs, api-admin.ts deletes them). A function that
 * returns Prisma's lazy promise instead of awaiting it runs when awaited, or inside the caller's
 * `prisma.$transaction([…])` with the other changes it belongs with. Every change is followed by
 * the caller's notifyChange('apis'), which drops cached copies in every instance.
 */
export interface NewScopeRow {
  id: string;
  name: string;
  access: string;
  description: string;
  machine: boolean;
}

export async function insertApi(
  prisma: Prisma,
  row: { id: string; name: string; audience: string; tokenFormat: string; accessTokenTtl: number },
  scopes: readonly NewScopeRow[],
): Promise<void> {
  await prisma.api.create({ data: { ...row, scopes: { create: [...scopes] } } });
}

/** Changes an API's name or access-token lifetime and adds scopes. */
export function updateApiRow(prisma: Prisma, id: string, changes: { name?: string; accessTokenTtl?: number }, addScopes: readonly NewScopeRow[]) {
  return prisma.api.update({ where: { id }, data: { ...changes, ...(addScopes.length ? { scopes: { create: [...addScopes] } } : {}) } });
}

/** Whether machines (client_credentials) may get the scope. */
export function setScopeMachine(prisma: Prisma, scopeId: string, machine: boolean) {
  return prisma.apiScope.update({ where: { id: scopeId }, data: { machine } });
}

/** The API row; its scopes go with it, and with them every client's permission and machine approval for them (cascade). */
export function deleteApiRow(prisma: Prisma, id: string) {
  return prisma.api.delete({ where: { id } });
}
