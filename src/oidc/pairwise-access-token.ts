import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ClientStore } from '../clients/client-store.ts';
import { RESOURCE_SERVER_AUDIENCE_KEY } from '../apis/introspection-client.ts';
import { PROVIDER_PATHS } from './provider-routes.ts';

/**
 * Access tokens of apps with pairwise subjects (src/oidc/pairwise-subject.ts).
 *
 * The app can read a JWT access token, so its `sub` must not be a subject another app also
 * sees: oidc-provider puts the app's own pairwise subject there (the one its ID tokens carry,
 * so the token tells the app nothing new). The API still has to know the user: the token says
 * `subject_type: "pairwise"`, and the API asks token introspection once per (app, subject) —
 * introspection tells the API, and only the API the token was issued for, the account id
 * (src/oidc/jwt-introspection-answer.ts; opaque tokens below). The resource-server kit does
 * this and caches the answer (src/resource-server/pairwise-subject.ts).
 */
export const SUBJECT_TYPE_CLAIM = 'subject_type';

type ExtraTokenClaims = (ctx: KoaContextWithOIDC, token: any) => Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined;

interface IssuedToken {
  kind: string;
  accountId?: string;
  client?: { subjectType?: string };
  resourceServer?: { accessTokenFormat?: string };
}

export const isPairwiseAccessToken = (claims: Record<string, unknown>) => claims[SUBJECT_TYPE_CLAIM] === 'pairwise';

/** extraTokenClaims: marks a user's JWT access token whose `sub` is the app's pairwise subject. */
export function withPairwiseMarker(base: ExtraTokenClaims) {
  return async (ctx: KoaContextWithOIDC, token: IssuedToken): Promise<Record<string, unknown> | undefined> => {
    const claims = await base(ctx, token);
    const client = token.client ?? (ctx.oidc?.client as { subjectType?: string } | undefined);
    if (token.kind !== 'AccessToken' || !token.accountId || token.resourceServer?.accessTokenFormat !== 'jwt' || client?.subjectType !== 'pairwise') return claims;
    return { ...claims, [SUBJECT_TYPE_CLAIM]: 'pairwise' };
  };
}

/**
 * provider.use(): in oidc-provider's answer to an API introspecting an opaque token of a
 * pairwise app, `sub` is that app's pairwise subject; the API is told the account id instead,
 * as for JWTs. The app introspecting its own token keeps its pairwise `sub`.
 */
export function apiIntrospectionSeesAccount(clients: ClientStore) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== PROVIDER_PATHS.introspection || ctx.status !== 200) return;
    const body = ctx.body as Record<string, unknown> | undefined;
    const token = ctx.oidc?.entities?.AccessToken as { accountId?: string; clientId?: string } | undefined;
    const caller = ctx.oidc?.client;
    if (!body || body.active !== true || !token?.accountId || !caller || caller.clientId === token.clientId || typeof body.sub !== 'string') return;
    const callerAudience = (await clients.find(caller.clientId))?.metadata[RESOURCE_SERVER_AUDIENCE_KEY];
    if (typeof callerAudience === 'string') body.sub = token.accountId;
  };
}
