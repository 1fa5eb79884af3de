import type { Services } from '../context.ts';
import type { Prisma } from '../storage/database.ts';
import type { SecurityEvent } from './security-events.ts';

/**
 * The audit log: every SecurityEvent appended to `audit_event`. Append-only — nothing updates a
 * row; rows leave only through the retention purge. Whatever a producer puts in `details` is
 * sanitised once more here: keys that name secrets are dropped and anything token-shaped is
 * replaced, so a careless producer cannot write a secret into the trail.
 */
const SECRET_KEY = /(secret|password|passwd|credential|assertion|verifier|cookie|authorization|^code$|^token$|_token$|Token$|jwt|otp|totp_code|recovery)/i;
const TOKEN_SHAPED = /^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*$|^[A-Za-z0-9_-]{40,}$/;

/** NUL, or a surrogate half without its other half (String.prototype.toWellFormed is ES2024). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text PostgreSQL can store: `text` and `jsonb` refuse NUL ("unsupported Unicode escape
 * sequence", "invalid byte sequence … 0x00") and jsonb refuses lone surrogates. Both become
 * U+FFFD, so a hostile value (`client_id=%00`) is still recorded, visibly altered. Clipping
 * happens first: cutting a string can split a surrogate pair, and the sanitising repairs that.
 */
export function storableText(value: string, maxLength = 500): string {
  return value.slice(0, maxLength).replace(UNSTORABLE, '\uFFFD');
}


export function sanitizeDetails(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === 'string') return TOKEN_SHAPED.test(value) ? '[redacted]' : storableText(value, 500);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Date) return value.toISOString();
  if (depth > 4) return '[truncated]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => sanitizeDetails(v, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>).slice(0, 50)) {
      if (SECRET_KEY.test(key)) continue;
      out[storableText(key, 100)] = sanitizeDetails(v, depth + 1);
    }
    return out;
  }
  return storableText(String(value), 200);
}

const clip = (v: string | undefined, n = 300) => (v === undefined ? null : storableText(v, n));

export interface AuditRecorder {
  /** Resolves when every event received so far is written. */
  flush(): Promise<void>;
  stop(): void;
}

/** Subscribes the audit table to `services.events`. */
/**
 * Events are written in batches (one multi-row INSERT every FLUSH_MS, or sooner when many are
 * waiting), off the request path: issuing a token must not wait for its audit row. A batch not
 * yet written when the process is killed is lost (at most FLUSH_MS of events); a clean stop
 * flushes.
 */
const FLUSH_MS = 250;
const MAX_BATCH = 500;

export function recordAuditEvents(services: Pick<Services, 'db' | 'events' | 'logger'>): AuditRecorder {
  let buffer: Array<SecurityEvent & { at?: Date }> = [];
  let timer: NodeJS.Timeout | undefined;
  const pending = new Set<Promise<unknown>>();

  const write = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!buffer.length) return;
    const batch = buffer;
    buffer = [];
    const done = insertAuditRows(services, batch.map(auditRow)).finally(() => pending.delete(done));
    pending.add(done);
  };

  const off = services.events.on((event) => {
    buffer.push(event);
    if (buffer.length >= MAX_BATCH) write();
    else timer ??= setTimeout(write, FLUSH_MS);
  });
  return {
    async flush() {
      write();
      await Promise.all([...pending]);
    },
    stop: () => {
      off();
      write();
    },
  };
}

type AuditRowData = ReturnType<typeof auditRow>;

/**
 * Writes a batch in one statement; if PostgreSQL refuses it (one row it cannot store refuses the
 * whole statement), each row is written on its own, so one bad event never takes the others
 * with it. A row that still fails is logged by its type and request id (never its content, which
 * may be what the database refused) and dropped. Never rejects.
 */
export async function insertAuditRows(services: Pick<Services, 'db' | 'logger'>, rows: AuditRowData[]): Promise<void> {
  if (!rows.length) return;
  try {
    await insertAuditBatch(services.db.sql, rows);
    return;
  } catch (err) {
    if (rows.length === 1) return logLostRow(services, rows[0]!, err);
    services.logger.warn({ err, events: rows.length }, 'audit batch refused: writing its events one by one');
  }
  for (const row of rows) {
    await insertAuditBatch(services.db.sql, [row]).catch((err) => logLostRow(services, row, err));
  }
}

function logLostRow(services: Pick<Services, 'logger'>, row: AuditRowData, err: unknown): void {
  services.logger.error({ err, type: row.type, requestId: row.requestId }, 'could not write an audit event');
}

/**
 * One statement and one parameter for the whole batch: cheaper than Prisma's createMany, which
 * binds every column of every row separately.
 */
async function insertAuditBatch(sql: Services['db']['sql'], rows: AuditRowData[]): Promise<void> {
  const records = rows.map((row) => ({
    at: row.at.toISOString(), type: row.type, actor: row.actor, user_id: row.userId, client_id: row.clientId, ip: row.ip,
    user_agent: row.userAgent, request_id: row.requestId, details: row.details,
  }));
  await sql.query(
    `INSERT INTO audit_event (at, type, actor, user_id, client_id, ip, user_agent, request_id, details)
     SELECT at, type, actor, user_id, client_id, ip, user_agent, request_id, details
     FROM jsonb_to_recordset($1::jsonb) AS r(at timestamptz, type text, actor text, user_id text, client_id text, ip text, user_agent text, request_id text, details jsonb)`,
    [JSON.stringify(records)],
  );
}

