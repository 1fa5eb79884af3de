import type { SqlClient } from '../storage/sql.ts';

/**
 * The `email_change` table, behind src/accounts/email-change.ts: one pending change per user,
 * its link's token kept only as a SHA-256. The user's address itself changes in user-queries.ts.
 */
export interface PendingEmailChange {
  userId: string;
  newEmail: string;
  expiresAt: Date;
}

interface Row {
  user_id: string;
  new_email: string;
  expires_at: Date | string;
}
const toPending = (r: Row): PendingEmailChange => ({ userId: r.user_id, newEmail: r.new_email, expiresAt: new Date(r.expires_at) });

/**
 * Forgets every change of the user, pending or used: a newer request replaces them, and a change
 * done is in the audit trail. The table so holds at most one row per user, and needs no purge.
 */
export async function deleteChangesOf(sql: SqlClient, userId: string): Promise<void> {
  await sql.query('DELETE FROM email_change WHERE user_id = $1', [userId]);
}

/** The user's one pending change: the older ones are deleted in the same transaction. */
export async function replacePendingChange(sql: SqlClient, input: { tokenHash: string; userId: string; newEmail: string; expiresAt: Date }): Promise<void> {
  await sql.transaction(async (tx) => {
    await deleteChangesOf(tx, input.userId);
    await tx.query('INSERT INTO email_change (token_hash, user_id, new_email, expires_at) VALUES ($1, $2, $3, $4)', [
      input.tokenHash,
      input.userId,
      input.newEmail,
      input.expiresAt,
    ]);
  });
}

export async function deleteChange(sql: SqlClient, tokenHash: string): Promise<void> {
  await sql.query('DELETE FROM email_change WHERE token_hash = $1', [tokenHash]);
}

/** The change a link names while it can be used (unexpired, unused), without using it. */
export async function findPendingChange(sql: SqlClient, tokenHash: string): Promise<PendingEmailChange | undefined> {
  const { rows } = await sql.query<Row>(
    'SELECT user_id, new_email, expires_at FROM email_change WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()',
    [tokenHash],
  );
  return rows[0] ? toPending(rows[0]) : undefined;
}

/** Uses the link for this user, once: undefined for a used, expired, replaced, unknown or another user's link. */
export async function consumeChange(tx: SqlClient, tokenHash: string, userId: string): Promise<PendingEmailChange | undefined> {
  const { rows } = await tx.query<Row>(
    `UPDATE email_change SET used_at = now()
      WHERE token_hash = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > now()
      RETURNING user_id, new_email, expires_at`,
    [tokenHash, userId],
  );
  return rows[0] ? toPending(rows[0]) : undefined;
}

/** PostgreSQL's unique_violation (both drivers carry the SQLSTATE as `code`). */
export const isUniqueViolation = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === '23505';
