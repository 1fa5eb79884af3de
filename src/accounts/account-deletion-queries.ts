import type { SqlClient } from '../storage/sql.ts';

/**
 * The SQL behind src/accounts/delete-account.ts, in one transaction: a deletion either happens
 * completely or not at all.
 */
export interface DeletedAccount {
  sessionsEnded: number;
  grantsRevoked: number;
}

/** Undefined when there is no such user. */
export async function deleteAccountRows(sql: SqlClient, userId: string): Promise<DeletedAccount | undefined> {
  return sql.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string }>('SELECT id FROM "user" WHERE id = $1 FOR UPDATE', [userId]);
    if (!rows[0]) return undefined;
    // Everything oidc-provider holds for the user: sessions, grants, and what was issued under
    // them (codes, refresh tokens, opaque access tokens), by account and by grant.
    const grants = await tx.query<{ id: string }>("SELECT id FROM oidc_payload WHERE model = 'Grant' AND account_id = $1", [userId]);
    const grantIds = grants.rows.map((g) => g.id);
    if (grantIds.length) await tx.query('DELETE FROM oidc_payload WHERE grant_id = ANY($1::text[])', [grantIds]);
    const sessions = await tx.query("DELETE FROM oidc_payload WHERE model = 'Session' AND account_id = $1", [userId]);
    await tx.query('DELETE FROM oidc_payload WHERE account_id = $1', [userId]);
    for (const table of ['totp_factor', 'webauthn_credential', 'recovery_code', 'second_factor_throttle', 'session_device', 'app_last_used', 'email_change']) {
      await tx.query(`DELETE FROM ${table} WHERE user_id = $1`, [userId]);
    }
    // Apps the user registered in the developer portal stay (client.owner_id becomes NULL):
    // other users may depend on them; operators manage them from then on.
    await tx.query('DELETE FROM "user" WHERE id = $1', [userId]);
    // token_status rows stay: a position whose user no longer exists is listed as revoked, so
    // the user's JWT access tokens are refused through the Token Status List.
    return { sessionsEnded: sessions.rowCount, grantsRevoked: grantIds.length };
  });
}
