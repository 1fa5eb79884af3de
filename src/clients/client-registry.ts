import { randomBytes } from 'node:crypto';
import type { Services } from '../context.ts';
import { InputError, NotFoundError } from '../errors.ts';
import {
  CLIENT_TYPES,
  clientMetadataProblem,
  LIMITS,
  metadataForType,
  newClientId,
  OIDC_SCOPES,
  SIGNED_REQUEST_FIELDS,
  splitScope,
  usesClientCredentials,
  type ClientType,
} from './client-rules.ts';
import { saveClientChange } from './client-change.ts';
import { deleteClientRow, insertClient, updateClientRow } from './client-queries.ts';
import { previousSecretContext, secretContext } from './client-store.ts';
import { approveOperatorMachineScopes, machineAccessStatus, type MachineAccessStatus } from './machine-access.ts';
import { deleteEverythingOfClient } from '../storage/payload-queries.ts';

export { CLIENT_TYPES, metadataForType, OIDC_SCOPES, type ClientType };

/** oidc-provider's own client-metadata validation (src/oidc/client-validation.ts), injected so this file stays provider-free. */
export type ValidateClientMetadata = (metadata: Record<string, unknown>) => Promise<Record<string, unknown>>;

type RegistryServices = Pick<Services, 'db' | 'encryptor' | 'config' | 'events'>;

export interface NewClient {
  name: string;
  type: ClientType;
  description?: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  /** single-page apps: origins allowed to call the token endpoint from the browser */
  corsOrigins?: string[];
  logoUri?: string;
  clientUri?: string;
  policyUri?: string;
  tosUri?: string;
  scope: string;
  ownerId?: string;
  /** 'cli' (operators: approved at once), 'portal' (subject to CLIENT_APPROVAL) */
  createdVia?: 'cli' | 'portal';
  /** who acts: a user id or 'cli', for the security events */
  actor?: string;
  /** signed requests and sender-constrained tokens (CLI flags; docs/operating-securely.md) */
  security?: ClientSecurity;
  /** operators only (CLI --first-party): the app gets the public subject instead of a pairwise one */
  firstParty?: boolean;
}

export interface ClientSecurity {
  /** private_key_jwt client authentication with these public keys instead of a secret */
  jwks?: { keys: Array<Record<string, unknown>> };
  requirePar?: boolean;
  requireSignedRequestObject?: boolean;
  dpopBoundAccessTokens?: boolean;
  /** ID tokens signed with ES256 instead of the default RS256 (~0.1 ms instead of ~0.45 ms of CPU each) */
  idTokenSigningAlg?: 'RS256' | 'ES256';
}

function securityMetadata(type: ClientType, security: ClientSecurity | undefined): Record<string, unknown> {
  if (!security) return {};
  const interactive = type !== 'service';
  if (security.jwks && type !== 'web' && type !== 'service') throw new InputError('private_key_jwt is for web and service apps (single-page and native apps cannot keep a key)');
  if (!interactive && (security.requirePar || security.requireSignedRequestObject)) throw new InputError('service clients make no authorization requests; PAR and signed requests do not apply');
  if (!interactive && security.idTokenSigningAlg) throw new InputError('service clients get no ID tokens; --id-token-alg does not apply');
  return {
    ...(security.jwks ? { token_endpoint_auth_method: 'private_key_jwt', jwks: security.jwks } : {}),
    ...(security.requirePar ? { require_pushed_authorization_requests: true } : {}),
    ...(security.requireSignedRequestObject ? { require_signed_request_object: true } : {}),
    ...(security.dpopBoundAccessTokens ? { dpop_bound_access_tokens: true } : {}),
    ...(security.idTokenSigningAlg ? { id_token_signed_response_alg: security.idTokenSigningAlg } : {}),
  };
}

/** The API scopes of a scope string, checked against the registry. Unknown ones are refused. */
export async function resolveApiScopes(services: Pick<Services, 'db'>, names: string[]) {
  const apiScopes = names.length ? await services.db.prisma.apiScope.findMany({ where: { name: { in: names } } }) : [];
  const unknown = names.filter((n) => !apiScopes.some((s) => s.name === n));
  if (unknown.length) throw new InputError(`unknown scope(s): ${unknown.join(', ')} — an operator registers APIs with "latchkey api create"`);
  return apiScopes;
}

