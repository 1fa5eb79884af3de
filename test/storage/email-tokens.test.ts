/**
 * The e-mailed links (src/accounts/email-token-queries.ts) against a migrated database (PGlite,
 * or TEST_DATABASE_URL: test-database.ts): only the hash is stored; a link works until it expires, once,
 * and only while it is the newest of its kind for the account; a use that fails half-way is
 * rolled back whole; expired ones are purged a day later.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { markVerified } from '../../src/accounts/user-queries.ts';
import { allOrNothing } from '../../src/storage/all-or-nothing.ts';
import { consumeEmailToken, findEmailToken, issueEmailToken, purgeEmailTokens } from '../../src/accounts/email-token-queries.ts';
import type { SqlClient } from '../../src/storage/sql.ts';
import { storedTokenId } from '../../src/storage/stored-ids.ts';
import { migratedDatabase, type TestDatabase } from './test-database.ts';

let db: TestDatabase;
let sql: SqlClient;

before(async () => {
  db = await migratedDatabase('email_tokens');
  sql = db.sql;
});

after(async () => db?.close());

async function newUser(verified = false) {
  const id = randomUUID();
  const email = `${id}@example.com`;
  await sql.query('INSERT INTO "user" (id, email, password_hash, email_verified, updated_at) VALUES ($1, $2, $3, $4, now())', [id, email, 'x', verified]);
  return { id, email };
}

test('an existing account counts as verified: the migration defaults the column to true', async () => {
  const id = randomUUID();
  await sql.query('INSERT INTO "user" (id, email, password_hash, updated_at) VALUES ($1, $2, $3, now())', [id, `${id}@example.com`, 'x']);
  const { rows } = await sql.query<{ email_verified: boolean }>('SELECT email_verified FROM "user" WHERE id = $1', [id]);
  assert.equal(rows[0]!.email_verified, true);
});

test('only the SHA-256 of the token is stored; the link works once', async () => {
  const user = await newUser();
  const { token } = await issueEmailToken(sql, { purpose: 'verify-email', userId: user.id, email: user.email, returnTo: 'abcdefgh12345678' });
  const { rows } = await sql.query<{ id: string }>('SELECT id FROM email_token WHERE user_id = $1', [user.id]);
  assert.deepEqual(rows.map((r) => r.id), [storedTokenId(token)]);
  assert.equal((await findEmailToken(sql, 'verify-email', token))?.returnTo, 'abcdefgh12345678');
  assert.equal(await findEmailToken(sql, 'reset-password', token), undefined, 'a link is for one purpose');
  assert.ok(await consumeEmailToken(sql, 'verify-email', token));
  assert.equal(await consumeEmailToken(sql, 'verify-email', token), undefined);
  assert.equal(await findEmailToken(sql, 'verify-email', token), undefined);
});

test('of two concurrent uses, one wins', async () => {
  const user = await newUser();
  const { token } = await issueEmailToken(sql, { purpose: 'reset-password', userId: user.id, email: user.email });
  const outcomes = await Promise.all(Array.from({ length: 6 }, () => sql.transaction((tx) => consumeEmailToken(tx, 'reset-password', token))));
  assert.equal(outcomes.filter(Boolean).length, 1);
});

test('an expired link does nothing; it is purged a day after it expired', async () => {
  const user = await newUser();
  const { token } = await issueEmailToken(sql, { purpose: 'reset-password', userId: user.id, email: user.email });
  await sql.query("UPDATE email_token SET expires_at = now() - interval '1 second' WHERE id = $1", [storedTokenId(token)]);
  assert.equal(await findEmailToken(sql, 'reset-password', token), undefined);
  assert.equal(await consumeEmailToken(sql, 'reset-password', token), undefined);
  assert.equal(await purgeEmailTokens(sql) >= 0, true);
  assert.ok((await sql.query('SELECT 1 FROM email_token WHERE id = $1', [storedTokenId(token)])).rows.length, 'kept for a day');
  await sql.query("UPDATE email_token SET expires_at = now() - interval '25 hours' WHERE id = $1", [storedTokenId(token)]);
  assert.ok((await purgeEmailTokens(sql)) >= 1);
  assert.equal((await sql.query('SELECT 1 FROM email_token WHERE id = $1', [storedTokenId(token)])).rows.length, 0);
});

test('a newer link replaces the older one of the same purpose, not the others', async () => {
  const user = await newUser();
  const first = await issueEmailToken(sql, { purpose: 'reset-password', userId: user.id, email: user.email });
  const other = await issueEmailToken(sql, { purpose: 'verify-email', userId: user.id, email: user.email });
  const second = await issueEmailToken(sql, { purpose: 'reset-password', userId: user.id, email: user.email });
  assert.equal(await findEmailToken(sql, 'reset-password', first.token), undefined);
  assert.ok(await findEmailToken(sql, 'reset-password', second.token));
  assert.ok(await findEmailToken(sql, 'verify-email', other.token));
});

test('malformed tokens (wrong length, NUL, not a string) find nothing and raise nothing', async () => {
  for (const token of ['', 'short', 'a'.repeat(44), `${'a'.repeat(42)}\u0000`, ['x'], undefined, 42]) {
    assert.equal(await findEmailToken(sql, 'invite', token), undefined);
  }
});

test('a use that cannot complete rolls back: the link still works afterwards', async () => {
  const user = await newUser();
  const { token } = await issueEmailToken(sql, { purpose: 'verify-email', userId: user.id, email: user.email });
  // The address changed since the link was sent: the confirmation must not go through, nor burn the link silently.
  const outcome = await allOrNothing(sql, async (tx) => {
    const used = await consumeEmailToken(tx, 'verify-email', token);
    return used && (await markVerified(tx, used.userId, 'another@example.com')) ? used : undefined;
  });
  assert.equal(outcome, undefined);
  assert.ok(await findEmailToken(sql, 'verify-email', token), 'rolled back: still unused');
  const { rows } = await sql.query<{ email_verified: boolean }>('SELECT email_verified FROM "user" WHERE id = $1', [user.id]);
  assert.equal(rows[0]!.email_verified, false);
});

test('deleting the account deletes its links', async () => {
  const user = await newUser();
  await issueEmailToken(sql, { purpose: 'invite', userId: user.id, email: user.email });
  await sql.query('DELETE FROM "user" WHERE id = $1', [user.id]);
  assert.equal((await sql.query('SELECT 1 FROM email_token WHERE user_id = $1', [user.id])).rows.length, 0);
});
