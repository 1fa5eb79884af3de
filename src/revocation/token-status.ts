import type { SqlClient } from '../storage/sql.ts';

/**
 * Positions in the Token Status Lists (draft-ietf-oauth-status-list). Every JWT access token
 * issued under a grant names that grant's position; client_credentials tokens, which have no
 * grant, name their client's position. A position is allocated once (from a sequence, never
 * reused) and split across lists of LIST_SIZE entries, so each list stays a bounded size:
 * list n = seq / LIST_SIZE at /statuslists/n, idx = seq % LIST_SIZE.
 */
export const LIST_SIZE = 65_536;

/** Rows are kept this long past the last token's exp (covers the resource servers' clock tolerance). */
export const EXPIRY_GRACE_SECONDS = 60;

export const statusListPath = (list: number) => `/statuslists/${list}`;

export interface StatusPosition {
  list: number;
  idx: number;
}

export interface StatusSubject {
  reference: string;
  clientId: string;
  accountId?: string;
  grantId?: string;
}

/**
 * The position for this grant or client, allocated on first use; extends its `valid_until`
 * to the new token's exp. Update first, then insert: an INSERT … ON CONFLICT would draw a
 * sequence value on every issuance and leave the lists sparse.
 */
export async function positionFor(sql: SqlClient, subject: StatusSubject, tokenExp: Date): Promise<StatusPosition> {
  const returning = `RETURNING (seq / ${LIST_SIZE})::int AS list, (seq % ${LIST_SIZE})::int AS idx`;
  const update = () =>
    sql.query<StatusPosition>(
      `UPDATE token_status SET valid_until = GREATEST(valid_until, $2) WHERE reference = $1 ${returning}`,
      [subject.reference, tokenExp],
    );
  let { rows } = await update();
  if (rows[0]) return rows[0];
  ({ rows } = await sql.query<StatusPosition>(
    `INSERT INTO token_status (reference, client_id, account_id, grant_id, valid_until) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (reference) DO NOTHING ${returning}`,
    [subject.reference, subject.clientId, subject.accountId ?? null, subject.grantId ?? null, tokenExp],
  ));
  if (rows[0]) return rows[0];
  // Another request allocated it between our update and insert.
  ({ rows } = await update());
  if (!rows[0]) throw new Error('could not allocate a token status position');
  return rows[0];
}

/** Drops positions whose every token has expired; returns how many. */
export async function purgeExpiredPositions(sql: SqlClient): Promise<number> {
  const { rowCount } = await sql.query(`DELETE FROM token_status WHERE valid_until < now() - interval '${EXPIRY_GRACE_SECONDS} seconds'`);
  return rowCount;
}

/**
 * When a position counts as revoked: a grant that no longer exists (revoked on the account
 * page, by code replay or refresh-token reuse, at logout, or expired), a client that is
 * suspended or deleted, a user who is disabled or deleted. Computed from current state, so
 * un-suspending a client makes its grants' tokens valid again. Over `token_status ts` joined
 * with `client c` and `"user" u`; `staticClients` is the placeholder of the static clients
 * (clients that live outside the client table, never "deleted").
 */
const revoked = (staticClients: string) => `(
          (ts.grant_id IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM oidc_payload g
              WHERE g.model = 'Grant' AND g.id = ts.grant_id AND (g.expires_at IS NULL OR g.expires_at > now())))
          OR c.suspended_at IS NOT NULL
          OR (c.id IS NULL AND NOT (ts.client_id = ANY(${staticClients}::text[])))
          OR (ts.account_id IS NOT NULL AND (u.id IS NULL OR u.disabled_at IS NOT NULL))
        )`;

/**
 * The revoked positions of list `list` (see `revoked`).
 */
export async function revokedIndexes(sql: SqlClient, list: number, staticClients: readonly string[]): Promise<number[]> {
  const { rows } = await sql.query<{ idx: number }>(
    `SELECT (ts.seq - $1)::int AS idx
       FROM token_status ts
       LEFT JOIN client c ON c.id = ts.client_id
       LEFT JOIN "user" u ON u.id = ts.account_id
      WHERE ts.seq >= $1 AND ts.seq < $2
        AND ts.valid_until >= now() - interval '${EXPIRY_GRACE_SECONDS} seconds'
        AND ${revoked('$3')}`,
    [list * LIST_SIZE, (list + 1) * LIST_SIZE, [...staticClients]],
  );
  return rows.map((r) => r.idx);
}

/**
 * Whether one position is revoked now, as the next Status List Token will say (one indexed
 * query): for token introspection, which answers from current state rather than a cached list.
 * A position that does not exist (never allocated, or purged after its tokens expired) counts as revoked.
 */
export async function isPositionRevoked(sql: SqlClient, position: StatusPosition, staticClients: readonly string[]): Promise<boolean> {
  return (await positionState(sql, position, staticClients)).revoked;
}

/**
 * isPositionRevoked, plus the account the position's tokens were issued for (in the same
 * query): introspection tells an API which user a third-party app's token, whose `sub` is
 * pairwise, is for (src/oidc/jwt-introspection-answer.ts).
 */
export async function positionState(sql: SqlClient, position: StatusPosition, staticClients: readonly string[]): Promise<{ revoked: boolean; accountId?: string }> {
  const { rows } = await sql.query<{ revoked: boolean; account_id: string | null }>(
    `SELECT ${revoked('$2')} AS revoked, ts.account_id
       FROM token_status ts
       LEFT JOIN client c ON c.id = ts.client_id
       LEFT JOIN "user" u ON u.id = ts.account_id
      WHERE ts.seq = $1`,
    [position.list * LIST_SIZE + position.idx, [...staticClients]],
  );
  const row = rows[0];
  return { revoked: row?.revoked !== false, ...(row?.account_id ? { accountId: row.account_id } : {}) };
}

/** Highest list number in use, or -1 when there is none. */
export async function lastListNumber(sql: SqlClient): Promise<number> {
  const { rows } = await sql.query<{ list: number | null }>(`SELECT (max(seq) / ${LIST_SIZE})::int AS list FROM token_status`);
  return rows[0]?.list ?? -1;
}