/** Builds and checks the snake_case metadata of an app, the same way for creation and edits. */
function buildMetadata(input: Omit<NewClient, 'ownerId' | 'createdVia' | 'actor'>, oidcScopes: string[]): Record<string, unknown> {
  const name = input.name.trim();
  if (!name || name.length > LIMITS.name) throw new InputError(`name must be 1 to ${LIMITS.name} characters`);
  if ((input.description ?? '').length > LIMITS.description) throw new InputError(`description must be at most ${LIMITS.description} characters`);
  if (!CLIENT_TYPES.includes(input.type)) throw new InputError(`type must be one of ${CLIENT_TYPES.join(', ')}`);
  const redirectUris = input.redirectUris ?? [];
  const interactive = input.type !== 'service';
  if (interactive && redirectUris.length === 0) throw new InputError('web, spa and native apps need at least one redirect URI');
  if (!interactive && redirectUris.length) throw new InputError('service clients use client_credentials only and take no redirect URI');
  if (!interactive && oidcScopes.length) throw new InputError('service clients act for themselves and cannot ask for OpenID scopes');
  if (input.corsOrigins?.length && input.type !== 'spa') throw new InputError('CORS origins are only for single-page apps');
  const links: Record<string, string | undefined> = { logo_uri: input.logoUri, client_uri: input.clientUri, policy_uri: input.policyUri, tos_uri: input.tosUri };
  const metadata: Record<string, unknown> = {
    ...metadataForType(input.type),
    client_name: name,
    ...(interactive ? { redirect_uris: redirectUris } : {}),
    ...(input.postLogoutRedirectUris?.length ? { post_logout_redirect_uris: input.postLogoutRedirectUris } : {}),
    ...(input.corsOrigins?.length ? { allowed_cors_origins: input.corsOrigins } : {}),
    ...(oidcScopes.length ? { scope: oidcScopes.join(' ') } : {}),
    ...Object.fromEntries(Object.entries(links).filter(([, v]) => v)),
    ...securityMetadata(input.type, input.security),
  };
  const problem = clientMetadataProblem(metadata);
  if (problem) throw new InputError(problem.message);
  return metadata;
}

export async function createClient(
  services: RegistryServices,
  validate: ValidateClientMetadata,
  input: NewClient,
): Promise<{ client_id: string; client_secret?: string; approval_pending?: boolean }> {
  const { oidc, api } = splitScope(input.scope);
  const candidate = buildMetadata(input, oidc);
  const apiScopes = await resolveApiScopes(services, api);

  const clientId = newClientId();
  const needsSecret = candidate.token_endpoint_auth_method !== 'none' && candidate.token_endpoint_auth_method !== 'private_key_jwt';
  const secret = needsSecret ? randomBytes(32).toString('base64url') : undefined;
  const { client_secret: _validatedSecret, ...metadata } = await validate({ ...candidate, client_id: clientId, ...(secret ? { client_secret: secret } : {}) });
  const createdVia = input.createdVia ?? 'cli';
  if (input.firstParty && createdVia !== 'cli') throw new InputError('only an operator can mark an app first-party');
  if (input.firstParty && input.type === 'service') throw new InputError('service apps have no users: --first-party does not apply');
  const approvalPending = createdVia !== 'cli' && services.config.clientApproval === 'manual';

  await insertClient(
    services.db.prisma,
    {
      id: clientId,
      name: candidate.client_name as string,
      type: input.type,
      description: input.description?.trim() ?? '',
      ownerId: input.ownerId ?? null,
      createdVia,
      approvalPending,
      firstParty: Boolean(input.firstParty),
      metadata,
      secretEncrypted: secret ? services.encryptor.encrypt(secret, secretContext(clientId)) : null,
    },
    apiScopes.map((s) => s.id),
  );
  const machineApproved = createdVia === 'cli' && usesClientCredentials(metadata) ? apiScopes.filter((s) => s.machine).map((s) => s.name).sort() : [];
  if (machineApproved.length) await approveOperatorMachineScopes(services, clientId, apiScopes);
  await services.db.notifyChange(`client:${clientId}`);
  if (machineApproved.length) {
    services.events.emit({ type: 'client.machine_access_approved', actor: input.actor ?? 'cli', clientId, details: { scopes: machineApproved, via: 'create' } });
  }
  services.events.emit({
    type: 'client.created',
    actor: input.actor ?? 'cli',
    clientId,
    userId: input.ownerId,
    details: { type: input.type, via: createdVia, approvalPending, ...(input.firstParty ? { firstParty: true } : {}) },
  });
  return { client_id: clientId, ...(secret ? { client_secret: secret } : {}), ...(approvalPending ? { approval_pending: true } : {}) };
}

