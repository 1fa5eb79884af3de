import type { AdapterPayload } from 'oidc-provider';
import Provider from 'oidc-provider';
import { storableText, type SqlClient } from './sql.ts';

/**
 * Point reads of `oidc_payload` with fewer round trips, which is most of what a token request
 * costs (each one is a socket write, a wake-up of PostgreSQL and a parse on both sides):
 *
 * - Same value, several models, one query. Introspection and revocation without a
 *   `token_type_hint` look the value up as AccessToken, ClientCredentials and RefreshToken at
 *   once; the reads asked for in the same synchronous run are sent as one query. Nothing is
 *   shared with a read asked for later, so each caller sees the database as of after it asked.
 * - The grant with its token. Refresh, code exchange, introspection and userinfo read the
 *   token's Grant right after the token. The token query joins the grant, and the row is kept
 *   for the rest of that HTTP request only, for one Grant read: no later request, and no second
 *   read in the same request, is answered from it.
 */
export interface PayloadReads {
  find(model: string, id: string): Promise<AdapterPayload | undefined>;
}

interface Row {
  model: string;
  payload: AdapterPayload | string;
  consumed_at: Date | null;
  grant_id: string | null;
  grant_payload: AdapterPayload | string | null;
}

interface Waiter {
  request: object | undefined;
  resolve(payload: AdapterPayload | undefined): void;
  reject(error: unknown): void;
}

/** The Grant rows fetched with a token during one HTTP request (null: the token's grant is gone). */
const prefetchedGrants = new WeakMap<object, Map<string, AdapterPayload | null>>();

const currentRequest = (): object | undefined => (Provider as unknown as { ctx?: object }).ctx;

export function createPayloadReads(sql: SqlClient): PayloadReads {
  let pending: Map<string, Map<string, Waiter[]>> | undefined;

  const flush = (batch: Map<string, Map<string, Waiter[]>>) => {
    for (const [id, byModel] of batch) {
      const models = [...byModel.keys()];
      readTogether(sql, id, models).then(
        (rows) => {
          for (const [model, waiters] of byModel) {
            const row = rows.find((r) => r.model === model);
            const payload = row ? toPayload(row.payload, row.consumed_at) : undefined;
            for (const w of waiters) {
              if (row?.grant_id && w.request) rememberGrant(w.request, row.grant_id, row.grant_payload);
              w.resolve(payload);
            }
          }
        },
        (error) => {
          for (const waiters of byModel.values()) for (const w of waiters) w.reject(error);
        },
      );
    }
  };

  return {
    find(model, id) {
      if (!storableText(id) || !storableText(model)) return Promise.resolve(undefined);
      if (model === 'Grant') {
        const grant = takePrefetchedGrant(id);
        if (grant !== undefined) return Promise.resolve(grant ?? undefined);
      }
      return new Promise((resolve, reject) => {
        if (!pending) {
          const batch = (pending = new Map());
          queueMicrotask(() => {
            pending = undefined;
            flush(batch);
          });
        }
        let byModel = pending.get(id);
        if (!byModel) pending.set(id, (byModel = new Map()));
        const waiters = byModel.get(model) ?? [];
        waiters.push({ request: currentRequest(), resolve, reject });
        byModel.set(model, waiters);
      });
    },
  };
}

async function readTogether(sql: SqlClient, id: string, models: string[]): Promise<Row[]> {
  const placeholders = models.map((_, i) => `$${i + 2}`).join(', ');
  const { rows } = await sql.query<Row>(
    `SELECT t.model, t.payload, t.consumed_at, t.grant_id, g.payload AS grant_payload
       FROM oidc_payload t
       LEFT JOIN oidc_payload g ON g.model = 'Grant' AND g.id = t.grant_id
      WHERE t.id = $1 AND t.model IN (${placeholders})`,
    [id, ...models],
    { prepare: true },
  );
  return rows;
}

function rememberGrant(request: object, grantId: string, payload: AdapterPayload | string | null) {
  let grants = prefetchedGrants.get(request);
  if (!grants) prefetchedGrants.set(request, (grants = new Map()));
  grants.set(grantId, payload === null ? null : toPayload(payload, null));
}

/** A request that writes a grant must read it back from the database, not from what it prefetched. */
export function forgetPrefetchedGrant(grantId: string): void {
  const request = currentRequest();
  if (request) prefetchedGrants.get(request)?.delete(grantId);
}

/** undefined: nothing prefetched (read the database); null: prefetched, and there is no such grant. */
function takePrefetchedGrant(grantId: string): AdapterPayload | null | undefined {
  const request = currentRequest();
  const grants = request && prefetchedGrants.get(request);
  if (!grants?.has(grantId)) return undefined;
  const grant = grants.get(grantId)!;
  grants.delete(grantId);
  return grant;
}

export function toPayload(stored: AdapterPayload | string, consumedAt: Date | null): AdapterPayload {
  const payload = typeof stored === 'string' ? (JSON.parse(stored) as AdapterPayload) : stored;
  return consumedAt ? { ...payload, consumed: Math.floor(consumedAt.getTime() / 1000) } : payload;
}
