import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import type { ClientSummary } from './client-registry.ts';

/**
 * One page of the app list for operators (the console's Apps page), newest first, with the
 * filters an operator works through: apps waiting for approval, suspended apps, and apps that ask
 * for machine scopes an operator has not approved yet. Keyset paging on (created_at, id): the
 * `next` cursor names the last row of the page, so a page costs the same at any depth.
 */
export const CLIENT_LIST_FILTERS = ['all', 'pending_approval', 'suspended', 'machine_access_pending'] as const;
export type ClientListFilter = (typeof CLIENT_LIST_FILTERS)[number];

export interface ClientListQuery {
  filter?: ClientListFilter;
  /** part of the name (case-insensitive), or the exact client id */
  search?: string;
  limit?: number;
  cursor?: string;
}

const FILTER_SQL: Record<ClientListFilter, string> = {
  all: 'TRUE',
  pending_approval: 'c.approval_pending',
  suspended: 'c.suspended_at IS NOT NULL',
  machine_access_pending: `c.metadata->'grant_types' @> '["client_credentials"]'::jsonb AND EXISTS (
      SELECT 1 FROM client_scope cs JOIN api_scope s ON s.id = cs.scope_id
      WHERE cs.client_id = c.id AND s.machine
        AND NOT EXISTS (SELECT 1 FROM client_machine_scope m WHERE m.client_id = c.id AND m.scope_id = cs.scope_id))`,
};

/** Pure: "<epoch ms>.<client id>" ⇄ the position after which the next page starts. */
export const encodeClientCursor = (createdAt: Date, id: string) => `${createdAt.getTime()}.${id}`;
export function decodeClientCursor(cursor: string): { at: Date; id: string } {
  const m = /^(\d{1,15})\.(.{1,200})$/s.exec(cursor);
  if (!m) throw new InputError('invalid cursor', 'cursor');
  return { at: new Date(Number(m[1])), id: m[2]! };
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function listClientsPage(services: Pick<Services, 'db'>, query: ClientListQuery): Promise<{ clients: ClientSummary[]; next?: string }> {
  const limit = Math.min(Math.max(query.limit ?? 25, 1), 100);
  const filter = query.filter ?? 'all';
  if (!CLIENT_LIST_FILTERS.includes(filter)) throw new InputError(`filter must be one of ${CLIENT_LIST_FILTERS.join(', ')}`, 'filter');
  const params: unknown[] = [];
  const where = [FILTER_SQL[filter]];
  if (query.search) {
    params.push(query.search, `%${escapeLike(query.search)}%`);
    where.push(`(c.id = $${params.length - 1} OR c.name ILIKE $${params.length})`);
  }
  if (query.cursor) {
    const { at, id } = decodeClientCursor(query.cursor);
    params.push(at.toISOString(), id);
    where.push(`(c.created_at, c.id) < ($${params.length - 1}::timestamptz, $${params.length})`);
  }
  params.push(limit + 1);
  const { rows } = await services.db.sql.query<{
    id: string; name: string; type: string; created_via: string; suspended_at: Date | string | null; approval_pending: boolean; created_at: Date | string; owner: string | null;
  }>(
    `SELECT c.id, c.name, c.type, c.created_via, c.suspended_at, c.approval_pending, c.created_at, u.email AS owner
     FROM client c LEFT JOIN "user" u ON u.id = c.owner_id
     WHERE ${where.join(' AND ')}
     ORDER BY c.created_at DESC, c.id DESC LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, limit);
  const clients = page.map((r): ClientSummary => ({
    client_id: r.id,
    name: r.name,
    type: r.type,
    owner: r.owner,
    created_via: r.created_via,
    status: r.suspended_at ? 'suspended' : r.approval_pending ? 'pending_approval' : 'active',
    suspended: r.suspended_at !== null,
    created_at: new Date(r.created_at).toISOString(),
  }));
  const last = page[page.length - 1];
  return { clients, ...(rows.length > limit && last ? { next: encodeClientCursor(new Date(last.created_at), last.id) } : {}) };
}