/** Edits an app (portal): everything but its type, id and secret, through the same checks as creation. */
export async function updateClient(
  services: RegistryServices,
  validate: ValidateClientMetadata,
  clientId: string,
  input: Omit<NewClient, 'type' | 'ownerId' | 'createdVia'>,
): Promise<void> {
  const row = await services.db.prisma.client.findUnique({ where: { id: clientId } });
  if (!row) throw new NotFoundError('no such client');
  const type = row.type as ClientType;
  if (!CLIENT_TYPES.includes(type)) throw new InputError('this client cannot be edited here');
  const { oidc, api } = splitScope(input.scope);
  const candidate = buildMetadata({ ...input, type }, oidc);
  const apiScopes = await resolveApiScopes(services, api);
  const previous = row.metadata as Record<string, unknown>;
  // An edit keeps the app's keys, private_key_jwt, PAR/JAR/DPoP and ID-token settings (set by the CLI or DCR).
  const kept = Object.fromEntries(SIGNED_REQUEST_FIELDS.filter((f) => previous[f] !== undefined).map((f) => [f, previous[f]]));
  if (previous.token_endpoint_auth_method === 'private_key_jwt') kept.token_endpoint_auth_method = 'private_key_jwt';
  const { client_secret: _s, ...metadata } = await validate({
    ...candidate,
    ...kept,
    client_id: clientId,
    ...(previous.client_id_issued_at !== undefined ? { client_id_issued_at: previous.client_id_issued_at } : {}),
    ...(row.secretEncrypted ? { client_secret: 'unchanged' } : {}),
  });
  await saveClientChange(services, clientId, { name: candidate.client_name as string, description: input.description?.trim() ?? '' }, {
    metadata,
    askedScopeIds: apiScopes.map((s) => s.id),
    replaceScopes: true,
    actor: input.actor ?? 'cli',
    via: 'edit',
  });
  await services.db.notifyChange(`client:${clientId}`);
  services.events.emit({ type: 'client.updated', actor: input.actor ?? 'cli', clientId });
}

export interface ClientSummary {
  client_id: string;
  name: string;
  type: string;
  owner: string | null;
  created_via: string;
  status: 'active' | 'suspended' | 'pending_approval';
  suspended: boolean;
  created_at: string;
}

const summary = (c: {
  id: string;
  name: string;
  type: string;
  createdVia: string;
  suspendedAt: Date | null;
  approvalPending: boolean;
  createdAt: Date;
  owner: { email: string } | null;
}): ClientSummary => ({
  client_id: c.id,
  name: c.name,
  type: c.type,
  owner: c.owner?.email ?? null,
  created_via: c.createdVia,
  status: c.suspendedAt ? 'suspended' : c.approvalPending ? 'pending_approval' : 'active',
  suspended: c.suspendedAt !== null,
  created_at: c.createdAt.toISOString(),
});

export async function listClients(services: Pick<Services, 'db'>, filter: { ownerId?: string } = {}): Promise<ClientSummary[]> {
  const rows = await services.db.prisma.client.findMany({
    where: filter.ownerId ? { ownerId: filter.ownerId } : {},
    orderBy: { createdAt: 'asc' },
    include: { owner: { select: { email: true } } },
  });
  return rows.map(summary);
}