/** An event as a row every column of which PostgreSQL accepts (see storableText). */
export function auditRow(event: SecurityEvent & { at?: Date }) {
  return {
    at: event.at instanceof Date && !Number.isNaN(event.at.getTime()) ? event.at : new Date(),
    type: storableText(String(event.type), 100),
    actor: clip(event.actor, 200),
    userId: clip(event.userId, 200),
    clientId: clip(event.clientId, 200),
    ip: clip(event.ip, 100),
    userAgent: clip(event.userAgent),
    requestId: clip(event.requestId, 100),
    details: (sanitizeDetails(event.details ?? {}) ?? {}) as object,
  };
}

export interface AuditQuery {
  type?: string;
  user?: string;
  client?: string;
  /** the client address the event came from, exactly */
  ip?: string;
  since?: Date;
  until?: Date;
  limit?: number;
  /** opaque: the `next` of the previous page */
  cursor?: string;
}

export interface AuditRow {
  id: string;
  at: string;
  type: string;
  actor: string | null;
  userId: string | null;
  clientId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: unknown;
}

/**
 * Newest first: by time, then id (`at DESC, id DESC`). `type` matches exactly or, ending in `.*`,
 * as a prefix (`signin.*`); `user` matches the subject or the actor. Paging by keyset: `next` is
 * the cursor of the following page (the time and id of this page's last event), absent on the
 * last one.
 *
 * Why time first and not id alone: with 1,000,000 events, a window in the past (`since` and
 * `until` ten days back) read newest-id-first had to skip every newer event (0.8 s on
 * PostgreSQL); in time order each filter is a backward scan of its (column, at) index that starts
 * at the window or the cursor — the audit table's indexes are (at), (type, at), (user_id, at),
 * (actor, at), (client_id, at) and (ip, at). The user filter is two such scans merged (subject,
 * then actor on events with another subject), not one OR that no index serves in order.
 */
export async function queryAudit(prisma: Prisma, query: AuditQuery): Promise<{ events: AuditRow[]; next?: string }> {
  const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const conditions: string[] = [];
  if (query.type) conditions.push(query.type.endsWith('.*') ? `type LIKE ${param(likePrefix(query.type.slice(0, -1)))}` : `type = ${param(query.type)}`);
  if (query.client) conditions.push(`client_id = ${param(query.client)}`);
  if (query.ip) conditions.push(`ip = ${param(query.ip)}`);
  if (query.since) conditions.push(`at >= ${param(storableTime(query.since))}::timestamptz`);
  if (query.until) conditions.push(`at < ${param(storableTime(query.until))}::timestamptz`);
  if (query.cursor) {
    const { at, id } = parseCursor(query.cursor);
    conditions.push(`(at, id) < (${param(storableTime(at))}::timestamptz, ${param(id)}::bigint)`);
  }
  const order = `ORDER BY at DESC, id DESC LIMIT ${limit + 1}`;
  const select = (extra: string[]) => {
    const where = [...conditions, ...extra];
    return `SELECT ${AUDIT_COLUMNS} FROM audit_event ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ${order}`;
  };
  let statement: string;
  if (query.user) {
    const user = param(query.user);
    statement = `SELECT * FROM ((${select([`user_id = ${user}`])}) UNION ALL (${select([`actor = ${user}`, `user_id IS DISTINCT FROM ${user}`])})) AS t ${order}`;
  } else statement = select([]);
  const rows = await prisma.$queryRawUnsafe<RawAuditRow[]>(statement, ...params);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    events: page.map((r) => ({ ...r, id: r.id.toString(), at: new Date(r.at).toISOString() })),
    ...(rows.length > limit && last ? { next: `${new Date(last.at).getTime()}-${last.id.toString()}` } : {}),
  };
}

const AUDIT_COLUMNS = 'id, at, type, actor, user_id AS "userId", client_id AS "clientId", ip, user_agent AS "userAgent", request_id AS "requestId", details';

/** A row as the driver returns it: the id and time not yet in their API form. */
type RawAuditRow = Omit<AuditRow, 'id' | 'at'> & { id: bigint | number | string; at: Date | string };

/** Years 1 to 9999 only: PostgreSQL refuses what toISOString writes beyond (a 400, not a 500). */
function storableTime(date: Date): string {
  const t = date.getTime();
  if (!(t >= -62_135_596_800_000 && t <= 253_402_300_799_999)) throw new AuditQueryError('invalid time (years 1 to 9999)');
  return date.toISOString();
}

/** `<milliseconds since 1970>-<id>`, as `next` gives it; anything else is refused. */
function parseCursor(cursor: string): { at: Date; id: string } {
  const match = /^(\d{1,15})-(\d{1,19})$/.exec(cursor);
  const at = match ? new Date(Number(match[1])) : undefined;
  if (!match || !at || Number.isNaN(at.getTime()) || BigInt(match[2]!) > 9_223_372_036_854_775_807n) throw new AuditQueryError('invalid cursor');
  return { at, id: match[2]! };
}

/** `%`, `_` and `\` are LIKE's own characters: a prefix "a_b" means those three letters. */
const likePrefix = (text: string) => `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class AuditQueryError extends Error {}

/** Deletes audit events older than the retention period; returns how many. */
export async function purgeAuditEvents(prisma: Prisma, retentionDays: number, now = Date.now()): Promise<number> {
  const { count } = await prisma.auditEvent.deleteMany({ where: { at: { lt: new Date(now - retentionDays * 86_400_000) } } });
  return count;
}

/** "2h", "7d", "30m", or an ISO date → a Date. */
export function parseSince(value: string, now = Date.now()): Date {
  const relative = /^(\d{1,6})([smhd])$/.exec(value);
  if (relative) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(relative[1]) * unit * 1000);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new AuditQueryError(`invalid time "${value}" (use e.g. 2h, 7d or an ISO date)`);
  return date;
}
