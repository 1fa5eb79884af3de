import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { listClients, showClient, updateClient, type ClientSummary, type ValidateClientMetadata } from './client-registry.ts';
import { CLIENT_TYPES } from './client-rules.ts';

/**
 * An operator's edit of an app (`latchkey client update`, PATCH /admin/api/clients/:id, the
 * console): only the fields given change, and the result passes the same client rules and
 * oidc-provider validation as creation and the portal's edit (client-registry.ts updateClient).
 */
export interface ClientChange {
  name?: string;
  description?: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  corsOrigins?: string[];
  /** the complete scope string from now on: OpenID scopes and API scopes */
  scope?: string;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export async function updateClientAsOperator(
  services: Pick<Services, 'db' | 'encryptor' | 'config' | 'events' | 'apis'>,
  validate: ValidateClientMetadata,
  clientId: string,
  change: ClientChange,
  actor: string,
) {
  if (!Object.values(change).some((v) => v !== undefined)) throw new InputError('nothing to change: give a name, description, redirect URIs, post-logout redirect URIs, CORS origins or scope');
  const current = await showClient(services, clientId);
  if (!CLIENT_TYPES.includes(current.type as never)) throw new InputError('this client (an API\'s introspection client) is not edited here');
  const md = current.metadata;
  const currentScope = [...(text(md.scope)?.split(' ').filter(Boolean) ?? []), ...current.api_scopes].join(' ');
  await updateClient(services, validate, clientId, {
    name: change.name ?? current.name,
    description: change.description ?? current.description,
    redirectUris: change.redirectUris ?? strings(md.redirect_uris),
    postLogoutRedirectUris: change.postLogoutRedirectUris ?? strings(md.post_logout_redirect_uris),
    corsOrigins: change.corsOrigins ?? strings(md.allowed_cors_origins),
    logoUri: text(md.logo_uri),
    clientUri: text(md.client_uri),
    policyUri: text(md.policy_uri),
    tosUri: text(md.tos_uri),
    scope: change.scope ?? currentScope,
    actor,
  });
  return showClient(services, clientId);
}

/**
 * Apps for the operator's list: by status, and/or only service apps with machine access waiting
 * for an approval (scopes they ask for that their API offers to machines, not yet approved).
 */
export async function listClientsForOperator(
  services: Pick<Services, 'db' | 'apis'>,
  filter: { status?: ClientSummary['status']; machineAccessPending?: boolean } = {},
): Promise<ClientSummary[]> {
  const all = (await listClients(services)).filter((c) => !filter.status || c.status === filter.status);
  if (!filter.machineAccessPending) return all;
  const waiting = new Set<string>();
  for (const c of all.filter((c) => c.type === 'service')) {
    if ((await showClient(services, c.client_id)).machine_access?.some((m) => m.pending.length)) waiting.add(c.client_id);
  }
  return all.filter((c) => waiting.has(c.client_id));
}
