import type { Services } from '../context.ts';
import { OAUTH_THROTTLED } from './throttle-tally.ts';

/**
 * The operator console's dashboard figures (docs/operator-console.md), counted from the audit
 * log alone, so each one is what `latchkey audit --type <type> --since <window>` lists for the
 * same window: nothing here is estimated or kept elsewhere.
 */
export const DASHBOARD_WINDOWS = {
  '1h': { label: 'Last hour', seconds: 3600, bucketSeconds: 300 },
  '24h': { label: 'Last 24 hours', seconds: 86_400, bucketSeconds: 3600 },
  '7d': { label: 'Last 7 days', seconds: 7 * 86_400, bucketSeconds: 6 * 3600 },
} as const;
export type DashboardWindow = keyof typeof DASHBOARD_WINDOWS;

/**
 * The event types the dashboard counts, each one figure (`latchkey audit --type <type>`). An
 * `oauth.throttled` event stands for many refusals (src/security/throttle-tally.ts): it counts
 * as its `details.count`, every other event as one.
 */
export const COUNTED_TYPES = [
  'token.issued',
  'signin.success',
  'signin.failure',
  'signin.mfa.failure',
  'signin.throttled',
  'signin.locked',
  'oauth.throttled',
  'suspension.created',
] as const;
export type CountedType = (typeof COUNTED_TYPES)[number];

/** Active users: distinct users with a sign-in or a token issued for them in the window. */
export const ACTIVE_USER_TYPES = ['signin.success', 'token.issued'] as const;

export interface LabelledCount {
  label: string;
  /** an id to link to (client id, audience), when the label names one */
  id?: string;
  value: number;
}

export interface DashboardFigures {
  window: DashboardWindow;
  since: string;
  until: string;
  bucketSeconds: number;
  /** per counted type: its total in the window */
  totals: Record<CountedType, number>;
  /** per counted type: its count in each bucket, oldest first */
  series: Record<CountedType, number[]>;
  tokensByGrantType: LabelledCount[];
  activeUsers: number;
  topApps: LabelledCount[];
  topApis: LabelledCount[];
}

const TOP = 8;

export async function dashboardFigures(services: Pick<Services, 'db'>, window: DashboardWindow, now = new Date()): Promise<DashboardFigures> {
  const { seconds, bucketSeconds } = DASHBOARD_WINDOWS[window];
  const until = now;
  const since = new Date(now.getTime() - seconds * 1000);
  const buckets = Math.ceil(seconds / bucketSeconds);
  const range = [since.toISOString(), until.toISOString()];
  const sql = services.db.sql;

  // Each query reads the (type, at) index: one type, one time range.
  const [counts, grantTypes, active, apps, apis] = await Promise.all([
    sql.query<{ type: string; bucket: number; n: number | string }>(
      `SELECT type, floor(extract(epoch FROM (at - $1::timestamptz)) / $3)::int AS bucket,
              sum(CASE WHEN type = '${OAUTH_THROTTLED}' AND jsonb_typeof(details->'count') = 'number' THEN (details->>'count')::numeric ELSE 1 END) AS n
       FROM audit_event WHERE type = ANY($4::text[]) AND at >= $1::timestamptz AND at < $2::timestamptz
       GROUP BY 1, 2`,
      [...range, bucketSeconds, COUNTED_TYPES],
    ),
    sql.query<{ label: string; n: number | string }>(
      `SELECT coalesce(details->>'grantType', 'unknown') AS label, count(*) AS n
       FROM audit_event WHERE type = 'token.issued' AND at >= $1::timestamptz AND at < $2::timestamptz
       GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${TOP}`,
      range,
    ),
    sql.query<{ n: number | string }>(
      `SELECT count(DISTINCT user_id) AS n
       FROM audit_event WHERE type = ANY($3::text[]) AND at >= $1::timestamptz AND at < $2::timestamptz AND user_id IS NOT NULL`,
      [...range, ACTIVE_USER_TYPES],
    ),
    sql.query<{ id: string; name: string | null; n: number | string }>(
      `SELECT t.client_id AS id, c.name, t.n FROM (
         SELECT client_id, count(*) AS n FROM audit_event
         WHERE type = 'token.issued' AND at >= $1::timestamptz AND at < $2::timestamptz AND client_id IS NOT NULL
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${TOP}
       ) t LEFT JOIN client c ON c.id = t.client_id ORDER BY t.n DESC, t.client_id`,
      range,
    ),
    // A token's audience is one resource (a string) or, rarely, a list: its first entry counts.
    sql.query<{ id: string; name: string | null; n: number | string }>(
      `SELECT t.audience AS id, a.name, t.n FROM (
         SELECT CASE jsonb_typeof(details->'audience') WHEN 'string' THEN details->>'audience' WHEN 'array' THEN details->'audience'->>0 END AS audience,
                count(*) AS n
         FROM audit_event WHERE type = 'token.issued' AND at >= $1::timestamptz AND at < $2::timestamptz
         GROUP BY 1 HAVING CASE jsonb_typeof(details->'audience') WHEN 'string' THEN details->>'audience' WHEN 'array' THEN details->'audience'->>0 END IS NOT NULL
         ORDER BY 2 DESC, 1 LIMIT ${TOP}
       ) t LEFT JOIN api a ON a.audience = t.audience ORDER BY t.n DESC, t.audience`,
      range,
    ),
  ]);

  const totals = Object.fromEntries(COUNTED_TYPES.map((t) => [t, 0])) as Record<CountedType, number>;
  const series = Object.fromEntries(COUNTED_TYPES.map((t) => [t, new Array<number>(buckets).fill(0)])) as Record<CountedType, number[]>;
  for (const row of counts.rows) {
    const type = row.type as CountedType;
    const n = Number(row.n);
    totals[type] += n;
    series[type][Math.min(Math.max(row.bucket, 0), buckets - 1)]! += n;
  }
  return {
    window,
    since: since.toISOString(),
    until: until.toISOString(),
    bucketSeconds,
    totals,
    series,
    tokensByGrantType: grantTypes.rows.map((r) => ({ label: r.label, value: Number(r.n) })),
    activeUsers: Number(active.rows[0]?.n ?? 0),
    topApps: apps.rows.map((r) => ({ label: r.name ?? r.id, id: r.id, value: Number(r.n) })),
    topApis: apis.rows.map((r) => ({ label: r.name ?? r.id, id: r.id, value: Number(r.n) })),
  };
}
