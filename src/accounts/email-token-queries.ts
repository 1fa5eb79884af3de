import { randomBytes } from 'node:crypto';
import { storableText, type SqlClient } from '../storage/sql.ts';
import { storedTokenId } from '../storage/stored-ids.ts';

/**
 * The single-use links Latchkey e-mails (the `email_token` table), behind sign-up (signup.ts),
 * invitations (invitations.ts) and password reset (password-reset.ts). The link carries 256 random
 * bits; the table keeps only their SHA-256, so a database backup holds no usable link. A link
 * works until it expires, once (the UPDATE that uses it is conditional, so of two concurrent
 * uses one wins), and only while it is the newest of its kind for the account: issuing a new
 * one deletes the older ones.
 */
export type EmailTokenPurpose = 'verify-email' | 'invite' | 'reset-password';

/** How long each kind of link works. */
export const EMAIL_TOKEN_TTL_SECONDS: Record<EmailTokenPurpose, number> = {
  // Issue 13: 24 hours for the sign-up confirmation, 30 minutes for a password reset.
  'verify-email': 24 * 3600,
  // An invitation may wait over a weekend.
  invite: 72 * 3600,
  'reset-password': 30 * 60,
};

export interface EmailTokenRow {
  id: string;
  userId: string;
  email: string;
  returnTo: string | null;
  secondFactorAt: Date | null;
}

/** Pure: a token as it appears in a link (43 base64url characters), or nothing a link can hold. */
export function isTokenShaped(token: unknown): token is string {
  return typeof token === 'string' && /^[A-Za-z0-9_-]{43}$/.test(token);
}

interface Row {
  id: string;
  user_id: string;
  email: string;
  return_to: string | null;
  second_factor_at: Date | string | null;
}
const toRow = (r: Row): EmailTokenRow => ({
  id: r.id,
  userId: r.user_id,
  email: r.email,
  returnTo: r.return_to,
  secondFactorAt: r.second_factor_at === null ? null : new Date(r.second_factor_at),
});

/** A new link for the user, replacing any earlier one of the same purpose; returns the token (shown once, in the e-mail). */
export async function issueEmailToken(
  sql: SqlClient,
  input: { purpose: EmailTokenPurpose; userId: string; email: string; returnTo?: string },
): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + EMAIL_TOKEN_TTL_SECONDS[input.purpose] * 1000);
  await sql.transaction(async (tx) => {
    await tx.query('DELETE FROM email_token WHERE user_id = $1 AND purpose = $2', [input.userId, input.purpose]);
    await tx.query(
      'INSERT INTO email_token (id, purpose, user_id, email, return_to, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [storedTokenId(token), input.purpose, input.userId, input.email, input.returnTo ?? null, expiresAt],
    );
  });
  return { token, expiresAt };
}

/** The link's row while it can still be used (unexpired, unused), without using it. */
export async function findEmailToken(sql: SqlClient, purpose: EmailTokenPurpose, token: unknown): Promise<EmailTokenRow | undefined> {
  if (!isTokenShaped(token) || !storableText(token)) return undefined;
  const { rows } = await sql.query<Row>(
    `SELECT id, user_id, email, return_to, second_factor_at FROM email_token
      WHERE id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()`,
    [storedTokenId(token), purpose],
  );
  return rows[0] ? toRow(rows[0]) : undefined;
}

/** Uses the link: its row once, undefined for a used, expired, replaced or unknown one. Call inside the transaction that acts on it. */
export async function consumeEmailToken(tx: SqlClient, purpose: EmailTokenPurpose, token: string): Promise<EmailTokenRow | undefined> {
  if (!isTokenShaped(token)) return undefined;
  const { rows } = await tx.query<Row>(
    `UPDATE email_token SET used_at = now()
      WHERE id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
      RETURNING id, user_id, email, return_to, second_factor_at`,
    [storedTokenId(token), purpose],
  );
  return rows[0] ? toRow(rows[0]) : undefined;
}

/** Forgets a link whose e-mail could not be sent (nothing half-done). */
export async function deleteEmailToken(sql: SqlClient, token: string): Promise<void> {
  await sql.query('DELETE FROM email_token WHERE id = $1', [storedTokenId(token)]);
}

/** Password reset: the account's passkey was proven on this link's page. */
export async function recordSecondFactorProof(sql: SqlClient, tokenId: string): Promise<void> {
  await sql.query('UPDATE email_token SET second_factor_at = now() WHERE id = $1 AND used_at IS NULL', [tokenId]);
}

/** Deletes links that expired a day ago or more (used ones are kept as long, for support questions); returns how many. */
export async function purgeEmailTokens(sql: SqlClient): Promise<number> {
  const { rowCount } = await sql.query("DELETE FROM email_token WHERE expires_at < now() - interval '1 day'");
  return rowCount;
}