export interface ClientDetails extends ClientSummary {
  description: string;
  owner_id: string | null;
  metadata: Record<string, unknown>;
  api_scopes: string[];
  /** client_credentials clients: per API, the machine scopes approved, pending an operator's approval, or not offered */
  machine_access?: MachineAccessStatus[];
  has_secret: boolean;
  /** public subject (account id) instead of pairwise subjects */
  first_party: boolean;
  previous_secret_valid_until: string | null;
  suspended_at: string | null;
}

/** The developer portal's question: is this app the user's own? (An unknown id and another's app look alike.) */
export async function isOwnedBy(services: Pick<Services, 'db'>, clientId: string, userId: string): Promise<boolean> {
  if (clientId.length > 200) return false;
  return (await services.db.prisma.client.count({ where: { id: clientId, ownerId: userId } })) > 0;
}

export async function showClient(services: Pick<Services, 'db' | 'apis'>, clientId: string): Promise<ClientDetails> {
  const row = await services.db.prisma.client.findUnique({
    where: { id: clientId },
    include: { owner: { select: { email: true } }, scopes: { include: { scope: true } }, machineScopes: { include: { scope: true } } },
  });
  if (!row) throw new NotFoundError(`no client with id ${clientId}`);
  const previousValid = row.previousSecretExpiresAt && row.previousSecretExpiresAt > new Date() ? row.previousSecretExpiresAt.toISOString() : null;
  return {
    ...summary(row),
    description: row.description,
    owner_id: row.ownerId,
    metadata: row.metadata as Record<string, unknown>,
    api_scopes: row.scopes.map((s) => s.scope.name).sort(),
    ...(usesClientCredentials(row.metadata as Record<string, unknown>)
      ? {
          machine_access: machineAccessStatus(await services.apis.all(), {
            allowedScopes: new Set(row.scopes.map((s) => s.scope.name)),
            approvedMachineScopes: new Set(row.machineScopes.map((s) => s.scope.name)),
          }),
        }
      : {}),
    has_secret: row.secretEncrypted !== null,
    first_party: row.firstParty,
    previous_secret_valid_until: previousValid,
    suspended_at: row.suspendedAt?.toISOString() ?? null,
  };
}

async function existing(services: Pick<Services, 'db'>, clientId: string) {
  const row = await services.db.prisma.client.findUnique({ where: { id: clientId }, select: { id: true, suspendedAt: true, approvalPending: true } });
  if (!row) throw new NotFoundError(`no client with id ${clientId}`);
  return row;
}

/**
 * A suspended client is not found by oidc-provider (src/storage/oidc-adapter.ts): no tokens,
 * no refresh, no authorization requests; its opaque tokens introspect inactive. Its grants are
 * kept, so unsuspending restores it.
 */
export async function setSuspended(services: RegistryServices, clientId: string, suspended: boolean, actor = 'cli') {
  await existing(services, clientId);
  await updateClientRow(services.db.prisma, clientId, { suspendedAt: suspended ? new Date() : null });
  await services.db.notifyChange(`client:${clientId}`);
  services.events.emit({ type: suspended ? 'client.suspended' : 'client.unsuspended', actor, clientId });
  return { client_id: clientId, status: suspended ? 'suspended' : 'active' };
}

/**
 * Marks an operator's app first-party (it gets the account id as `sub`) or third-party (a
 * pairwise subject of its own). Every `sub` the app sees changes with it, so this is for an
 * app's start, or to keep an app registered before pairwise subjects on the account id. Apps
 * registered in the portal or through DCR are never first-party; apps without users cannot be.
 */
