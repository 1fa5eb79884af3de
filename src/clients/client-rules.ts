/**
 * Latchkey's client-metadata rules, applied on top of oidc-provider's own validation by every
 * path that creates or changes a client: the CLI, the developer portal and Dynamic Client
 * Registration (RFC 7591/7592). Pure functions: a problem names the OAuth error code DCR must
 * answer with, and a message a human can act on.
 */
import { randomBytes } from 'node:crypto';
import { redirectUriProblem, type RedirectUriKind } from './redirect-uri-rules.ts';

export const CLIENT_TYPES = ['web', 'spa', 'native', 'service'] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];

export interface RuleProblem {
  code: 'invalid_redirect_uri' | 'invalid_client_metadata';
  message: string;
}

export const LIMITS = {
  name: 100,
  description: 500,
  uri: 2000,
  redirectUris: 20,
  corsOrigins: 10,
  contacts: 5,
  string: 2000,
} as const;

/** Client-supplied links shown to users (never fetched by the server): https only. */
export const LINK_FIELDS = ['logo_uri', 'client_uri', 'policy_uri', 'tos_uri'] as const;

/**
 * Metadata that would make the server fetch client-supplied URLs (security rule 30) or that
 * Latchkey's OAuth 2.1 profile does not offer. Refused rather than silently dropped.
 */
const UNSUPPORTED_FIELDS = ['jwks_uri', 'sector_identifier_uri', 'request_uris', 'initiate_login_uri', 'backchannel_logout_uri', 'frontchannel_logout_uri'];

/**
 * Signed requests and sender-constrained tokens (docs/operating-securely.md): an inline public
 * `jwks` (for private_key_jwt and signed request objects), PAR and JAR requirements, DPoP; and
 * the ID-token signing algorithm. Accepted from DCR as oidc-provider validates them; the CLI
 * sets them with flags, and a portal edit keeps them.
 */
export const SIGNED_REQUEST_FIELDS = [
  'jwks',
  'token_endpoint_auth_signing_alg',
  'require_pushed_authorization_requests',
  'require_signed_request_object',
  'request_object_signing_alg',
  'dpop_bound_access_tokens',
  'id_token_signed_response_alg',
] as const;

/** Fields only Latchkey itself may set (security rule 28). */
export const SERVER_OWNED_PREFIX = 'latchkey_';

const ALLOWED_GRANT_TYPES = new Set(['authorization_code', 'refresh_token', 'client_credentials']);

/** The app type a set of metadata amounts to (for DCR, which speaks metadata, not types). */
export function clientTypeOf(md: Record<string, unknown>): ClientType {
  const grants = Array.isArray(md.grant_types) ? (md.grant_types as string[]) : ['authorization_code'];
  if (!grants.includes('authorization_code') && grants.includes('client_credentials')) return 'service';
  if (md.token_endpoint_auth_method === 'none') return md.application_type === 'native' ? 'native' : 'spa';
  return 'web';
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

export function originProblem(origin: string): string | undefined {
  if (origin.length > LIMITS.uri) return 'CORS origin is too long';
  const url = URL.parse(origin);
  if (!url || url.origin !== origin) return `"${origin}" is not an origin (scheme://host[:port], no path)`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)) return undefined;
  return `CORS origin "${origin}" must use https (http only for loopback)`;
}

export function linkProblem(field: string, value: unknown): string | undefined {
  if (typeof value !== 'string') return `${field} must be a string`;
  if (value.length > LIMITS.uri) return `${field} is longer than ${LIMITS.uri} characters`;
  const url = URL.parse(value);
  if (!url || url.protocol !== 'https:') return `${field} must be an https URL`;
  if (url.username || url.password) return `${field} must not contain credentials`;
  return undefined;
}

const metadataProblem = (message: string): RuleProblem => ({ code: 'invalid_client_metadata', message });

/**
 * Every rule Latchkey adds to oidc-provider's validation, on snake_case metadata as DCR
 * receives it (and as the CLI and portal build it). Returns the first problem, or undefined.
 */
