import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { createPayloadReads, currentRequest, forgetPrefetchedGrant, toPayload, type PayloadReads } from './payload-reads.ts';
import { createRefreshRotation, type RefreshRotation } from './refresh-rotation.ts';
import { storableText, type SqlClient } from './sql.ts';
import { fromStoredPayload, localReference, storedKeyOf, storedTokenId, toStoredPayload } from './stored-ids.ts';

/**
 * oidc-provider's storage contract on the `oidc_payload` table. Raw SQL rather than Prisma
 * here: these queries sit on every token request and Prisma's per-query CPU cost would
 * dominate (see docs/operations.md). One row per (model, key): the key is the SHA-256 of a
 * bearer value and the payload is stored without it (src/storage/stored-ids.ts); grants keep
 * their id. What Latchkey itself reads, ends or revokes of these rows (a user's grants and
 * sessions, a client's tokens, the purge) is in payload-queries.ts.
 */

/** Models whose single use must hold across instances: consume only succeeds once. */
const SINGLE_USE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

/** Where DCR's Client upsert/destroy go (src/clients/dcr-client-store.ts): the client registry's tables. */
export interface ClientWriter {
  upsert(clientId: string, metadata: Record<string, unknown>): Promise<void>;
  destroy(clientId: string): Promise<void>;
}

/**
 * Where oidc-provider's Client model reads from: the client registry, which decides what
 * oidc-provider may see (src/clients/provider-client-source.ts: suspended and unapproved
 * clients). `route` names the oidc-provider route of the current request, read only if needed.
 */
export interface ClientSource {
  find(clientId: string, route: () => string | undefined): Promise<Record<string, unknown> | undefined>;
}

export function createOidcAdapterFactory(sql: SqlClient, clients: ClientSource, writer?: ClientWriter) {
  const reads = createPayloadReads(sql);
  const rotation = createRefreshRotation(sql);
  return (model: string): Adapter => {
    if (model === 'Client') return clientAdapter(clients, writer);
    return payloadAdapter(sql, reads, rotation, model);
  };
}

const UPSERT = `
  INSERT INTO oidc_payload (model, id, payload, grant_id, user_code, uid, account_id, client_id, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
  ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
    user_code = EXCLUDED.user_code, uid = EXCLUDED.uid, account_id = EXCLUDED.account_id,
    client_id = EXCLUDED.client_id, expires_at = EXCLUDED.expires_at`;

/** The parameters of UPSERT: the stored payload, and the columns it is looked up or purged by. */
function payloadRow(model: string, id: string, payload: AdapterPayload, expiresIn?: number): unknown[] {
  const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
  return [
    model,
    id,
    JSON.stringify(payload),
    payload.grantId ?? null,
    // Device flow (off in Latchkey): its user_code is looked up by hash too.
    typeof payload.userCode === 'string' ? storedTokenId(payload.userCode) : null,
    payload.uid ?? null,
    payload.accountId ?? null,
    payload.clientId ?? null,
    expiresAt,
  ];
}

function payloadAdapter(sql: SqlClient, reads: PayloadReads, rotation: RefreshRotation, model: string): Adapter {
  const keyOf = (id: string) => storedKeyOf(model, id);
  return {
    async upsert(id: string, payload: AdapterPayload, expiresIn?: number) {
      if (model === 'Grant') forgetPrefetchedGrant(id);
      const row = payloadRow(model, keyOf(id), toStoredPayload(model, id, payload), expiresIn);
      if (model === 'RefreshToken' && (await rotation.saveSuccessor(row))) return;
      await sql.query(UPSERT, row, { prepare: true });
    },

    async find(id: string) {
      const stored = await reads.find(model, keyOf(id));
      return stored && fromStoredPayload(model, id, stored);
    },

    async findByUid(uid: string) {
      // A session found by uid (not by its cookie): oidc-provider gets a reference to the row
      // as its jti, so a save or destroy of it lands on the same row.
      const row = await findOne(sql, 'model = $1 AND uid = $2', [model, uid]);
      return row && fromStoredPayload(model, localReference(row.id), row.payload);
    },

    async findByUserCode(userCode: string) {
      const row = await findOne(sql, 'model = $1 AND user_code = $2', [model, keyOf(userCode)]);
      return row && fromStoredPayload(model, localReference(row.id), row.payload);
    },

    async consume(id: string) {
      if (model === 'RefreshToken') return rotation.consume(keyOf(id));
      const { rowCount } = await sql.query(
        'UPDATE oidc_payload SET consumed_at = now() WHERE model = $1 AND id = $2 AND consumed_at IS NULL',
        [model, keyOf(id)],
        { prepare: true },
      );
      // Two instances racing on one code or refresh token both pass oidc-provider's
      // "already consumed?" check; the conditional update lets exactly one through.
      if (rowCount === 0 && SINGLE_USE.has(model)) throw new errors.InvalidGrant('grant request is invalid');
    },

    async destroy(id: string) {
      if (model === 'Grant') forgetPrefetchedGrant(id);
      await sql.query('DELETE FROM oidc_payload WHERE model = $1 AND id = $2', [model, keyOf(id)]);
    },

    async revokeByGrantId(grantId: string) {
      forgetPrefetchedGrant(grantId);
      await sql.query('DELETE FROM oidc_payload WHERE model = $1 AND grant_id = $2', [model, grantId]);
    },
  };
}

async function findOne(sql: SqlClient, where: string, params: unknown[]): Promise<{ id: string; payload: AdapterPayload } | undefined> {
  if (params.some((p) => typeof p === 'string' && !storableText(p))) return undefined;
  const { rows } = await sql.query<{ id: string; payload: AdapterPayload | string; consumed_at: Date | null }>(
    `SELECT id, payload, consumed_at FROM oidc_payload WHERE ${where} LIMIT 1`,
    params,
    { prepare: true },
  );
  const row = rows[0];
  return row ? { id: row.id, payload: toPayload(row.payload, row.consumed_at) } : undefined;
}

/**
 * The oidc-provider route of the current request, from its request store (Provider.ctx is an
 * AsyncLocalStorage getter; undefined outside a request).
 */
const currentRoute = () => (currentRequest() as { oidc?: { route?: string } } | undefined)?.oidc?.route;

/** Clients come from the client registry (Prisma tables + cache); DCR writes go to `writer`. */
function clientAdapter(clients: ClientSource, writer?: ClientWriter): Adapter {
  const readOnly = async () => {
    throw new Error('clients are managed through the client registry');
  };
  return {
    async find(id: string) {
      return (await clients.find(id, currentRoute)) as AdapterPayload | undefined;
    },
    upsert: writer ? (id: string, payload: AdapterPayload) => writer.upsert(id, payload as Record<string, unknown>) : readOnly,
    consume: readOnly,
    destroy: writer ? (id: string) => writer.destroy(id) : readOnly,
    revokeByGrantId: readOnly,
    findByUid: readOnly,
    findByUserCode: readOnly,
  };
}
