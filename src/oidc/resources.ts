import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { ApiInfo, ApiStore } from '../apis/api-store.ts';
import type { ClientStore, StoredClient } from '../clients/client-store.ts';
import { grantableMachineScopes } from '../clients/machine-access.ts';

/** By the grant type alone (only the token endpoint takes one), so no route naming can route a machine request past the machine rules. */
const isClientCredentialsRequest = (ctx: KoaContextWithOIDC) => ctx.oidc.params?.grant_type === 'client_credentials';
/** A requested scope as quoted back in an error: bounded, since it is the caller's input. */
const shown = (scope: string) => (scope.length > 100 ? `${scope.slice(0, 100)}…` : scope);
const requestedScopes = (ctx: KoaContextWithOIDC) => String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);

/**
 * client_credentials: no user consents, so only machine access counts (src/clients/machine-access.ts):
 * scopes the API offers to machines, the client asks for and an operator approved. A requested
 * scope outside that set is refused with invalid_scope (RFC 6749 §5.2) rather than silently
 * dropped, so a pending approval or a scope the API keeps for users reads as what it is.
 */
function machineScopesFor(api: ApiInfo, client: StoredClient | undefined, requested: string[]): string[] {
  const grantable = client ? grantableMachineScopes(api, client) : [];
  const refused = requested.filter((scope) => !grantable.includes(scope));
  if (refused.length) throw new errors.InvalidScope(machineRefusal(api, client, refused[0]!), refused.join(' '));
  if (!grantable.length) throw new errors.InvalidScope(`this client has no approved machine access to ${api.audience}`, '');
  return grantable;
}

function machineRefusal(api: ApiInfo, client: StoredClient | undefined, scope: string): string {
  const offered = api.scopes.find((s) => s.name === scope);
  if (!offered) return `scope ${shown(scope)} is not a scope of ${api.audience}`;
  if (!offered.machine) return `${api.audience} does not offer scope ${scope} to client_credentials (machine) tokens`;
  if (!client?.allowedScopes.has(scope)) return `this client is not registered for scope ${scope}`;
  return `machine access to scope ${scope} is awaiting an operator's approval`;
}

/**
 * Resource indicators (RFC 8707): every registered API is a resource server. A client gets
 * only the scopes it was assigned (oidc-provider's client `scope` cannot express API scopes,
 * so the allow-list is enforced here). Access tokens are audience-bound ES256 JWTs (RFC 9068)
 * unless the API chose opaque tokens.
 */
export function resourceServerInfo(apis: ApiStore, clients: ClientStore) {
  return async (ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string }): Promise<ResourceServer> => {
    const api = await apis.byAudience(indicator);
    if (!api) throw new errors.InvalidTarget('unknown resource indicator');
    const stored = await clients.find(client.clientId);
    const scopes = isClientCredentialsRequest(ctx)
      ? machineScopesFor(api, stored, requestedScopes(ctx))
      : api.scopes.filter((s) => stored?.allowedScopes.has(s.name)).map((s) => s.name);
    if (!scopes.length) throw new errors.InvalidTarget('this client may not access the requested resource');
    return {
      scope: scopes.join(' '),
      audience: api.audience,
      accessTokenTTL: api.accessTokenTtl,
      accessTokenFormat: api.tokenFormat,
      ...(api.tokenFormat === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
    };
  };
}

/**
 * When a request names no `resource`, infer it from the API scopes asked for, so API scopes
 * are never silently dropped (oidc-provider would strip them and issue a userinfo-only token).
 * At the token endpoint with several granted resources (`oneOf`), pick the one the requested
 * scopes point at, else the first.
 */
export function defaultResourceFor(apis: ApiStore, clients: ClientStore) {
  return async (ctx: KoaContextWithOIDC, client: { clientId: string }, oneOf?: string[]): Promise<string | string[] | undefined> => {
    const requested = requestedScopes(ctx);
    const allowed = (await clients.find(client.clientId))?.allowedScopes ?? new Set<string>();
    if (isClientCredentialsRequest(ctx) && !oneOf) return machineResourceFor(apis, requested, allowed);
    const audiences = new Set<string>();
    for (const scope of requested) {
      if (!allowed.has(scope)) continue;
      const api = await apis.byScope(scope);
      if (api) audiences.add(api.audience);
    }
    if (oneOf) return oneOf.find((a) => audiences.has(a)) ?? oneOf[0];
    if (audiences.size === 0) return undefined;
    return audiences.size === 1 ? [...audiences][0] : [...audiences];
  };
}

/**
 * client_credentials names exactly one API: the one its requested scopes belong to, or with no
 * scope, the client's only API. Requested scopes never end up in a token without an audience:
 * they are refused here; whether the client may have them is resourceServerInfo's decision.
 */
async function machineResourceFor(apis: ApiStore, requested: string[], allowed: ReadonlySet<string>): Promise<string | undefined> {
  const audiences = new Set<string>();
  for (const scope of requested) {
    const api = await apis.byScope(scope);
    if (!api) throw new errors.InvalidScope(`unknown scope ${shown(scope)}`, scope);
    audiences.add(api.audience);
  }
  if (!requested.length) {
    for (const scope of allowed) {
      const api = await apis.byScope(scope);
      if (api) audiences.add(api.audience);
    }
  }
  if (audiences.size === 1) return [...audiences][0]!;
  if (requested.length) throw new errors.InvalidScope('a client_credentials token is for one API: ask for scopes of one API, or name it with resource', requested.join(' '));
  // Nothing asked for and no single API: a token for no API and with no scope, which no API accepts.
  return undefined;
}

/**
 * A token request that names no `resource` gets a token for the API it was granted — unless it
 * narrows the scope (`scope` on a refresh) to OpenID scopes only: then it asks for a token for
 * userinfo, which an API's token cannot be used at (audience-bound). So an app that signs users
 * in gets its API tokens and a userinfo token from one grant (docs/register-your-app.md).
 */
export function useGrantedResourceFor(apis: ApiStore) {
  return async (ctx: KoaContextWithOIDC): Promise<boolean> => {
    if (ctx.oidc.params?.scope === undefined) return true;
    for (const scope of requestedScopes(ctx)) if (await apis.byScope(scope)) return true;
    return false;
  };
}
