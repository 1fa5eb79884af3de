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
 * - The grant and the account with their token. Refresh, code exchange, introspection and
 *   userinfo read the token's Grant, and then its account (findAccount), right after the token.
 *   The token query joins both, and the rows are kept for the rest of that HTTP request only:
 *   no later request is answered from them; the grant serves one read (a request that writes
 *   the grant reads it back from the database), the account every findAccount of the request.
 */
export interface PayloadReads {
  find(model: string, id: string): Promise<AdapterPayload | undefined>;
}

/** What findAccount needs of a user row. */
export interface AccountRow {
  id: string;
  email: string;
  /** the owner proved the address (sign-up, invitation, reset link) or an operator made the account */
  email_verified: boolean;
  disabled: boolean;
}

interface Row {
  model: string;
  payload: AdapterPayload | string;
  consumed_at: Date | null;
  grant_id: string | null;
  grant_payload: AdapterPayload | string | null;
  account_id: string | null;
  user_email: string | null;
  user_email_verified: boolean | null;
  user_disabled: boolean | null;
}

interface Waiter {
  request: object | undefined;
  resolve(payload: AdapterPayload | undefined): void;
  reject(error: unknown): void;
}

/** Rows fetched with a token during one HTTP request, by `grant:<id>` / `account:<id>` (null: no such row). */
const prefetched = new WeakMap<object, Map<string, AdapterPayload | AccountRow | null>>();

/** The HTTP request oidc-provider is serving in this async context (its AsyncLocalStorage), if any. */
export const currentRequest = (): object | undefined => (Provider as unknown as { ctx?: object }).ctx;

export function createPayloadReads(sql: SqlClient): PayloadReads {
  let pending: Map<string, Map<string, Waiter[]>> | undefined;

  const flush = (batch: Map<string, Map<string, Waiter[]>>) => {
    for (const [id, byModel] of batch) {
      readTogether(sql, id, [...byModel.keys()]).then(
        (rows) => {
          for (const [model, waiters] of byModel) {
            const row = rows.find((r) => r.model === model);
            const payload = row ? toPayload(row.payload, row.consumed_at) : undefined;
            for (const w of waiters) {
              if (row && w.request) rememberCompanions(w.request, row);
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
        const grant = takePrefetched<AdapterPayload>(`grant:${id}`, true);
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
    `SELECT t.model, t.payload, t.consumed_at, t.grant_id, g.payload AS grant_payload,
            t.account_id, u.email AS user_email, u.email_verified AS user_email_verified, u.disabled_at IS NOT NULL AS user_disabled
       FROM oidc_payload t
       LEFT JOIN oidc_payload g ON g.model = 'Grant' AND g.id = t.grant_id
       LEFT JOIN "user" u ON u.id = t.account_id
      WHERE t.id = $1 AND t.model IN (${placeholders})`,
    [id, ...models],
    { prepare: true },
  );
  return rows;
}

function prefetchedRows(request: object) {
  let rows = prefetched.get(request);
  if (!rows) prefetched.set(request, (rows = new Map()));
  return rows;
}

function rememberCompanions(request: object, row: Row) {
  const rows = prefetchedRows(request);
  if (row.grant_id) rows.set(`grant:${row.grant_id}`, row.grant_payload === null ? null : toPayload(row.grant_payload, null));
  if (row.account_id) {
    rows.set(`account:${row.account_id}`, row.user_email === null ? null : { id: row.account_id, email: row.user_email, email_verified: Boolean(row.user_email_verified), disabled: Boolean(row.user_disabled) });
  }
}

/**
 * undefined: nothing prefetched (read the database); null: prefetched, and there is no such row.
 * A grant is taken once (a request may write it and must then read its own write); an account
 * row stays for the request (oidc-provider's findAccount runs twice in a code exchange, and no
 * request it serves changes a user).
 */
function takePrefetched<T>(key: string, once: boolean): T | null | undefined {
  const request = currentRequest();
  const rows = request && prefetched.get(request);
  if (!rows?.has(key)) return undefined;
  const row = rows.get(key) as T | null;
  if (once) rows.delete(key);
  return row;
}

/** The account row read with this request's token, if any (see above); undefined: read it yourself. */
export const takePrefetchedAccount = (accountId: string) => takePrefetched<AccountRow>(`account:${accountId}`, false);

/** An account row findAccount has just read itself, for the rest of this request. */
export function prefetchAccount(row: AccountRow): void {
  const request = currentRequest();
  if (request) prefetchedRows(request).set(`account:${row.id}`, row);
}

/** A grant the caller has just read some other way, for this request's next Grant.find of it. */
export function prefetchGrant(grantId: string, payload: AdapterPayload): void {
  const request = currentRequest();
  if (request) prefetchedRows(request).set(`grant:${grantId}`, payload);
}

/** A request that writes a grant must read it back from the database, not from what it prefetched. */
export function forgetPrefetchedGrant(grantId: string): void {
  const request = currentRequest();
  if (request) prefetched.get(request)?.delete(`grant:${grantId}`);
}

export function toPayload(stored: AdapterPayload | string, consumedAt: Date | null): AdapterPayload {
  const payload = typeof stored === 'string' ? (JSON.parse(stored) as AdapterPayload) : stored;
  return consumedAt ? { ...payload, consumed: Math.floor(consumedAt.getTime() / 1000) } : payload;
}
