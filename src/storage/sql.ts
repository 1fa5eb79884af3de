import { createHash } from 'node:crypto';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { Pool, PoolClient } from 'pg';

/**
 * The few raw-SQL operations Latchkey needs beside Prisma (migrations, the hot-path
 * oidc-provider adapter, LISTEN/NOTIFY), over either PGlite or a pg Pool.
 */
export interface QueryOptions {
  /**
   * A fixed statement on a hot path: on a PostgreSQL server it is parsed and planned once per
   * connection (a named prepared statement) instead of on every call. Only for texts drawn from
   * a small fixed set, since every distinct text stays prepared on every pooled connection.
   */
  prepare?: boolean;
}

export interface SqlClient {
  query<T = Record<string, unknown>>(text: string, params?: unknown[], options?: QueryOptions): Promise<{ rows: T[]; rowCount: number }>;
  /** Runs a script of several statements (no parameters). */
  exec(script: string): Promise<void>;
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
}

type PgliteLike = PGlite | Transaction;

export function sqlFromPglite(db: PgliteLike): SqlClient {
  return {
    async query<T>(text: string, params?: unknown[]) {
      const result = await db.query<T>(text, params as unknown[]);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(script) {
      await db.exec(script);
    },
    async transaction(fn) {
      if (!('transaction' in db)) return fn(sqlFromPglite(db));
      return (db as PGlite).transaction((tx) => fn(sqlFromPglite(tx)));
    },
  };
}

const statementNames = new Map<string, string>();
const statementName = (text: string) => {
  let name = statementNames.get(text);
  if (!name) statementNames.set(text, (name = `latchkey_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`));
  return name;
};

export function sqlFromPgPool(pool: Pool | PoolClient): SqlClient {
  return {
    async query<T>(text: string, params?: unknown[], options?: QueryOptions) {
      const result = await pool.query(options?.prepare ? { name: statementName(text), text, values: params } : { text, values: params });
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    },
    async exec(script) {
      await pool.query(script);
    },
    async transaction(fn) {
      if (!('connect' in pool) || typeof (pool as Pool).totalCount !== 'number') return fn(sqlFromPgPool(pool));
      const client = await (pool as Pool).connect();
      try {
        await client.query('BEGIN');
        const result = await fn(sqlFromPgPool(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

/**
 * PostgreSQL text cannot hold NUL, so a lookup by a caller-supplied value containing one would
 * fail with a server error. Such a value can match nothing: callers answer "not found" instead.
 */
export function storableText(value: string): boolean {
  return !value.includes('\u0000');
}
