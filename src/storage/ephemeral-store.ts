import type { SqlClient } from './sql.ts';
import { storedTokenId } from './stored-ids.ts';

/**
 * Short-lived server-side state of Latchkey's own (second-factor step pending for an
 * interaction, WebAuthn challenges, recent re-authentication on the account page, pending
 * authenticator-app secrets, new recovery codes waiting to be saved), kept in
 * the oidc_payload table under model names oidc-provider never uses, so the existing purge
 * job removes it when it expires. `take` is a DELETE … RETURNING: a value is used once.
 * Rows are keyed by the SHA-256 of the id (an interaction uid is a bearer value: see
 * src/storage/stored-ids.ts).
 */
/** The statements below are fixed texts on the sign-in path: prepared once per connection (QueryOptions.prepare). */
export type EphemeralModel = 'LatchkeyMfaPending' | 'LatchkeyWebauthnChallenge' | 'LatchkeyReauth' | 'LatchkeyTotpEnrolment' | 'LatchkeyShownRecoveryCodes';

export async function putEphemeral(sql: SqlClient, model: EphemeralModel, id: string, value: object, expiresAt: Date): Promise<void> {
  await sql.query(
    `INSERT INTO oidc_payload (model, id, payload, expires_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, expires_at = EXCLUDED.expires_at, consumed_at = NULL`,
    [model, storedTokenId(id), JSON.stringify(value), expiresAt],
    { prepare: true },
  );
}

const parse = <T>(payload: unknown): T => (typeof payload === 'string' ? JSON.parse(payload) : payload) as T;

export async function getEphemeral<T>(sql: SqlClient, model: EphemeralModel, id: string): Promise<T | undefined> {
  const { rows } = await sql.query<{ payload: unknown }>(
    'SELECT payload FROM oidc_payload WHERE model = $1 AND id = $2 AND expires_at > now()',
    [model, storedTokenId(id)],
    { prepare: true },
  );
  return rows[0] ? parse<T>(rows[0].payload) : undefined;
}

/** Reads and deletes in one statement: of two concurrent takers, one gets the value. */
export async function takeEphemeral<T>(sql: SqlClient, model: EphemeralModel, id: string): Promise<T | undefined> {
  const { rows } = await sql.query<{ payload: unknown; live: boolean }>(
    'DELETE FROM oidc_payload WHERE model = $1 AND id = $2 RETURNING payload, expires_at > now() AS live',
    [model, storedTokenId(id)],
    { prepare: true },
  );
  return rows[0]?.live ? parse<T>(rows[0].payload) : undefined;
}

export async function deleteEphemeral(sql: SqlClient, model: EphemeralModel, id: string): Promise<void> {
  await sql.query('DELETE FROM oidc_payload WHERE model = $1 AND id = $2', [model, storedTokenId(id)]);
}

/** Deletes the records of these ids at once (e.g. the re-authentications of sessions just ended). */
export async function deleteEphemerals(sql: SqlClient, model: EphemeralModel, ids: string[]): Promise<void> {
  if (!ids.length) return;
  await sql.query('DELETE FROM oidc_payload WHERE model = $1 AND id = ANY($2::text[])', [model, ids.map(storedTokenId)]);
}
