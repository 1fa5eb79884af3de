import type { Services } from '../context.ts';
import type { SqlClient } from '../storage/sql.ts';

/**
 * When each app last got a token for a user ("last used" under Connected apps, as GitHub shows
 * it). Written from the token endpoint's `grant.success` (src/accounts/session-activity.ts), so
 * it must cost the token path nothing: the write is not awaited, and each process writes a
 * (user, app) pair at most once a minute (a minute is finer than the page shows).
 */
const WRITE_EVERY_MS = 60_000;
const MAX_REMEMBERED = 10_000;

const lastWritten = new WeakMap<object, Map<string, number>>();

export function recordAppUse(services: Pick<Services, 'db' | 'logger'>, userId: string, clientId: string): void {
  let written = lastWritten.get(services.db);
  if (!written) lastWritten.set(services.db, (written = new Map()));
  const key = `${userId} ${clientId}`;
  const now = Date.now();
  if (now - (written.get(key) ?? 0) < WRITE_EVERY_MS) return;
  if (written.size >= MAX_REMEMBERED) written.clear();
  written.set(key, now);
  services.db.sql
    .query(
      `INSERT INTO app_last_used (user_id, client_id, last_used_at) VALUES ($1, $2, now())
       ON CONFLICT (user_id, client_id) DO UPDATE SET last_used_at = now()`,
      [userId, clientId],
      { prepare: true },
    )
    .catch((err) => services.logger.warn({ err, clientId }, 'could not record when an app was last used'));
}

/** Last use per app for one user. */
export async function appsLastUsed(services: Pick<Services, 'db'>, userId: string): Promise<Map<string, Date>> {
  const { rows } = await services.db.sql.query<{ client_id: string; last_used_at: Date }>(
    'SELECT client_id, last_used_at FROM app_last_used WHERE user_id = $1',
    [userId],
  );
  return new Map(rows.map((r) => [r.client_id, new Date(r.last_used_at)]));
}

/** Forgets an app's last use (its access was revoked). */
export async function forgetAppUse(services: Pick<Services, 'db'>, userId: string, clientId: string): Promise<void> {
  await services.db.sql.query('DELETE FROM app_last_used WHERE user_id = $1 AND client_id = $2', [userId, clientId]);
}

/** Forgets every app's last use by the user, in the caller's transaction when given one (account deletion). */
export async function forgetAppUsesOf(sql: SqlClient, userId: string): Promise<void> {
  await sql.query('DELETE FROM app_last_used WHERE user_id = $1', [userId]);
}