export function clientMetadataProblem(md: Record<string, unknown>): RuleProblem | undefined {
  for (const [key, value] of Object.entries(md)) {
    if (key.startsWith(SERVER_OWNED_PREFIX)) return metadataProblem(`${key} is set by Latchkey and cannot be registered`);
    if (typeof value === 'string' && value.length > LIMITS.string) return metadataProblem(`${key} is longer than ${LIMITS.string} characters`);
  }
  for (const field of UNSUPPORTED_FIELDS) {
    if (md[field] !== undefined) return metadataProblem(`${field} is not supported by this server`);
  }
  if (md.subject_type !== undefined && md.subject_type !== subjectTypeFor(md, false)) {
    // An RFC 7592 update echoes what it read: "public" for an app without users is fine.
    return metadataProblem(
      subjectTypeFor(md, false) === 'pairwise'
        ? 'subject_type must be "pairwise": the public subject is only for apps an operator marks first-party'
        : 'subject_type must be "public" for an app without redirect URIs (it has no users)',
    );
  }
  if (md.client_name !== undefined) {
    if (typeof md.client_name !== 'string' || !md.client_name.trim() || md.client_name.length > LIMITS.name) {
      return metadataProblem(`client_name must be 1 to ${LIMITS.name} characters`);
    }
  }
  for (const field of LINK_FIELDS) {
    if (md[field] === undefined) continue;
    const problem = linkProblem(field, md[field]);
    if (problem) return metadataProblem(problem);
  }
  if (md.grant_types !== undefined) {
    if (!Array.isArray(md.grant_types)) return metadataProblem('grant_types must be an array');
    const bad = md.grant_types.find((g) => !ALLOWED_GRANT_TYPES.has(g as string));
    if (bad !== undefined) return metadataProblem(`grant type "${String(bad)}" is not offered (use authorization_code, refresh_token or client_credentials)`);
  }
  if (md.response_types !== undefined) {
    if (!Array.isArray(md.response_types) || md.response_types.some((r) => r !== 'code')) return metadataProblem('response_types may only contain "code"');
  }
  if (md.contacts !== undefined) {
    if (!Array.isArray(md.contacts) || md.contacts.length > LIMITS.contacts || md.contacts.some((c) => typeof c !== 'string' || c.length > 254)) {
      return metadataProblem(`contacts must be at most ${LIMITS.contacts} e-mail addresses`);
    }
  }

  const kind: RedirectUriKind = md.application_type === 'native' ? 'native' : 'web';
  const lists: Array<[string, RuleProblem['code']]> = [
    ['redirect_uris', 'invalid_redirect_uri'],
    ['post_logout_redirect_uris', 'invalid_client_metadata'],
  ];
  for (const [field, code] of lists) {
    const value = md[field];
    if (value === undefined) continue;
    if (!Array.isArray(value) || value.some((u) => typeof u !== 'string')) return { code, message: `${field} must be an array of URIs` };
    if (value.length > LIMITS.redirectUris) return { code, message: `at most ${LIMITS.redirectUris} ${field}` };
    for (const uri of value as string[]) {
      const problem = redirectUriProblem(uri, kind);
      if (problem) return { code, message: problem };
    }
  }

  const cors = md.allowed_cors_origins;
  if (cors !== undefined) {
    if (!Array.isArray(cors) || cors.length > LIMITS.corsOrigins || cors.some((o) => typeof o !== 'string')) {
      return metadataProblem(`allowed_cors_origins must be an array of at most ${LIMITS.corsOrigins} origins`);
    }
    if (cors.length && md.token_endpoint_auth_method !== 'none') return metadataProblem('allowed_cors_origins is for single-page apps (token_endpoint_auth_method "none")');
    for (const origin of cors as string[]) {
      const problem = originProblem(origin);
      if (problem) return metadataProblem(problem);
    }
  }
  return undefined;
}

/**
 * The subject type oidc-provider gives an app (OIDC Core §8): pairwise for every app that signs
 * users in, public (the account id) only for apps an operator marked first-party. Apps with no
 * redirect URI (service and resource-server clients) have no users, and no sector to compute
 * a pairwise subject for. Decided here, on every load, whatever the stored metadata says.
 */
export function subjectTypeFor(md: Record<string, unknown>, firstParty: boolean): 'public' | 'pairwise' {
  const signsUsersIn = Array.isArray(md.redirect_uris) && md.redirect_uris.length > 0;
  return signsUsersIn && !firstParty ? 'pairwise' : 'public';
}

/**
 * A stand-in sector_identifier_uri for a pairwise app whose redirect URIs name several hosts:
 * oidc-provider refuses such an app without one (OIDC Core §8.1). It is never fetched
 * (sectorIdentifierUriValidate is off; the server fetches no client-supplied URL) nor used:
 * the sector of such an app is its own client_id (src/oidc/pairwise-subject.ts).
 */
export const standInSectorUri = (clientId: string) => `https://sector.invalid/${encodeURIComponent(clientId)}`;

/** subject_type (and the stand-in sector URI where needed) for the metadata oidc-provider receives. */
export function subjectMetadataFor(md: Record<string, unknown>, firstParty: boolean): Record<string, unknown> {
  if (subjectTypeFor(md, firstParty) === 'public') return { subject_type: 'public' };
  const hosts = new Set((md.redirect_uris as unknown[]).map((uri) => (typeof uri === 'string' ? (URL.parse(uri)?.host ?? '') : '')));
  return { subject_type: 'pairwise', ...(hosts.size > 1 ? { sector_identifier_uri: standInSectorUri(String(md.client_id)) } : {}) };
}

/** Whether a client's metadata lets it use the client_credentials grant at all (machine access applies). */
export const usesClientCredentials = (metadata: Record<string, unknown>): boolean =>
  Array.isArray(metadata.grant_types) && metadata.grant_types.includes('client_credentials');

/**
 * The machine approvals (client_machine_scope) that survive a change of the app, whichever way it
 * changes (a portal edit, an RFC 7592 update): an operator approved scopes the app asked for, for
 * a client_credentials app. So a scope the app no longer asks for loses its approval, and every
 * scope does when the app stops using client_credentials; asking again waits for a new approval.
 * Kept, a dropped approval would show nowhere (`client show` lists neither approved nor pending
 * for a scope the app does not ask for, nor machine access at all for an app without the grant),
 * and come back unseen when the app asks again: a developer could drop a scope while an
 * operator reviews the app, then re-add it with the old approval. Returns the scope ids to keep.
 */
export function machineApprovalsKept(metadata: Record<string, unknown>, askedScopeIds: readonly string[]): readonly string[] {
  return usesClientCredentials(metadata) ? askedScopeIds : [];
}

/** Splits a scope string into the OpenID scopes oidc-provider knows and API scopes (enforced by Latchkey). */
export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

export function splitScope(scope: unknown): { oidc: string[]; api: string[] } {
  const requested = typeof scope === 'string' ? [...new Set(scope.split(/\s+/).filter(Boolean))] : [];
  return { oidc: requested.filter((s) => OIDC_SCOPES.has(s)), api: requested.filter((s) => !OIDC_SCOPES.has(s)) };
}

/** Parses a grace period such as `0`, `3600`, `90m`, `24h`, `7d` into seconds (at most 30 days). */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,7})([smhd]?)$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  return seconds;
}

/** A new client id: 128 random bits, base64url, never starting with '-' or '_' (it is typed on command lines). */
export function newClientId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}