export async function setFirstParty(services: RegistryServices, clientId: string, firstParty: boolean, actor = 'cli') {
  const row = await services.db.prisma.client.findUnique({ where: { id: clientId }, select: { createdVia: true, type: true } });
  if (!row) throw new NotFoundError(`no client with id ${clientId}`);
  if (firstParty && row.createdVia !== 'cli') throw new InputError('apps registered in the developer portal or through DCR cannot be first-party');
  if (firstParty && !['web', 'spa', 'native'].includes(row.type)) throw new InputError('this app has no users: first-party does not apply');
  await updateClientRow(services.db.prisma, clientId, { firstParty });
  await services.db.notifyChange(`client:${clientId}`);
  services.events.emit({ type: 'client.updated', actor, clientId, details: { firstParty } });
  return { client_id: clientId, first_party: firstParty };
}

export async function approveClient(services: RegistryServices, clientId: string, actor = 'cli') {
  await existing(services, clientId);
  await updateClientRow(services.db.prisma, clientId, { approvalPending: false });
  await services.db.notifyChange(`client:${clientId}`);
  services.events.emit({ type: 'client.approved', actor, clientId });
  return { client_id: clientId, approved: true };
}

/** Deletes a client and everything issued to it: grants, codes, refresh and opaque access tokens, registration access tokens. */
export async function deleteClient(services: RegistryServices, clientId: string, actor = 'cli') {
  await existing(services, clientId);
  const revoked = await deleteEverythingOfClient(services.db.sql, clientId);
  await deleteClientRow(services.db.prisma, clientId);
  await services.db.notifyChange(`client:${clientId}`);
  services.events.emit({ type: 'client.deleted', actor, clientId, details: { revoked } });
  return { client_id: clientId, deleted: true, revoked };
}

/**
 * New secret, shown once. With a grace period the previous secret keeps working until then
 * (checked in Client.prototype.compareClientSecret, src/clients/secret-rotation-grace.ts), so a
 * deployment can roll over without downtime.
 */
export async function rotateSecret(services: RegistryServices, clientId: string, graceSeconds: number, actor = 'cli') {
  const row = await services.db.prisma.client.findUnique({ where: { id: clientId } });
  if (!row) throw new NotFoundError(`no client with id ${clientId}`);
  if (!row.secretEncrypted) throw new InputError('this app is public (single-page or native) and has no secret');
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 30 * 86400) throw new InputError('the grace period must be between 0 and 30 days');
  const secret = randomBytes(32).toString('base64url');
  const graceUntil = graceSeconds > 0 ? new Date(Date.now() + graceSeconds * 1000) : null;
  await updateClientRow(services.db.prisma, clientId, {
    secretEncrypted: services.encryptor.encrypt(secret, secretContext(clientId)),
    previousSecretEncrypted: graceUntil
      ? services.encryptor.encrypt(services.encryptor.decrypt(row.secretEncrypted, secretContext(clientId)), previousSecretContext(clientId))
      : null,
    previousSecretExpiresAt: graceUntil,
  });
  await services.db.notifyChange(`client:${clientId}`);
  services.events.emit({ type: 'client.secret_rotated', actor, clientId, details: { graceSeconds } });
  return { client_id: clientId, client_secret: secret, previous_secret_valid_until: graceUntil?.toISOString() ?? null };
}

/** Recent token issuance (per day, from src/clients/usage.ts) and how many users have consented. */
export async function clientStats(services: Pick<Services, 'db'>, clientId: string, days = 30) {
  const since = new Date(Date.now() - days * 86400_000);
  const usage = await services.db.prisma.clientUsage.findMany({ where: { clientId, day: { gte: since } }, orderBy: { day: 'desc' } });
  const { rows } = await services.db.sql.query<{ grants: number | string; users: number | string }>(
    `SELECT count(*) AS grants, count(DISTINCT account_id) AS users FROM oidc_payload
     WHERE model = 'Grant' AND client_id = $1 AND (expires_at IS NULL OR expires_at > now())`,
    [clientId],
  );
  return {
    tokensIssued: usage.reduce((n, u) => n + u.tokensIssued, 0),
    days: usage.map((u) => ({ day: u.day.toISOString().slice(0, 10), tokensIssued: u.tokensIssued })),
    consents: Number(rows[0]?.grants ?? 0),
    consentedUsers: Number(rows[0]?.users ?? 0),
  };
}
