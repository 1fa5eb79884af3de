/**
 * Machine access: client_credentials tokens, issued with no user and no consent. A client gets
 * such a token for an API scope only when all three hold:
 *   - the API offers the scope to machines (`latchkey api create|update --machine-scope`),
 *   - the client asks for the scope (its registered scopes: CLI, portal or DCR),
 *   - an operator approved that scope for this client (`latchkey client approve-machine-access`).
 * A developer can ask (portal, DCR) but never approve; until an operator does, the access is
 * "pending" and the token endpoint answers invalid_scope. What an approval outlives when the app
 * changes is one rule for every path: client-rules.ts machineApprovalsKept; an approval and a
 * change of the same app take turns (client-queries.ts lockClientRow).
 */
import type { Services } from '../context.ts';
import { ConflictError, InputError, NotFoundError } from '../errors.ts';
import { deleteClientCredentialsOf } from '../storage/payload-queries.ts';
import { deleteMachineApprovalsOfApi, insertMachineApprovals, insertMachineApprovalsStillAsked, lockClientRow } from './client-queries.ts';
import { usesClientCredentials } from './client-rules.ts';

/**
 * What machine access needs to know of an API (an ApiInfo of apis/api-store.ts fits). Declared
 * here because apis/ builds on clients/ (each API's introspection client), not the other way.
 */
export interface ApiOffer {
  name: string;
  audience: string;
  scopes: readonly { name: string; machine?: boolean }[];
}

export interface MachineAccessHolder {
  allowedScopes: ReadonlySet<string>;
  approvedMachineScopes: ReadonlySet<string>;
}

/** The scopes of `api` a client_credentials token for this client may carry: offered ∧ asked for ∧ approved. */
export function grantableMachineScopes(api: ApiOffer, client: MachineAccessHolder): string[] {
  return api.scopes.filter((s) => s.machine && client.allowedScopes.has(s.name) && client.approvedMachineScopes.has(s.name)).map((s) => s.name);
}

export interface MachineAccessStatus {
  api: string;
  audience: string;
  /** machine tokens may carry these now */
  approved: string[];
  /** offered by the API and asked for, waiting for an operator's approval */
  pending: string[];
  /** asked for, but the API offers them to users only */
  not_offered: string[];
}

/** Per API the client asks scopes of: what its machine access amounts to (for `client show` and the portal). */
export function machineAccessStatus(apis: readonly ApiOffer[], client: MachineAccessHolder): MachineAccessStatus[] {
  return apis
    .map((api) => {
      const requested = api.scopes.filter((s) => client.allowedScopes.has(s.name));
      return {
        api: api.name,
        audience: api.audience,
        approved: requested.filter((s) => s.machine && client.approvedMachineScopes.has(s.name)).map((s) => s.name),
        pending: requested.filter((s) => s.machine && !client.approvedMachineScopes.has(s.name)).map((s) => s.name),
        not_offered: requested.filter((s) => !s.machine).map((s) => s.name),
      };
    })
    .filter((status) => status.approved.length + status.pending.length + status.not_offered.length > 0);
}

type MachineServices = Pick<Services, 'db' | 'events'>;

async function clientAndApi(services: MachineServices, clientId: string, audience: string) {
  const client = await services.db.prisma.client.findUnique({ where: { id: clientId }, include: { scopes: { include: { scope: true } } } });
  if (!client) throw new NotFoundError(`no client with id ${clientId}`);
  const api = await services.db.prisma.api.findUnique({ where: { audience }, include: { scopes: true } });
  if (!api) throw new NotFoundError(`no API with audience ${audience}`);
  return { client, api };
}

/**
 * `latchkey client approve-machine-access <client> --api <audience>`: approves the machine
 * scopes of that API the client asks for now. Scopes it asks for later need a new approval.
 */
export async function approveMachineAccess(services: MachineServices, clientId: string, audience: string, actor = 'cli') {
  const { client, api } = await clientAndApi(services, clientId, audience);
  if (!usesClientCredentials(client.metadata as Record<string, unknown>)) {
    throw new InputError('this client does not use the client_credentials grant; machine access does not apply');
  }
  const requested = client.scopes.filter((s) => s.scope.apiId === api.id).map((s) => s.scope);
  if (!requested.length) throw new InputError(`client ${clientId} asks for no scope of ${audience}`);
  const approvable = requested.filter((s) => s.machine);
  if (!approvable.length) {
    throw new InputError(
      `${audience} offers none of the scopes this client asks for (${requested.map((s) => s.name).join(', ')}) to machines; ` +
        `the API's operator decides with "latchkey api update --audience ${audience} --machine-scope <scope>"`,
    );
  }
  const approved = await approveStillAsked(services, clientId, approvable, actor);
  if (!approved.length) {
    throw new ConflictError(
      `client ${clientId} changed while you approved: it no longer asks for machine access to ${approvable.map((s) => s.name).join(', ')}; ` +
        `nothing was approved (see "latchkey client show ${clientId}")`,
    );
  }
  await services.db.notifyChange(`client:${clientId}`);
  services.events.emit({ type: 'client.machine_access_approved', actor, clientId, details: { audience, scopes: approved } });
  return { client_id: clientId, audience, approved };
}

/**
 * Approves those of `scopes` the client still asks for at the moment of the write (it may have
 * changed since it was read above: a developer can time an edit against a pending approval).
 * Returns their names; none when every one was dropped meanwhile.
 */
async function approveStillAsked(services: MachineServices, clientId: string, scopes: ReadonlyArray<{ id: string; name: string }>, actor: string): Promise<string[]> {
  const { prisma } = services.db;
  const [, approved] = await prisma.$transaction([
    lockClientRow(prisma, clientId),
    insertMachineApprovalsStillAsked(prisma, clientId, scopes.map((s) => s.id), actor),
  ]);
  const approvedIds = new Set(approved.map((row) => row.scope_id));
  return scopes.filter((s) => approvedIds.has(s.id)).map((s) => s.name).sort();
}

/**
 * `latchkey client revoke-machine-access <client> --api <audience>`: no more machine tokens
 * for that API. Opaque machine tokens already issued to the client are deleted (it asks again
 * for the APIs it still may use); JWTs run out within the API's access-token lifetime.
 */
export async function revokeMachineAccess(services: MachineServices, clientId: string, audience: string, actor = 'cli') {
  const { api } = await clientAndApi(services, clientId, audience);
  const count = await deleteMachineApprovalsOfApi(services.db.prisma, clientId, api.id);
  await deleteClientCredentialsOf(services.db.sql, clientId);
  await services.db.notifyChange(`client:${clientId}`);
  services.events.emit({ type: 'client.machine_access_revoked', actor, clientId, details: { audience, scopes: count } });
  return { client_id: clientId, audience, revoked: count };
}

/**
 * Operator-created clients (`latchkey client create`) are approved at once for the machine
 * scopes they are given that their APIs offer now: the operator is the one who approves.
 */
export async function approveOperatorMachineScopes(services: MachineServices, clientId: string, scopes: ReadonlyArray<{ id: string; machine: boolean }>) {
  const machine = scopes.filter((s) => s.machine);
  if (!machine.length) return;
  await insertMachineApprovals(services.db.prisma, clientId, machine.map((s) => s.id), 'cli');
}
