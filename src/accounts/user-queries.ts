import { randomUUID } from 'node:crypto';
import type { Prisma } from '../storage/database.ts';
import type { SqlClient } from '../storage/sql.ts';

/**
 * The `user` table: every statement that changes a user row, and the reads the writers need.
 * The libraries decide (users.ts, user-password.ts, user-admin.ts, email-change.ts,
 * delete-account.ts, signup.ts, invitations.ts and password-reset.ts). Functions that take a
 * SqlClient run in the caller's transaction when given one; the plain writes outside any
 * transaction go through Prisma.
 */
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

/** Whether any account (enabled, disabled, or waiting for its own confirmation) uses the address. */
export async function emailInUse(sql: SqlClient, email: string): Promise<boolean> {
  const { rows } = await sql.query('SELECT 1 FROM "user" WHERE email = $1', [email]);
  return rows.length > 0;
}

/** An operator-made account: its address counts as proven. */
export async function insertUser(prisma: Prisma, row: { id: string; email: string; passwordHash: string; roles: string[] }): Promise<void> {
  await prisma.user.create({ data: row });
}

export async function setPasswordHash(prisma: Prisma, id: string, passwordHash: string): Promise<void> {
  await prisma.user.update({ where: { id }, data: { passwordHash } });
}

/** Sign-in works again. */
export async function clearDisabled(prisma: Prisma, id: string): Promise<void> {
  await prisma.user.update({ where: { id }, data: { disabledAt: null } });
}

/** Disables the account with this e-mail (kept disabled since the first time); its id, or undefined when there is none. */
export async function disableByEmail(sql: SqlClient, email: string): Promise<string | undefined> {
  const { rows } = await sql.query<{ id: string }>(
    'UPDATE "user" SET disabled_at = COALESCE(disabled_at, now()), updated_at = now() WHERE lower(email) = lower($1) RETURNING id',
    [email],
  );
  return rows[0]?.id;
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
 * Moves an enabled account to the new address, which is proven by the link (email_verified).
 * Returns the old address, or undefined when the account is gone, disabled, or another account
 * took the address meanwhile (checked here; a race past the check ends in the unique index).
 */
export async function moveToAddress(tx: SqlClient, userId: string, newEmail: string): Promise<{ oldEmail: string } | undefined> {
  const { rows } = await tx.query<{ email: string }>('SELECT email FROM "user" WHERE id = $1 AND disabled_at IS NULL FOR UPDATE', [userId]);
  if (!rows[0]) return undefined;
  const { rowCount } = await tx.query(
    `UPDATE "user" SET email = $2, email_verified = true, updated_at = now()
      WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM "user" other WHERE other.email = $2 AND other.id <> $1)`,
    [userId, newEmail],
  );
  return rowCount === 1 ? { oldEmail: rows[0].email } : undefined;
}

/** Locks the user's row for the rest of the caller's transaction; false when there is no such user. */
export async function lockUser(tx: SqlClient, id: string): Promise<boolean> {
  const { rows } = await tx.query<{ id: string }>('SELECT id FROM "user" WHERE id = $1 FOR UPDATE', [id]);
  return rows.length > 0;
}

/**
 * The user row itself (its e-mailed links go with it: email_token cascades). Apps the user
 * registered stay, without an owner (client.owner_id becomes NULL).
 */
export async function deleteUserRow(tx: SqlClient, id: string): Promise<void> {
  await tx.query('DELETE FROM "user" WHERE id = $1', [id]);
}
