import { randomBytes } from 'node:crypto';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { secretContext } from './client-store.ts';
import { redirectUriProblem } from './redirect-uri-rules.ts';

export const CLIENT_TYPES = ['web', 'spa', 'native', 'service'] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];

/** Scopes oidc-provider itself understands; everything else in a client's scope string is an API scope. */
export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

/** oidc-provider's own client-metadata validation (src/oidc/client-validation.ts), injected so this file stays provider-free. */
export type ValidateClientMetadata = (metadata: Record<string, unknown>) => Promise<Record<string, unknown>>;

export interface NewClient {
  name: string;
  type: ClientType;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  scope: string;
  ownerId?: string;
}

/** The metadata each app type gets: OAuth 2.1 — code + PKCE for every interactive app, no implicit. */
export function metadataForType(type: ClientType): Record<string, unknown> {
  switch (type) {
    case 'web':
      return { application_type: 'web', token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
    case 'spa':
      return { application_type: 'web', token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
    case 'native':
      return { application_type: 'native', token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
    case 'service':
      return { application_type: 'web', token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };
  }
}

export async function createClient(
  services: Pick<Services, 'db'|'encryptor'>,
  validate: ValidateClientMetadata,
  input: NewClient,
): Promise<{ client_id: string; client_secret?: string }> {
  const name = input.name.trim();
  if (!name || name.length > 100) throw new InputError('name must be 1 to 100 characters');
  if (!CLIENT_TYPES.includes(input.type)) throw new InputError(`type must be one of ${CLIENT_TYPES.join(', ')}`);

  const requested = [...new Set(input.scope.split(/\s+/).filter(Boolean))];
  const oidcScopes = requested.filter((s) => OIDC_SCOPES.has(s));
  const apiScopeNames = requested.filter((s) => !OIDC_SCOPES.has(s));
  const apiScopes = await services.db.prisma.apiScope.findMany({ where: { name: { in: apiScopeNames } } });
  const unknown = apiScopeNames.filter((n) => !apiScopes.some((s) => s.name === n));
  if (unknown.length) throw new InputError(`unknown scope(s): ${unknown.join(', ')} — register them with "latchkey api create" first`);

  const redirectUris = input.redirectUris ?? [];
  const interactive = input.type !== 'service';
  if (interactive && redirectUris.length === 0) throw new InputError('web, spa and native apps need at least one --redirect-uri');
  if (!interactive && redirectUris.length) throw new InputError('service clients use client_credentials only and take no redirect URI');
  const kind = input.type === 'native' ? 'native' : 'web';
  for (const uri of [...redirectUris, ...(input.postLogoutRedirectUris ?? [])]) {
    const problem = redirectUriProblem(uri, kind);
    if (problem) throw new InputError(problem);
  }
  if (input.type === 'service' && oidcScopes.length) throw new InputError('service clients act for themselves and cannot ask for OpenID scopes');

  const clientId = randomBytes(16).toString('base64url');
  const base = metadataForType(input.type);
  const needsSecret = base.token_endpoint_auth_method !== 'none';
  const secret = needsSecret ? randomBytes(32).toString('base64url') : undefined;
  const candidate: Record<string, unknown> = {
    ...base,
    client_id: clientId,
    client_name: name,
    ...(interactive ? { redirect_uris: redirectUris } : {}),
    ...(input.postLogoutRedirectUris?.length ? { post_logout_redirect_uris: input.postLogoutRedirectUris } : {}),
    ...(oidcScopes.length ? { scope: oidcScopes.join(' ') } : {}),
    ...(secret ? { client_secret: secret } : {}),
  };
  const { client_secret: _validatedSecret, ...metadata } = await validate(candidate);

  await services.db.prisma.client.create({
    data: {
      id: clientId,
      name,
      type: input.type,
      ownerId: input.ownerId ?? null,
      metadata: metadata as object,
      secretEncrypted: secret ? services.encryptor.encrypt(secret, secretContext(clientId)) : null,
      scopes: { create: apiScopes.map((s) => ({ scopeId: s.id })) },
    },
  });
  await services.db.notifyChange(`client:${clientId}`);
  return secret ? { client_id: clientId, client_secret: secret } : { client_id: clientId };
}
