import { errors } from 'oidc-provider';
import { currentRequest } from './payload-reads.ts';
import type { SqlClient } from './sql.ts';

/**
 * Refresh-token rotation in one statement instead of two. oidc-provider consumes the presented
 * refresh token and, a few microtasks later in the same request, saves its successor; nothing
 * is sent to the client before that save. So the consume is held until the save and both go to
 * PostgreSQL as one statement (one round trip, one commit): the successor row is inserted only
 * if this request's conditional update consumed the old one. When two requests or two
 * instances race on one refresh token, exactly one inserts a successor; the other's save
 * fails with invalid_grant and it issues nothing, as when the consume itself failed.
 *
 * If the save does not follow in the same turn of the event loop (it always does in
 * oidc-provider 9's refresh grant), the consume runs on its own then, and the save waits for
 * its result: a successor is never stored unless the consume succeeded.
 */
export interface RefreshRotation {
  consume(id: string): Promise<void>;
  /** Stores the successor with the held consume; false when no consume is held (store it normally). */
  saveSuccessor(row: unknown[]): Promise<boolean>;
}

const CONSUME = "UPDATE oidc_payload SET consumed_at = now() WHERE model = 'RefreshToken' AND id = $1 AND consumed_at IS NULL";

const CONSUME_AND_INSERT = `
  WITH consumed AS (
    UPDATE oidc_payload SET consumed_at = now()
     WHERE model = 'RefreshToken' AND id = $10 AND consumed_at IS NULL
    RETURNING 1)
  INSERT INTO oidc_payload (model, id, payload, grant_id, user_code, uid, account_id, client_id, expires_at)
  SELECT $1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9::timestamptz FROM consumed`;

interface HeldConsume {
  id: string;
  ranAlone?: Promise<boolean>;
}

const alreadyUsed = () => new errors.InvalidGrant('grant request is invalid');

export function createRefreshRotation(sql: SqlClient): RefreshRotation {
  const held = new WeakMap<object, HeldConsume>();
  const consumeNow = async (id: string) => (await sql.query(CONSUME, [id], { prepare: true })).rowCount > 0;

  return {
    async consume(id) {
      const request = currentRequest();
      if (!request) {
        if (!(await consumeNow(id))) throw alreadyUsed();
        return;
      }
      const entry: HeldConsume = { id };
      held.set(request, entry);
      setImmediate(() => {
        if (held.get(request) !== entry) return;
        entry.ranAlone = consumeNow(id);
        entry.ranAlone.catch(() => {}); // awaited by the save, if one comes
      });
    },

    async saveSuccessor(row) {
      const request = currentRequest();
      const entry = request && held.get(request);
      if (!entry) return false;
      held.delete(request);
      if (entry.ranAlone) {
        if (!(await entry.ranAlone)) throw alreadyUsed();
        return false;
      }
      const { rowCount } = await sql.query(CONSUME_AND_INSERT, [...row, entry.id], { prepare: true });
      if (rowCount === 0) throw alreadyUsed();
      return true;
    },
  };
}
