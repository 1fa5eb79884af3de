/**
 * /readyz's answer about the database (src/readiness/database-readiness.ts) when it is not
 * ready: migrations pending (named), no answer in time, a failing query. The ready case runs
 * against a real server in test/e2e/guards.test.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { databaseReadiness } from '../../src/readiness/database-readiness.ts';
import type { SqlClient } from '../../src/storage/sql.ts';

const migrationsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prisma/migrations');
const migrationNames = readdirSync(migrationsDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

/** A database handle whose every query answers with `answer` (a fresh database: no migration table). */
function databaseAnswering(answer: () => Promise<{ rows: unknown[]; rowCount: number }>) {
  const sql: SqlClient = {
    query: answer as SqlClient['query'],
    exec: async () => assert.fail('readiness only reads'),
    transaction: async () => assert.fail('readiness only reads'),
  };
  return { db: { sql, kind: 'pglite' } } as never;
}

test('a database without the migrations applied is not ready, and every pending migration is named', async () => {
  const readiness = await databaseReadiness(databaseAnswering(async () => ({ rows: [{ present: false }], rowCount: 1 })));
  assert.ok(migrationNames.length > 0);
  assert.deepEqual(readiness, { ready: false, reason: 'migrations pending', pending: migrationNames });
});

test('a database that does not answer in time is unreachable (the probe does not hang)', async () => {
  const started = Date.now();
  const readiness = await databaseReadiness(databaseAnswering(() => new Promise(() => {})), 50);
  assert.equal(readiness.ready, false);
  assert.equal(!readiness.ready && readiness.reason, 'database unreachable');
  assert.match(String(!readiness.ready && readiness.reason === 'database unreachable' && readiness.error), /database timeout/);
  assert.ok(Date.now() - started < 2000, `answered after ${Date.now() - started} ms`);
});

test('a failing query is unreachable, with the error kept for the log', async () => {
  const refused = new Error('connection refused');
  const readiness = await databaseReadiness(databaseAnswering(() => Promise.reject(refused)));
  assert.deepEqual(readiness, { ready: false, reason: 'database unreachable', error: refused });
});
