import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../storage/sql.ts';
import { storedTokenId } from '../storage/stored-ids.ts';
import { deleteReauthentications, deleteSessionsOfUser } from '../accounts/session-queries.ts';

/** The SQL of sign-up, invitation and password reset (the libraries beside this file decide). */
export interface AccountRow {
  id: string;
  email: string;
  passwordHash: string;
  roles: string[];
  emailVerified: boolean;
  disabled: boolean;
}

interface Row {
  id: string;
  email: string;
  password_hash: string;
  roles: string[] | null;
  email_verified: boolean;
  disabled_at: Date | string | null;
}
const toAccount = (r: Row): AccountRow => ({
  id: r.id,
  email: r.email,
  passwordHash: r.password_hash,
  roles: r.roles ?? [],
  emailVerified: r.email_verified,
  disabled: r.disabled_at !== null,
});
const COLUMNS = 'id, email, password_hash, roles, email_verified, disabled_at';

/** By normalized e-mail (callers normalize and refuse NUL first). */
export async function accountByEmail(sql: SqlClient, email: string): Promise<AccountRow | undefined> {
  const { rows } = await sql.query<Row>(`SELECT ${COLUMNS} FROM "user" WHERE email = $1`, [email]);
  return rows[0] ? toAccount(rows[0]) : undefined;
}

export async function accountById(sql: SqlClient, id: string): Promise<AccountRow | undefined> {
  const { rows } = await sql.query<Row>(`SELECT ${COLUMNS} FROM "user" WHERE id = $1`, [id]);
  return rows[0] ? toAccount(rows[0]) : undefined;
}

/** A new account waiting for its owner to prove the address; undefined when the e-mail was taken meanwhile. */
export async function insertUnverifiedAccount(sql: SqlClient, input: { email: string; passwordHash: string; roles?: string[] }): Promise<string | undefined> {
  const id = randomUUID();
  const { rowCount } = await sql.query(
    `INSERT INTO "user" (id, email, password_hash, roles, email_verified, updated_at) VALUES ($1, $2, $3, $4, false, now())
     ON CONFLICT (email) DO NOTHING`,
    [id, input.email, input.passwordHash, input.roles ?? []],
  );
  return rowCount === 1 ? id : undefined;
}

/** Undoes insertUnverifiedAccount when its e-mail could not be sent (nothing half-done): only while still unverified. */
export async function deleteUnverifiedAccount(sql: SqlClient, id: string): Promise<void> {
  await sql.query('DELETE FROM "user" WHERE id = $1 AND email_verified = false', [id]);
}

/** Another sign-up for an address still waiting: the newest password is the one the link will confirm. */
export async function replacePendingPassword(sql: SqlClient, id: string, passwordHash: string): Promise<boolean> {
  const { rowCount } = await sql.query('UPDATE "user" SET password_hash = $2, updated_at = now() WHERE id = $1 AND email_verified = false', [id, passwordHash]);
  return rowCount === 1;
}

export async function setPendingRoles(sql: SqlClient, id: string, roles: string[]): Promise<void> {
  await sql.query('UPDATE "user" SET roles = $2, updated_at = now() WHERE id = $1 AND email_verified = false', [id, roles]);
}

export async function deleteEmailToken(sql: SqlClient, token: string): Promise<void> {
  await sql.query('DELETE FROM email_token WHERE id = $1', [storedTokenId(token)]);
}

/** The address is proven: the account can sign in. Only for the address the link was sent to, and an enabled account. */
export async function markVerified(tx: SqlClient, id: string, email: string): Promise<boolean> {
  const { rowCount } = await tx.query('UPDATE "user" SET email_verified = true, updated_at = now() WHERE id = $1 AND email = $2 AND disabled_at IS NULL', [id, email]);
  return rowCount === 1;
}

/** A new password from an e-mailed link: it also proves the address. Only for the address the link was sent to, and an enabled account. */
export async function setPasswordFromLink(tx: SqlClient, id: string, email: string, passwordHash: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    'UPDATE "user" SET password_hash = $3, email_verified = true, updated_at = now() WHERE id = $1 AND email = $2 AND disabled_at IS NULL',
    [id, email, passwordHash],
  );
  return rowCount === 1;
}

/**
 * Ends everything a sign-in gave: browser sessions (with their device rows and recent
 * re-authentications), and what apps hold for the user — refresh tokens, opaque access tokens,
 * unused authorization codes. Grants (consents) stay, so the apps work again after the next
 * sign-in. JWT access tokens already issued run out within ACCESS_TOKEN_TTL.
 */
export async function endEverySignIn(tx: SqlClient, userId: string): Promise<{ sessionsEnded: number; tokensRevoked: number }> {
  const uids = await deleteSessionsOfUser(tx, userId);
  await deleteReauthentications(tx, uids.map(storedTokenId));
  const { rowCount } = await tx.query(
    "DELETE FROM oidc_payload WHERE account_id = $1 AND model IN ('RefreshToken', 'AccessToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest')",
    [userId],
  );
  return { sessionsEnded: uids.length, tokensRevoked: rowCount };
}

class Rollback extends Error {}

/** Runs `fn` in one transaction, rolled back when it answers undefined: all of it happens, or none. */
export async function allOrNothing<T>(sql: SqlClient, fn: (tx: SqlClient) => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await sql.transaction(async (tx) => {
      const result = await fn(tx);
      if (result === undefined) throw new Rollback();
      return result;
    });
  } catch (error) {
    if (error instanceof Rollback) return undefined;
    throw error;
  }
}
