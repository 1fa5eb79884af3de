import { randomUUID } from 'node:crypto';
import type { Prisma } from '../storage/database.ts';
import type { SqlClient } from '../storage/sql.ts';

/**
 * The second-factor tables — `totp_factor`, `webauthn_credential`, `recovery_code`: every
 * statement that changes them. The libraries decide (totp.ts, webauthn.ts, recovery-codes.ts,
 * and user-admin.ts and delete-account.ts, which remove a user's factors inside a transaction of
 * their own: the functions taking a SqlClient run in the caller's transaction when given one).
 */

// Authenticator app -----------------------------------------------------------------------------

/** A row left unconfirmed by an earlier version (the secret was shared by every sign-in). */
export async function deleteUnconfirmedTotp(sql: SqlClient, userId: string): Promise<void> {
  await sql.query('DELETE FROM totp_factor WHERE user_id = $1 AND confirmed_at IS NULL', [userId]);
}

/** The confirmed secret becomes the user's factor, with its first step; false when a factor is already active (never replaced). */
export async function confirmTotpFactor(sql: SqlClient, userId: string, secretEncrypted: string, step: number): Promise<boolean> {
  const { rowCount } = await sql.query(
    `INSERT INTO totp_factor (user_id, secret_encrypted, confirmed_at, last_step) VALUES ($1, $2, now(), $3)
     ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = EXCLUDED.secret_encrypted, confirmed_at = now(), last_step = EXCLUDED.last_step
     WHERE totp_factor.confirmed_at IS NULL`,
    [userId, secretEncrypted, step],
  );
  return rowCount === 1;
}

/** Records an accepted step: a conditional update, so of two requests racing with one code exactly one succeeds. */
export async function advanceTotpStep(sql: SqlClient, userId: string, step: number): Promise<boolean> {
  const { rowCount } = await sql.query(
    'UPDATE totp_factor SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)',
    [userId, step],
  );
  return rowCount === 1;
}

/** Returns how many rows went (0 or 1). */
export async function deleteTotpOf(sql: SqlClient, userId: string): Promise<number> {
  const { rowCount } = await sql.query('DELETE FROM totp_factor WHERE user_id = $1', [userId]);
  return rowCount;
}

// Passkeys and security keys --------------------------------------------------------------------

export async function insertPasskey(
  prisma: Prisma,
  row: { id: string; userId: string; name: string; publicKey: Buffer<ArrayBuffer>; counter: bigint; transports: string[]; deviceType: string; backedUp: boolean },
): Promise<void> {
  await prisma.webauthnCredential.create({ data: row });
}

/** The counter only moves forward, even against a concurrent assertion with the same counter. */
export async function advancePasskeyCounter(sql: SqlClient, id: string, counter: number, backedUp: boolean): Promise<boolean> {
  const { rowCount } = await sql.query(
    `UPDATE webauthn_credential SET counter = $2, backed_up = $3, last_used_at = now()
     WHERE id = $1 AND (counter < $2 OR ($2 = 0 AND counter = 0))`,
    [id, counter, backedUp],
  );
  return rowCount === 1;
}

/** One passkey of the user; false when the user has none by that id. */
export async function deletePasskey(prisma: Prisma, userId: string, id: string): Promise<boolean> {
  const { count } = await prisma.webauthnCredential.deleteMany({ where: { id, userId } });
  return count > 0;
}

/** Returns how many. */
export async function deletePasskeysOf(sql: SqlClient, userId: string): Promise<number> {
  const { rowCount } = await sql.query('DELETE FROM webauthn_credential WHERE user_id = $1', [userId]);
  return rowCount;
}

// Recovery codes --------------------------------------------------------------------------------

/** Every code of the user replaced by these (their keyed hashes), in one transaction. */
export async function replaceRecoveryCodes(prisma: Prisma, userId: string, codeHashes: string[]): Promise<void> {
  await prisma.$transaction([
    prisma.recoveryCode.deleteMany({ where: { userId } }),
    prisma.recoveryCode.createMany({ data: codeHashes.map((codeHash) => ({ id: randomUUID(), userId, codeHash })) }),
  ]);
}

/** Uses a code: true once, false ever after (a conditional update, so two racing uses cannot both pass). */
export async function markRecoveryCodeUsed(sql: SqlClient, userId: string, codeHash: string): Promise<boolean> {
  const { rowCount } = await sql.query('UPDATE recovery_code SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL', [userId, codeHash]);
  return rowCount === 1;
}

/** Returns how many. */
export async function deleteRecoveryCodesOf(sql: SqlClient, userId: string): Promise<number> {
  const { rowCount } = await sql.query('DELETE FROM recovery_code WHERE user_id = $1', [userId]);
  return rowCount;
}
