import type { Services } from '../context.ts';
import type { SqlClient } from '../storage/sql.ts';

/**
 * Per-account limit on second-factor codes (TOTP and recovery codes), independent of IP.
 * Every attempt is counted *before* the code is checked, with one atomic upsert, so parallel
 * guesses cannot slip past the limit (the race behind GHSA-7h8m-vrxx-vr4m): at most
 * SECOND_FACTOR_MAX_FAILURES codes are ever checked per window. A success clears the count;
 * the fifth failure locks the account's code factors for lockSeconds(previous locks).
 *
 * The window alone would let a patient guesser through (4 codes every 5 minutes never locks:
 * 1,152 codes a day), so `consecutive` counts every attempt since the last success, whatever
 * the pace, and past SECOND_FACTOR_MAX_CONSECUTIVE no code is checked at all (NIST SP 800-63B
 * §5.2.2) until the owner proves themselves otherwise (a passkey) or an operator unlocks.
 */

/** Failures within the window before the second factor is locked. */
export const SECOND_FACTOR_MAX_FAILURES = 5;
export const SECOND_FACTOR_WINDOW_SECONDS = 300;
/** Wrong codes in a row, at any pace, after which no code is checked until a success by other means (NIST SP 800-63B §5.2.2: at most 100). */
export const SECOND_FACTOR_MAX_CONSECUTIVE = 100;
const LOCK_BASE_SECONDS = 300;
const LOCK_MAX_SECONDS = 24 * 3600;

/** 5 minutes for the first lock, doubling on each repeat, capped at a day. */
export function lockSeconds(previousLocks: number): number {
  return Math.min(LOCK_MAX_SECONDS, LOCK_BASE_SECONDS * 2 ** Math.min(Math.max(previousLocks, 0), 20));
}

type Deps = Pick<Services, 'db'>;

export type AttemptGate = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export async function beginSecondFactorAttempt(deps: Deps, userId: string, now = new Date()): Promise<AttemptGate> {
  const windowStart = new Date(now.getTime() - SECOND_FACTOR_WINDOW_SECONDS * 1000);
  const { rows } = await deps.db.sql.query<{ failures: number; window_started_at: Date; locked_until: Date | null; consecutive: number }>(
    `INSERT INTO second_factor_throttle AS t (user_id, failures, window_started_at, consecutive) VALUES ($1, 1, $2, 1)
     ON CONFLICT (user_id) DO UPDATE SET
       consecutive = CASE WHEN t.locked_until > $2 OR t.consecutive > $4 THEN t.consecutive ELSE t.consecutive + 1 END,
       failures = CASE WHEN t.locked_until > $2 THEN t.failures
                       WHEN t.window_started_at < $3 OR t.locked_until IS NOT NULL THEN 1
                       ELSE t.failures + 1 END,
       window_started_at = CASE WHEN t.locked_until > $2 THEN t.window_started_at
                                WHEN t.window_started_at < $3 OR t.locked_until IS NOT NULL THEN $2
                                ELSE t.window_started_at END,
       locked_until = CASE WHEN t.locked_until > $2 THEN t.locked_until ELSE NULL END
     RETURNING failures, window_started_at, locked_until, consecutive`,
    [userId, now, windowStart, SECOND_FACTOR_MAX_CONSECUTIVE],
  );
  const row = rows[0]!;
  const lockedUntil = row.locked_until ? new Date(row.locked_until) : undefined;
  if (lockedUntil && lockedUntil > now) return { allowed: false, retryAfterSeconds: (lockedUntil.getTime() - now.getTime()) / 1000 };
  // The attempt in hand is counted: more than the maximum means this one would be one too many.
  if (row.consecutive > SECOND_FACTOR_MAX_CONSECUTIVE) {
    return { allowed: false, retryAfterSeconds: Number.POSITIVE_INFINITY };
  }
  if (row.failures > SECOND_FACTOR_MAX_FAILURES) {
    // Only reachable by parallel attempts while the fifth is being checked.
    const windowEnds = new Date(row.window_started_at).getTime() + SECOND_FACTOR_WINDOW_SECONDS * 1000;
    return { allowed: false, retryAfterSeconds: Math.max(1, (windowEnds - now.getTime()) / 1000) };
  }
  return { allowed: true };
}

/** After a wrong code: locks when this was the last allowed attempt. Returns the lock length, if one started. */
export async function recordSecondFactorFailure(deps: Deps, userId: string, now = new Date()): Promise<number | undefined> {
  const { rows } = await deps.db.sql.query<{ lock_count: number }>(
    `SELECT lock_count FROM second_factor_throttle WHERE user_id = $1 AND failures >= $2 AND (locked_until IS NULL OR locked_until <= $3)`,
    [userId, SECOND_FACTOR_MAX_FAILURES, now],
  );
  if (!rows[0]) return undefined;
  const seconds = lockSeconds(rows[0].lock_count);
  const { rowCount } = await deps.db.sql.query(
    `UPDATE second_factor_throttle SET locked_until = $2, lock_count = lock_count + 1
     WHERE user_id = $1 AND lock_count = $3 AND (locked_until IS NULL OR locked_until <= $4)`,
    [userId, new Date(now.getTime() + seconds * 1000), rows[0].lock_count, now],
  );
  return rowCount === 1 ? seconds : undefined;
}

/** After a correct code: the count starts again (earlier locks still make the next one longer for a day). */
export async function recordSecondFactorSuccess(deps: Deps, userId: string): Promise<void> {
  await deps.db.sql.query(
    `UPDATE second_factor_throttle SET failures = 0, consecutive = 0, locked_until = NULL,
       lock_count = CASE WHEN window_started_at < now() - interval '1 day' THEN 0 ELSE lock_count END
     WHERE user_id = $1`,
    [userId],
  );
}

/** The remaining lock, for showing on the page before the user types anything. */
export async function secondFactorLockedFor(deps: Deps, userId: string, now = new Date()): Promise<number | undefined> {
  const { rows } = await deps.db.sql.query<{ locked_until: Date | null }>('SELECT locked_until FROM second_factor_throttle WHERE user_id = $1', [userId]);
  const until = rows[0]?.locked_until ? new Date(rows[0].locked_until).getTime() : 0;
  return until > now.getTime() ? (until - now.getTime()) / 1000 : undefined;
}

/** An operator's unlock (`latchkey user unlock`): code checks start again from nothing. */
export async function clearSecondFactorLocks(deps: Deps, userId: string): Promise<boolean> {
  return deleteSecondFactorThrottle(deps.db.sql, userId);
}

/** The user's row, in the caller's transaction when given one (account deletion); whether there was one. */
export async function deleteSecondFactorThrottle(sql: SqlClient, userId: string): Promise<boolean> {
  const { rowCount } = await sql.query('DELETE FROM second_factor_throttle WHERE user_id = $1', [userId]);
  return (rowCount ?? 0) > 0;
}
