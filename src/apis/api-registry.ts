import { randomUUID } from 'node:crypto';
import type { Services } from '../context.ts';
import { InputError, NotFoundError } from '../errors.ts';
import type { ValidateClientMetadata } from '../clients/client-registry.ts';
import { insertApi, setScopeMachine, updateApiRow } from './api-queries.ts';
import type { ScopeAccess } from './api-store.ts';
import { createIntrospectionClient } from './introspection-client.ts';

export interface NewApi {
  name: string;
  audience: string;
  scopes: Array<{ name: string; access: ScopeAccess; description?: string }>;
  tokenFormat?: 'jwt' | 'opaque';
  accessTokenTtl?: number;
  /** scopes client_credentials tokens may carry (default none: no machine access) */
  machineScopes?: string[];
}

/** `latchkey api update`: what changes; anything absent stays as it is. */
export interface ApiUpdate {
  audience: string;
  name?: string;
  /** new scopes to add (existing ones are never removed or renamed here: clients and grants name them) */
  addScopes?: Array<{ name: string; access: ScopeAccess; description?: string }>;
  /** the complete set of machine scopes from now on ([] = no machine access) */
  machineScopes?: string[];
  accessTokenTtl?: number;
}

const SCOPE_NAME = /^[A-Za-z0-9][A-Za-z0-9:._\-/]{0,99}$/;
const RESERVED_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access', 'address', 'phone']);

/** The audience is the resource indicator clients send (RFC 8707): an absolute URI without a fragment. */
export function audienceProblem(audience: string): string | undefined {
  const url = URL.parse(audience);
  if (!url) return 'audience must be an absolute URI (e.g. https://api.example.com/notes)';
  if (url.hash || audience.includes('#')) return 'audience must not contain a fragment';
  if (audience.length > 255) return 'audience must be at most 255 characters';
  return undefined;
}

/**
 * Registers an API and its scopes, plus the API's own introspection client (its secret is
 * returned here once, like a client secret).
 */
function checkName(raw: string): string {
  const name = raw.trim();
  if (!name || name.length > 100) throw new InputError('name must be 1 to 100 characters');
  return name;
}

function checkNewScopes(scopes: NewApi['scopes']): Set<string> {
  const seen = new Set<string>();
  for (const scope of scopes) {
    if (!SCOPE_NAME.test(scope.name)) throw new InputError(`scope "${scope.name}" may use letters, digits and : . _ - / only`);
    if (RESERVED_SCOPES.has(scope.name)) throw new InputError(`scope "${scope.name}" is reserved for OpenID Connect`);
    if (seen.has(scope.name)) throw new InputError(`scope "${scope.name}" is listed twice`);
    seen.add(scope.name);
  }
  return seen;
}

function checkTtl(ttl: number): number {
  if (!Number.isInteger(ttl) || ttl < 30 || ttl > 86400) throw new InputError('access token lifetime must be 30 to 86400 seconds');
  return ttl;
}

/** Machine scopes must be scopes of the API itself: a typo must not pass silently. */
function checkMachineScopes(machineScopes: string[], apiScopes: Set<string>): Set<string> {
  const unknown = machineScopes.filter((name) => !apiScopes.has(name));
  if (unknown.length) throw new InputError(`--machine-scope names a scope this API does not have: ${unknown.join(', ')}`);
  return new Set(machineScopes);
}

async function assertScopeNamesFree(services: Pick<Services, 'db'>, names: Set<string>) {
  const taken = await services.db.prisma.apiScope.findMany({ where: { name: { in: [...names] } }, select: { name: true } });
  if (taken.length) throw new InputError(`scope names must be unique across APIs; already used: ${taken.map((t) => t.name).join(', ')}`);
}

export async function createApi(
  services: Pick<Services, 'db' | 'config' | 'encryptor' | 'events'>,
  validate: ValidateClientMetadata,
  input: NewApi,
): Promise<{ id: string; audience: string; machine_scopes: string[]; introspection_client_id: string; introspection_client_secret: string }> {
  const name = checkName(input.name);
  const problem = audienceProblem(input.audience);
  if (problem) throw new InputError(problem);
  if (!input.scopes.length) throw new InputError('an API needs at least one scope (--scope <name>=read|write)');
  const seen = checkNewScopes(input.scopes);
  const machine = checkMachineScopes(input.machineScopes ?? [], seen);
  const ttl = checkTtl(input.accessTokenTtl ?? services.config.ttl.accessToken);

  const { db } = services;
  if (await db.prisma.api.findUnique({ where: { audience: input.audience } })) {
    throw new InputError(`an API with audience ${input.audience} already exists`);
  }
  await assertScopeNamesFree(services, seen);

  const id = randomUUID();
  await insertApi(
    db.prisma,
    { id, name, audience: input.audience, tokenFormat: input.tokenFormat ?? 'jwt', accessTokenTtl: ttl },
    input.scopes.map((s) => ({ id: randomUUID(), name: s.name, access: s.access, description: s.description ?? '', machine: machine.has(s.name) })),
  );
  const credentials = await createIntrospectionClient(services, validate, { name, audience: input.audience });
  await db.notifyChange('apis');
  if (machine.size) services.events.emit({ type: 'api.machine_scopes_changed', actor: 'cli', details: { audience: input.audience, machineScopes: [...machine] } });
  return { id, audience: input.audience, machine_scopes: [...machine], ...credentials };
}

/**
 * Changes an API: its name, access-token lifetime, new scopes, and which scopes machines
 * (client_credentials) may get. Tokens already issued keep their scopes until they expire.
 */
export async function updateApi(services: Pick<Services, 'db' | 'events'>, input: ApiUpdate) {
  const { db } = services;
  const row = await db.prisma.api.findUnique({ where: { audience: input.audience }, include: { scopes: true } });
  if (!row) throw new NotFoundError(`no API with audience ${input.audience}`);
  const name = input.name === undefined ? undefined : checkName(input.name);
  const ttl = input.accessTokenTtl === undefined ? undefined : checkTtl(input.accessTokenTtl);
  const added = checkNewScopes(input.addScopes ?? []);
  if (added.size) await assertScopeNamesFree(services, added);
  const allScopes = new Set([...row.scopes.map((s) => s.name), ...added]);
  const machine = input.machineScopes === undefined ? undefined : checkMachineScopes(input.machineScopes, allScopes);

  const addScopes = added.size
    ? (input.addScopes ?? []).map((s) => ({ id: randomUUID(), name: s.name, access: s.access, description: s.description ?? '', machine: machine?.has(s.name) ?? false }))
    : [];
  await db.prisma.$transaction([
    updateApiRow(db.prisma, row.id, { ...(name !== undefined ? { name } : {}), ...(ttl !== undefined ? { accessTokenTtl: ttl } : {}) }, addScopes),
    ...(machine ? row.scopes.map((s) => setScopeMachine(db.prisma, s.id, machine.has(s.name))) : []),
  ]);
  await db.notifyChange('apis');
  const scopes = await db.prisma.apiScope.findMany({ where: { apiId: row.id }, orderBy: { name: 'asc' } });
  const machineScopes = scopes.filter((s) => s.machine).map((s) => s.name);
  if (machine) services.events.emit({ type: 'api.machine_scopes_changed', actor: 'cli', details: { audience: row.audience, machineScopes } });
  return { id: row.id, audience: row.audience, scopes: scopes.map((s) => s.name), machine_scopes: machineScopes };
}

export async function listApis(services: Pick<Services, 'apis'>) {
  return services.apis.all();
}
