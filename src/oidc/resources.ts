import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { ApiStore } from '../apis/api-store.ts';
import type { ClientStore } from '../clients/client-store.ts';

/**
 * Resource indicators (RFC 8707): every registered API is a resource server. A client gets
 * only the scopes it was assigned (oidc-provider's client `scope` cannot express API scopes,
 * so the allow-list is enforced here). Access tokens are audience-bound ES256 JWTs (RFC 9068)
 * unless the API chose opaque tokens.
 */
export function resourceServerInfo(apis: ApiStore, clients: ClientStore) {
  return async (_ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string }): Promise<ResourceServer> => {
    const api = await apis.byAudience(indicator);
    if (!api) throw new errors.InvalidTarget('unknown resource indicator');
    const allowed = (await clients.find(client.clientId))?.allowedScopes ?? new Set<string>();
    const scopes = api.scopes.filter((s) => allowed.has(s.name)).map((s) => s.name);
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
    const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
    const allowed = (await clients.find(client.clientId))?.allowedScopes ?? new Set<string>();
    const audiences = new Set<string>();
    for (const scope of requested) {
      if (!allowed.has(scope)) continue;
      const api = await apis.byScope(scope);
      if (api) audiences.add(api.audience);
    }
    if (oneOf) return oneOf.find((a) => audiences.has(a)) ?? oneOf[0];
    if (audiences.size === 0) {
      // client_credentials without a scope: a machine client with exactly one API gets that API.
      if (ctx.oidc.params?.grant_type === 'client_credentials' && allowed.size) {
        const apisOfClient = new Set<string>();
        for (const scope of allowed) {
          const api = await apis.byScope(scope);
          if (api) apisOfClient.add(api.audience);
        }
        if (apisOfClient.size === 1) return [...apisOfClient][0];
      }
      return undefined;
    }
    return audiences.size === 1 ? [...audiences][0] : [...audiences];
  };
}
