import type { Services } from '../context.ts';
import { NotFoundError } from '../errors.ts';
import { queryAudit, type AuditRow } from '../security/audit-log.ts';
import { listGrantsOfAccount } from '../storage/payload-queries.ts';
import { normalizeEmail } from './users.ts';

/**
 * What an operator reads about users (admin API, CLI, console): a paged search and one user's
 * details. Reads only; the actions are in user-admin.ts.
 *
 * The search matches an e-mail prefix. E-mails are stored lower-cased in a column of the C
 * collation whatever the database's default (migration 20261202170100), so `email LIKE 'prefix%'
 * ORDER BY email` is a range scan of the unique e-mail index: a page costs the same with 100,000
 * users as with ten.
 */
export interface UserListItem {
  id: string;
  email: string;
  roles: string[];
  disabled: boolean;
  created_at: string;
}

export interface UserPage {
  users: UserListItem[];
  /** pass as `cursor` for the following page; absent on the last one */
  next?: string;
}

export const USER_PAGE_MAX = 200;

/** `%`, `_` and `\` are LIKE's own characters: a search for "a_b" means those three letters. */
const likePrefix = (text: string) => `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export async function listUsers(services: Pick<Services, 'db'>, input: { query?: string; limit?: number; cursor?: string }): Promise<UserPage> {
  const limit = Math.min(Math.max(input.limit ?? 50, 1), USER_PAGE_MAX);
  const conditions: string[] = [];
  const params: unknown[] = [];
  const query = input.query === undefined ? '' : normalizeEmail(input.query);
  if (query) {
    params.push(likePrefix(query));
    conditions.push(`email LIKE $${params.length}`);
  }
  if (input.cursor) {
    params.push(input.cursor);
    conditions.push(`email > $${params.length}`);
  }
  params.push(limit + 1);
  const { rows } = await services.db.sql.query<{ id: string; email: string; roles: string[]; disabled_at: Date | string | null; created_at: Date | string }>(
    `SELECT id, email, roles, disabled_at, created_at FROM "user"
     ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
     ORDER BY email LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, limit);
  return {
    users: page.map((r) => ({
      id: r.id,
      email: r.email,
      roles: r.roles ?? [],
      disabled: r.disabled_at !== null,
      created_at: new Date(r.created_at).toISOString(),
    })),
    ...(rows.length > limit ? { next: page[page.length - 1]!.email } : {}),
  };
}

/**
 * The user a reference names: a user id, or an e-mail address (anything with an @). Unknown →
 * NotFoundError, the same message either way.
 */
export async function resolveUser(services: Pick<Services, 'db'>, ref: string) {
  const where = ref.includes('@') ? { email: normalizeEmail(ref) } : { id: ref };
  const row = ref.length <= 254 ? await services.db.prisma.user.findUnique({ where, select: { id: true, email: true, roles: true, disabledAt: true, createdAt: true } }) : null;
  if (!row) throw new NotFoundError(`no user ${ref}`);
  return row;
}

export interface UserDetails extends UserListItem {
  disabled_at: string | null;
  /** second factors, never their secrets */
  factors: {
    totp: boolean;
    passkeys: Array<{ id: string; name: string; created_at: string; last_used_at: string | null }>;
    recovery_codes_remaining: number;
  };
  /** signed-in browser sessions not yet expired */
  sessions: number;
  connected_apps: Array<{ client_id: string; name: string; grant_id: string; scope: string; apis: Record<string, string> }>;
  /** the newest audit events about or by this user */
  recent_events: AuditRow[];
}

export async function showUser(services: Pick<Services, 'db'>, ref: string, options: { events?: number } = {}): Promise<UserDetails> {
  const user = await resolveUser(services, ref);
  const { prisma, sql } = services.db;
  const [totp, passkeys, recovery, sessions, grants, audit] = await Promise.all([
    prisma.totpFactor.findUnique({ where: { userId: user.id }, select: { confirmedAt: true } }),
    prisma.webauthnCredential.findMany({ where: { userId: user.id }, orderBy: { createdAt: 'asc' }, select: { id: true, name: true, createdAt: true, lastUsedAt: true } }),
    prisma.recoveryCode.count({ where: { userId: user.id, usedAt: null } }),
    sql.query<{ n: number | string }>(
      "SELECT count(*) AS n FROM oidc_payload WHERE model = 'Session' AND account_id = $1 AND (expires_at IS NULL OR expires_at > now())",
      [user.id],
    ),
    listGrantsOfAccount(sql, user.id),
    queryAudit(prisma, { user: user.id, limit: options.events ?? 20 }),
  ]);
  const clientIds = [...new Set(grants.map((g) => g.clientId))];
  const names = new Map((await prisma.client.findMany({ where: { id: { in: clientIds } }, select: { id: true, name: true } })).map((c) => [c.id, c.name]));
  return {
    id: user.id,
    email: user.email,
    roles: user.roles,
    disabled: user.disabledAt !== null,
    disabled_at: user.disabledAt?.toISOString() ?? null,
    created_at: user.createdAt.toISOString(),
    factors: {
      totp: Boolean(totp?.confirmedAt),
      passkeys: passkeys.map((p) => ({ id: p.id, name: p.name, created_at: p.createdAt.toISOString(), last_used_at: p.lastUsedAt?.toISOString() ?? null })),
      recovery_codes_remaining: recovery,
    },
    sessions: Number(sessions.rows[0]?.n ?? 0),
    connected_apps: grants.map((g) => ({
      client_id: g.clientId,
      name: names.get(g.clientId) ?? g.clientId,
      grant_id: g.id,
      scope: g.openidScope,
      apis: g.resources as Record<string, string>,
    })),
    recent_events: audit.events,
  };
}
