import type { Prisma } from '../storage/database.ts';
import type { SqlClient } from '../storage/sql.ts';

/**
 * The `registration_token` table: what Latchkey adds to a DCR initial access token (stored under
 * the token's SHA-256, as the token itself is in oidc_payload): an owner and a use limit.
 * Created by registration-tokens.ts; its uses counted by the DCR policy (dcr-policy.ts).
 */
export async function insertRegistrationToken(prisma: Prisma, row: { id: string; ownerId: string | null; maxUses: number | null; expiresAt: Date | null }): Promise<void> {
  await prisma.registrationToken.create({ data: row });
}

/**
 * Counts one use, if one is left (a conditional update: two registrations racing for the last
 * use cannot both have it). The token's owner, or undefined when it is used up or unknown.
 */
export async function spendRegistrationTokenUse(sql: SqlClient, id: string): Promise<{ ownerId: string | null } | undefined> {
  const { rows } = await sql.query<{ owner_id: string | null }>(
    'UPDATE registration_token SET uses = uses + 1 WHERE id = $1 AND (max_uses IS NULL OR uses < max_uses) RETURNING owner_id',
    [id],
  );
  return rows[0] ? { ownerId: rows[0].owner_id } : undefined;
}

/** Gives back a use counted for a registration that then failed. */
export async function giveBackRegistrationTokenUse(sql: SqlClient, id: string): Promise<void> {
  await sql.query('UPDATE registration_token SET uses = greatest(uses - 1, 0) WHERE id = $1', [id]);
}
