import type { SqlClient } from './sql.ts';

class Rollback extends Error {}

/** Runs `fn` in one transaction, rolled back when it answers undefined: all of it happens, or none. */
export async function allOrNothing<T>(sql: SqlClient, fn: (tx: SqlClient) => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await sql.transaction(async (tx) => {
      const result = await fn(tx);
      if (result === undefined) throw new Rollback();
      return result;
    });
  } catch (error) {
    if (error instanceof Rollback) return undefined;
    throw error;
  }
}
