import type { AdapterPayload } from 'oidc-provider';
import { prefetchGrant, toPayload } from './payload-reads.ts';
import type { SqlClient } from './sql.ts';

/**
 * What Latchkey itself reads, ends or revokes of oidc-provider's rows in `oidc_payload` (the
 * adapter, oidc-adapter.ts, is oidc-provider's own access): a user's grants and sessions, what
 * was issued to a user or a client, and the purge of expired rows. Libraries call these, in
 * their own transaction when several tables change together.
 */

/** Deletes rows past their expiry (kept a minute beyond `exp` for oidc-provider's clock tolerance). */
export async function purgeExpired(sql: SqlClient): Promise<number> {
  const { rowCount } = await sql.query("DELETE FROM oidc_payload WHERE expires_at < now() - interval '1 minute'");
  return rowCount;
}

/** Everything issued under a grant (codes, refresh and opaque access tokens) and the grant itself, at once. */
export async function revokeGrant(sql: SqlClient, grantId: string): Promise<void> {
  await sql.query("DELETE FROM oidc_payload WHERE grant_id = $1 OR (model = 'Grant' AND id = $1)", [grantId]);
}

export interface StoredGrant {
  id: string;
  clientId: string;
  accountId: string;
  openidScope: string;
  resources: Record<string, string>;
  rejectedResources: Record<string, string>;
  expiresAt: Date | null;
}

export async function listGrantsOfAccount(sql: SqlClient, accountId: string): Promise<StoredGrant[]> {
  const { rows } = await sql.query<{ id: string; payload: Record<string, any> | string; expires_at: Date | null }>(
    `SELECT id, payload, expires_at FROM oidc_payload
     WHERE model = 'Grant' AND account_id = $1 AND (expires_at IS NULL OR expires_at > now())`,
    [accountId],
  );
  return rows.map((row) => {
    const p = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
    return {
      id: row.id,
      clientId: p.clientId,
      accountId: p.accountId,
      openidScope: p.openid?.scope ?? '',
      resources: p.resources ?? {},
      rejectedResources: p.rejected?.resources ?? {},
      expiresAt: row.expires_at,
    };
  });
}

/**
 * The user's newest live grant for the client (consent remembered across sessions). The row
 * is kept for this request's Grant.find of that id (src/storage/payload-reads.ts), which
 * would otherwise read it again straight after.
 */
export async function latestGrantIdFor(sql: SqlClient, accountId: string, clientId: string): Promise<string | undefined> {
  const { rows } = await sql.query<{ id: string; payload: AdapterPayload | string }>(
    `SELECT id, payload FROM oidc_payload WHERE model = 'Grant' AND account_id = $1 AND client_id = $2
       AND (expires_at IS NULL OR expires_at > now())
     ORDER BY (payload->>'iat')::bigint DESC LIMIT 1`,
    [accountId, clientId],
    { prepare: true },
  );
  const row = rows[0];
  if (row) prefetchGrant(row.id, toPayload(row.payload, null));
  return row?.id;
}

/** The ids of every grant of the user, live or not. */
export async function grantIdsOfAccount(sql: SqlClient, accountId: string): Promise<string[]> {
  const { rows } = await sql.query<{ id: string }>("SELECT id FROM oidc_payload WHERE model = 'Grant' AND account_id = $1", [accountId]);
  return rows.map((r) => r.id);
}

/** What was issued under these grants (codes, refresh and opaque access tokens). */
export async function deleteIssuedUnderGrants(sql: SqlClient, grantIds: string[]): Promise<void> {
  if (grantIds.length) await sql.query('DELETE FROM oidc_payload WHERE grant_id = ANY($1::text[])', [grantIds]);
}

/**
 * Ends the user's browser sessions (oidc-provider's Session rows), every one or every one but
 * the session with uid `exceptUid`; returns the uid of each session ended (null for a row
 * without one).
 */
export async function deleteSessionsOfAccount(sql: SqlClient, accountId: string, exceptUid?: string): Promise<Array<string | null>> {
  const { rows } = await sql.query<{ uid: string | null }>(
    "DELETE FROM oidc_payload WHERE model = 'Session' AND account_id = $1 AND ($2::text IS NULL OR uid IS DISTINCT FROM $2) RETURNING uid",
    [accountId, exceptUid ?? null],
  );
  return rows.map((r) => r.uid);
}

/** Ends one session of the user by its uid; false when the user has no such session. */
export async function deleteSessionOfAccount(sql: SqlClient, accountId: string, uid: string): Promise<boolean> {
  const { rowCount } = await sql.query("DELETE FROM oidc_payload WHERE model = 'Session' AND uid = $1 AND account_id = $2", [uid, accountId]);
  return rowCount > 0;
}

/**
 * What apps hold for the user — refresh tokens, opaque access tokens, unused authorization
 * codes (grants stay); returns how many.
 */
export async function deleteTokensOfAccount(sql: SqlClient, accountId: string): Promise<number> {
  const { rowCount } = await sql.query(
    "DELETE FROM oidc_payload WHERE account_id = $1 AND model IN ('RefreshToken', 'AccessToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest')",
    [accountId],
  );
  return rowCount;
}

/** Every row oidc-provider holds for the user (what is left once grants and sessions are gone). */
export async function deleteEverythingOfAccount(sql: SqlClient, accountId: string): Promise<void> {
  await sql.query('DELETE FROM oidc_payload WHERE account_id = $1', [accountId]);
}

/** Everything issued to a client: grants, codes, refresh and opaque access tokens, registration access tokens; returns how many. */
export async function deleteEverythingOfClient(sql: SqlClient, clientId: string): Promise<number> {
  const { rowCount } = await sql.query('DELETE FROM oidc_payload WHERE client_id = $1', [clientId]);
  return rowCount;
}

/** The client's opaque client_credentials tokens. */
export async function deleteClientCredentialsOf(sql: SqlClient, clientId: string): Promise<void> {
  await sql.query(`DELETE FROM oidc_payload WHERE model = 'ClientCredentials' AND client_id = $1`, [clientId]);
}
