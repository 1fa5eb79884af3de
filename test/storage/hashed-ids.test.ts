/**
 * Bearer values in oidc_payload (src/storage/stored-ids.ts): the adapter stores them under
 * their SHA-256 and without the value in the payload, and finds them again by the value; the
 * migration 20261202110000_hashed_payload_ids turns rows written before into exactly what the
 * adapter now writes (same hash in SQL as in Node), so tokens issued before the upgrade keep
 * working and the stored keys themselves are no tokens.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { AdapterPayload } from 'oidc-provider';
import type { ClientSource } from '../../src/storage/oidc-adapter.ts';
import { createOidcAdapterFactory } from '../../src/storage/oidc-adapter.ts';
import { DEFAULT_MIGRATIONS_DIR, migrate } from '../../src/storage/migrator.ts';
import type { SqlClient } from '../../src/storage/sql.ts';
import { storedTokenId } from '../../src/storage/stored-ids.ts';
import { emptyDatabase, migratedDatabase, type TestDatabase } from './test-database.ts';

const HASHING_MIGRATION = '20261202110000_hashed_payload_ids';
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A database of this test's own, closed (and on PostgreSQL dropped) afterwards. */
async function opened(database: Promise<TestDatabase>): Promise<SqlClient> {
  const db = await database;
  cleanups.push(() => db.close());
  return db.sql;
}

/** The migration history up to (not including) the hashing migration. */
async function historyBeforeHashing(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'latchkey-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  for (const name of await readdir(DEFAULT_MIGRATIONS_DIR)) {
    if (name.localeCompare(HASHING_MIGRATION) < 0 || !/^\d/.test(name)) await cp(path.join(DEFAULT_MIGRATIONS_DIR, name), path.join(dir, name), { recursive: true });
  }
  return dir;
}

const insert = (sql: SqlClient, model: string, id: string, payload: object, grantId: string | null = null) =>
  sql.query(`INSERT INTO oidc_payload (model, id, payload, grant_id, expires_at) VALUES ($1, $2, $3, $4, now() + interval '1 hour')`, [
    model,
    id,
    JSON.stringify(payload),
    grantId,
  ]);

const allText = async (sql: SqlClient) => JSON.stringify((await sql.query('SELECT * FROM oidc_payload')).rows);

test('rows written before the upgrade are hashed by the migration and still found by their value', async () => {
  const sql = await opened(emptyDatabase('hashed_ids', { poolSize: 2 }));
  await migrate(sql, await historyBeforeHashing());
  const now = Math.floor(Date.now() / 1000);
  const refresh = 'rt-0123456789abcdefghijklmnopqrstuvwxyzABCDEF';
  const session = 'sess-0123456789abcdefghijklmnopqrstuvwxyzABC';
  const uid = 'uid-0123456789abcdefghijklmnopqrst';
  const par = 'par-0123456789abcdefghijklmnopqrst';
  await insert(sql, 'Grant', 'grant-1', { jti: 'grant-1', kind: 'Grant', accountId: 'a', clientId: 'c', iat: now, exp: now + 3600 });
  await insert(sql, 'RefreshToken', refresh, { jti: refresh, kind: 'RefreshToken', grantId: 'grant-1', iat: now, exp: now + 3600 }, 'grant-1');
  await insert(sql, 'Session', session, { jti: session, kind: 'Session', uid: 'session-uid', accountId: 'a', iat: now, exp: now + 3600 });
  await insert(sql, 'PushedAuthorizationRequest', par, { jti: par, kind: 'PushedAuthorizationRequest', request: 'x', iat: now, exp: now + 3600 });
  await insert(sql, 'Interaction', uid, {
    jti: uid,
    kind: 'Interaction',
    iat: now,
    exp: now + 3600,
    returnTo: `http://issuer.example/auth/${uid}`,
    session: { accountId: 'a', uid: 'session-uid', cookie: session },
    parJti: par,
  });
  await insert(sql, 'LatchkeyMfaPending', uid, { accountId: 'a' });

  await migrate(sql);

  const stored = await allText(sql);
  for (const value of [refresh, session, uid, par]) assert.ok(!stored.includes(value), `${value.slice(0, 4)}… still stored in clear`);
  assert.ok(stored.includes('grant-1'), 'grant ids are references, kept as they are');
  const { rows } = await sql.query<{ id: string }>("SELECT id FROM oidc_payload WHERE model = 'RefreshToken'");
  assert.equal(rows[0]!.id, storedTokenId(refresh), 'the SQL hash is the one Node computes');

  const adapter = createOidcAdapterFactory(sql, {} as ClientSource);
  const found = (await adapter('RefreshToken').find(refresh)) as AdapterPayload;
  assert.equal(found.jti, refresh, 'jti is given back');
  assert.equal(found.grantId, 'grant-1');
  assert.equal(await adapter('RefreshToken').find(storedTokenId(refresh)), undefined, 'the stored key is no token');
  assert.equal(((await adapter('Session').find(session)) as AdapterPayload).accountId, 'a');

  const interaction = (await adapter('Interaction').find(uid)) as AdapterPayload & { returnTo: string; parJti: string };
  assert.equal(interaction.returnTo, `http://issuer.example/auth/${uid}`, 'the resume URL is whole again');
  const pushed = (await adapter('PushedAuthorizationRequest').find(interaction.parJti)) as AdapterPayload;
  assert.equal(pushed.request, 'x', 'the interaction still leads to its pushed request');
  await adapter('PushedAuthorizationRequest').consume(interaction.parJti);
  assert.ok(((await adapter('PushedAuthorizationRequest').find(par)) as AdapterPayload).consumed, 'consumed through the reference');
});

test('what the adapter writes holds no bearer value, and a stored key is never taken as already hashed', async () => {
  const sql = await opened(migratedDatabase('hashed_ids', { poolSize: 2 }));
  const adapter = createOidcAdapterFactory(sql, {} as ClientSource);
  const now = Math.floor(Date.now() / 1000);
  const code = 'code-0123456789abcdefghijklmnopqrstuvwxyzAB';
  await adapter('AuthorizationCode').upsert(code, { jti: code, kind: 'AuthorizationCode', iat: now, exp: now + 60, grantId: 'g' }, 60);
  assert.ok(!(await allText(sql)).includes(code));
  assert.equal(((await adapter('AuthorizationCode').find(code)) as AdapterPayload).jti, code);

  const uid = 'uid-abcdefghijklmnopqrstuvwxyz0123';
  const par = 'par-abcdefghijklmnopqrstuvwxyz0123';
  await adapter('Interaction').upsert(
    uid,
    { jti: uid, kind: 'Interaction', iat: now, exp: now + 600, returnTo: `http://i.example/auth/${uid}`, session: { accountId: 'a', cookie: 'sess-abcdefghijklmnopqrstu' }, parJti: par } as AdapterPayload,
    600,
  );
  const text = await allText(sql);
  for (const value of [uid, par, 'sess-abcdefghijklmnopqrstu']) assert.ok(!text.includes(value), `${value.slice(0, 4)}… stored in clear`);
  // Someone who read the stored PAR reference cannot present it: it is hashed again.
  assert.equal(await adapter('PushedAuthorizationRequest').find(storedTokenId(par)), undefined);
  await adapter('AuthorizationCode').consume(code);
  await assert.rejects(adapter('AuthorizationCode').consume(code), /invalid_grant|grant request is invalid/);
});
