import type { Services } from '../context.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { deleteClientRow } from '../clients/client-queries.ts';
import { deleteEverythingOfClient } from '../storage/payload-queries.ts';
import { deleteApiRow } from './api-queries.ts';
import { updateApi, type ApiUpdate } from './api-registry.ts';
import { machineScopesOf, type ApiInfo } from './api-store.ts';
import { RESOURCE_SERVER_AUDIENCE_KEY, RESOURCE_SERVER_CLIENT_TYPE } from './introspection-client.ts';

/**
 * What an operator does with registered APIs, one call per action, for the admin API, the CLI
 * and the console alike (creation is api-registry.ts's createApi). `ref` is an API's id or its
 * audience.
 */
export interface ApiSummary {
  id: string;
  name: string;
  audience: string;
  token_format: 'jwt' | 'opaque';
  access_token_ttl: number;
  scopes: Array<{ name: string; access: 'read' | 'write'; description: string; machine: boolean }>;
  machine_scopes: string[];
}

const summary = (api: ApiInfo): ApiSummary => ({
  id: api.id,
  name: api.name,
  audience: api.audience,
  token_format: api.tokenFormat,
  access_token_ttl: api.accessTokenTtl,
  scopes: api.scopes.map((s) => ({ name: s.name, access: s.access, description: s.description, machine: Boolean(s.machine) })),
  machine_scopes: machineScopesOf(api),
});

export async function listApiSummaries(services: Pick<Services, 'apis'>): Promise<ApiSummary[]> {
  return (await services.apis.all()).map(summary).sort((a, b) => a.name.localeCompare(b.name));
}

/** Read from the database, not the cache: an operator acting right after a change sees it. */
async function findApi(services: Pick<Services, 'db'>, ref: string): Promise<ApiInfo> {
  const row = ref.length <= 255
    ? await services.db.prisma.api.findFirst({ where: { OR: [{ id: ref }, { audience: ref }] }, include: { scopes: { orderBy: { name: 'asc' } } } })
    : null;
  if (!row) throw new NotFoundError(`no API ${ref}`);
  return {
    id: row.id,
    name: row.name,
    audience: row.audience,
    tokenFormat: row.tokenFormat === 'opaque' ? 'opaque' : 'jwt',
    accessTokenTtl: row.accessTokenTtl,
    scopes: row.scopes.map((s) => ({ name: s.name, access: s.access === 'write' ? 'write' : 'read', description: s.description, machine: s.machine })),
  };
}

/** Live grants (user consents and machine approvals aside) that name the API's audience. */
async function grantsFor(services: Pick<Services, 'db'>, audience: string): Promise<number> {
  const { rows } = await services.db.sql.query<{ n: number | string }>(
    `SELECT count(*) AS n FROM oidc_payload
     WHERE model = 'Grant' AND (expires_at IS NULL OR expires_at > now()) AND payload->'resources' ? $1`,
    [audience],
  );
  return Number(rows[0]?.n ?? 0);
}

export interface ApiDetails extends ApiSummary {
  /** apps allowed to ask for at least one of its scopes */
  clients: Array<{ client_id: string; name: string }>;
  /** live grants (users' consents) that include this API */
  grants: number;
  /** the API's own client for token introspection (never its secret) */
  introspection_client_id: string | null;
}

export async function showApi(services: Pick<Services, 'db'>, ref: string): Promise<ApiDetails> {
  const api = await findApi(services, ref);
  const { prisma } = services.db;
  const [clients, grants, introspection] = await Promise.all([
    prisma.client.findMany({ where: { scopes: { some: { scope: { apiId: api.id } } } }, select: { id: true, name: true }, orderBy: { name: 'asc' } }),
    grantsFor(services, api.audience),
    introspectionClientOf(services, api.audience),
  ]);
  return { ...summary(api), clients: clients.map((c) => ({ client_id: c.id, name: c.name })), grants, introspection_client_id: introspection ?? null };
}

async function introspectionClientOf(services: Pick<Services, 'db'>, audience: string): Promise<string | undefined> {
  const row = await services.db.prisma.client.findFirst({
    where: { type: RESOURCE_SERVER_CLIENT_TYPE, metadata: { path: [RESOURCE_SERVER_AUDIENCE_KEY], equals: audience } },
    select: { id: true },
  });
  return row?.id;
}

/** Name, access-token lifetime, added scopes, machine scopes (api-registry.ts's updateApi does the checks). */
export async function updateApiByRef(services: Pick<Services, 'db' | 'events'>, ref: string, change: Omit<ApiUpdate, 'audience'>, actor: string) {
  const api = await findApi(services, ref);
  await updateApi(services, { ...change, audience: api.audience });
  services.events.emit({ type: 'api.updated', actor, details: { audience: api.audience } });
  return showApi(services, api.id);
}

/**
 * Deletes an API, its scopes (and so every app's permission to ask for them, and machine
 * approvals) and its introspection client. Refused while users' grants name it, unless `force`:
 * those apps would lose access their users gave them. Tokens already issued for it are not
 * recalled; the API is gone, so nothing accepts them at Latchkey any more (introspection client
 * deleted) and JWTs run out.
 */
export async function deleteApi(services: Pick<Services, 'db' | 'events'>, ref: string, options: { force?: boolean; actor: string }) {
  const api = await findApi(services, ref);
  const grants = await grantsFor(services, api.audience);
  if (grants > 0 && !options.force) {
    throw new ConflictError(`${grants} grant(s) of users to apps include the API ${api.audience}; revoke them first, or delete with force`);
  }
  const introspection = await introspectionClientOf(services, api.audience);
  const { prisma } = services.db;
  // Apps allowed its scopes lose them with the scopes (cascade); their cached copies must follow.
  const affected = await prisma.client.findMany({ where: { scopes: { some: { scope: { apiId: api.id } } } }, select: { id: true } });
  await prisma.$transaction([deleteApiRow(prisma, api.id), ...(introspection ? [deleteClientRow(prisma, introspection)] : [])]);
  if (introspection) {
    await deleteEverythingOfClient(services.db.sql, introspection);
    await services.db.notifyChange(`client:${introspection}`);
  }
  for (const client of affected) await services.db.notifyChange(`client:${client.id}`);
  await services.db.notifyChange('apis');
  services.events.emit({ type: 'api.deleted', actor: options.actor, details: { audience: api.audience, grants, forced: Boolean(options.force) } });
  return { id: api.id, audience: api.audience, deleted: true as const, grants };
}
