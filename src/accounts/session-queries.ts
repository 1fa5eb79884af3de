import type { SqlClient } from '../storage/sql.ts';

/**
 * The `session_device` table, behind src/accounts/sessions.ts. A signed-in session is
 * oidc-provider's `Session` row in oidc_payload (found by its `uid` and `account_id` columns;
 * ended through src/storage/payload-queries.ts); `session_device` adds what the account page
 * shows about it. A session counts only while its row lives and belongs to the user: a device
 * row alone proves nothing.
 */
const LIVE_SESSION = `s.model = 'Session' AND s.uid = d.session_uid AND s.account_id = d.user_id
  AND (s.expires_at IS NULL OR s.expires_at > now())`;

export interface SessionRow {
  id: string;
  session_uid: string;
  user_agent: string;
  ip: string | null;
  created_at: Date;
  last_seen_at: Date;
  login_ts: string | null;
}

/**
 * Records (or refreshes) the device of a session at sign-in and whenever oidc-provider saves the
 * session. The same uid signed in by another user (a shared browser) gets a new public id, so an
 * id shown to the first user never names the second user's session.
 */
export async function upsertSessionDevice(
  sql: SqlClient,
  row: { id: string; sessionUid: string; userId: string; userAgent: string; ip: string | null },
): Promise<void> {
  await sql.query(
    `INSERT INTO session_device (id, session_uid, user_id, user_agent, ip) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (session_uid) DO UPDATE SET
       id = CASE WHEN session_device.user_id = EXCLUDED.user_id THEN session_device.id ELSE EXCLUDED.id END,
       created_at = CASE WHEN session_device.user_id = EXCLUDED.user_id THEN session_device.created_at ELSE now() END,
       user_id = EXCLUDED.user_id, user_agent = EXCLUDED.user_agent, ip = EXCLUDED.ip, last_seen_at = now()`,
    [row.id, row.sessionUid, row.userId, row.userAgent, row.ip],
    { prepare: true },
  );
}

/** Moves "last seen" of a session on (the account page was used); nothing when the row does not exist. */
export async function touchSessionDevice(sql: SqlClient, sessionUid: string, userId: string): Promise<void> {
  await sql.query('UPDATE session_device SET last_seen_at = now() WHERE session_uid = $1 AND user_id = $2', [sessionUid, userId]);
}

/**
 * Gives every live session of the user a device row (sessions signed in before devices were
 * recorded, or whose recording failed), so each can be listed and ended; drops rows whose
 * session has ended.
 */
export async function reconcileSessionDevices(sql: SqlClient, userId: string): Promise<void> {
  await sql.query(
    `INSERT INTO session_device (id, session_uid, user_id, created_at, last_seen_at)
     SELECT gen_random_uuid()::text, s.uid, s.account_id,
            COALESCE(to_timestamp((s.payload->>'loginTs')::double precision), now()), now()
       FROM oidc_payload s
      WHERE s.model = 'Session' AND s.account_id = $1 AND s.uid IS NOT NULL
        AND (s.expires_at IS NULL OR s.expires_at > now())
     ON CONFLICT (session_uid) DO NOTHING`,
    [userId],
  );
  await sql.query(`DELETE FROM session_device d WHERE d.user_id = $1 AND NOT EXISTS (SELECT 1 FROM oidc_payload s WHERE ${LIVE_SESSION})`, [userId]);
}

export async function selectSessions(sql: SqlClient, userId: string): Promise<SessionRow[]> {
  const { rows } = await sql.query<SessionRow>(
    `SELECT d.id, d.session_uid, d.user_agent, d.ip, d.created_at, d.last_seen_at, s.payload->>'loginTs' AS login_ts
       FROM session_device d JOIN oidc_payload s ON ${LIVE_SESSION}
      WHERE d.user_id = $1
      ORDER BY d.last_seen_at DESC, d.id`,
    [userId],
  );
  return rows;
}

/** Deletes the device row of the user's session named by its public id; returns the session uid, or undefined when the user has none by that id. */
export async function deleteSessionDevice(sql: SqlClient, userId: string, id: string): Promise<string | undefined> {
  const { rows } = await sql.query<{ session_uid: string }>('DELETE FROM session_device WHERE id = $1 AND user_id = $2 RETURNING session_uid', [id, userId]);
  return rows[0]?.session_uid;
}

/** Deletes the device rows of every session of the user, or of every one but the session with uid `exceptUid`. */
export async function deleteSessionDevicesOfUser(sql: SqlClient, userId: string, exceptUid?: string): Promise<void> {
  await sql.query('DELETE FROM session_device WHERE user_id = $1 AND ($2::text IS NULL OR session_uid <> $2)', [userId, exceptUid ?? null]);
}
