import type { KoaContextWithOIDC } from 'oidc-provider';
import type { SqlClient } from '../storage/sql.ts';
import { positionFor, statusListPath, type StatusPosition } from './token-status.ts';

/** The parts of an oidc-provider AccessToken / ClientCredentials model this needs. */
interface IssuedToken {
  kind: string;
  clientId?: string;
  accountId?: string;
  grantId?: string;
  exp?: number;
  expiration?: number;
  resourceServer?: { accessTokenFormat?: string };
}

/**
 * For oidc-provider's extraTokenClaims: JWT access tokens get the referenced-token claim of
 * draft-ietf-oauth-status-list, `status: { status_list: { idx, uri } }`, naming the position of
 * their grant (or, for client_credentials, of their client). Opaque tokens get nothing: they
 * are introspected, and revoking a grant deletes them.
 */
/**
 * Positions already written, per reference, with the validity stored for them. The hot path
 * (client_credentials, refresh) then needs no database write for most tokens: a position is
 * written with an hour of headroom and only touched again when a token outlives it.
 */
export type PositionCache = Map<string, { position: StatusPosition; validUntil: number }>;
const HEADROOM_SECONDS = 3600;
const MAX_CACHED_POSITIONS = 50_000;

export async function statusClaimFor(
  sql: SqlClient,
  issuer: string,
  _ctx: KoaContextWithOIDC,
  token: IssuedToken,
  cache: PositionCache = new Map(),
): Promise<Record<string, unknown> | undefined> {
  if (token.resourceServer?.accessTokenFormat !== 'jwt' || !token.clientId) return undefined;
  let reference: string;
  if (token.kind === 'AccessToken' && token.grantId) reference = `grant:${token.grantId}`;
  else if (token.kind === 'ClientCredentials') reference = `client:${token.clientId}`;
  else return undefined;
  const now = Math.floor(Date.now() / 1000);
  const exp = token.exp ?? now + (token.expiration ?? 3600);
  const cached = cache.get(reference);
  let position = cached && cached.validUntil >= exp ? cached.position : undefined;
  if (!position) {
    const validUntil = exp + HEADROOM_SECONDS;
    position = await positionFor(
      sql,
      { reference, clientId: token.clientId, accountId: token.kind === 'AccessToken' ? token.accountId : undefined, grantId: token.kind === 'AccessToken' ? token.grantId : undefined },
      new Date(validUntil * 1000),
    );
    if (cache.size >= MAX_CACHED_POSITIONS) cache.clear();
    cache.set(reference, { position, validUntil });
  }
  return { status: { status_list: { idx: position.idx, uri: `${issuer.replace(/\/$/, '')}${statusListPath(position.list)}` } } };
}

type ExtraTokenClaims = (ctx: KoaContextWithOIDC, token: any) => Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined;

/** Wraps another extraTokenClaims (e.g. acr/amr) and adds the status claim to its result. */
export function withStatusClaim(services: { db: { sql: SqlClient }; config: { issuer: string } }, base?: ExtraTokenClaims) {
  const cache: PositionCache = new Map();
  return async (ctx: KoaContextWithOIDC, token: IssuedToken): Promise<Record<string, unknown> | undefined> => {
    const [claims, status] = await Promise.all([base?.(ctx, token), statusClaimFor(services.db.sql, services.config.issuer, ctx, token, cache)]);
    return claims || status ? { ...claims, ...status } : undefined;
  };
}
