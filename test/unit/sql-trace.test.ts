/**
 * The statement trace npm test compares its two passes with (src/storage/sql-trace.ts,
 * test/support/sql-coverage.ts): one shape per statement whatever its values, and the
 * comparison names what only one pass ran.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { sqlTracer, statementShape, tracedSql } from '../../src/storage/sql-trace.ts';
import type { SqlClient } from '../../src/storage/sql.ts';
import { missingFrom, statementsIn } from '../support/sql-coverage.ts';

test('a statement has one shape whatever its values, list lengths, rows or page size', () => {
  assert.equal(statementShape('SELECT *\n   FROM t WHERE id = $1 AND x IN ($2, $3,$4)'), 'SELECT * FROM t WHERE id = $ AND x IN ($…)');
  assert.equal(statementShape('INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)'), statementShape('INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)'));
  assert.equal(statementShape('SELECT 1 FROM t LIMIT 26'), statementShape('SELECT 1 FROM t LIMIT 501'));
  assert.notEqual(statementShape('SELECT a FROM t WHERE id = $1'), statementShape('SELECT b FROM t WHERE id = $1'));
});

test('each process writes each shape once, in its own file; the comparison names what PostgreSQL never ran and where it ran', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-trace-test-'));
  try {
    const trace = sqlTracer(path.join(dir, 'pglite', 'a.test.ts'));
    trace('SELECT 1 FROM t WHERE id = $1');
    trace('SELECT 1\n FROM t WHERE id = $2');
    trace('DELETE FROM t WHERE id = $1');
    trace('-- Implicit "COMMIT" query via underlying driver');
    const [file] = readdirSync(path.join(dir, 'pglite', 'a.test.ts'));
    assert.equal(file, `${process.pid}.sql`);
    assert.deepEqual(readFileSync(path.join(dir, 'pglite', 'a.test.ts', file!), 'utf8').split('\n').filter(Boolean), ['SELECT 1 FROM t WHERE id = $', 'DELETE FROM t WHERE id = $']);

    sqlTracer(path.join(dir, 'postgres', 'b.test.ts'))('SELECT 1 FROM t WHERE id = $1');
    const missing = missingFrom(statementsIn(path.join(dir, 'postgres')), statementsIn(path.join(dir, 'pglite')));
    assert.deepEqual(missing, [{ shape: 'DELETE FROM t WHERE id = $', files: ['a.test.ts'] }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('someone reading a trace finds statement texts, never a value sent with them (a password hash, a token id)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-trace-test-'));
  try {
    const sent: unknown[] = [];
    const client: SqlClient = {
      async query(_text, params) {
        sent.push(...(params ?? []));
        return { rows: [], rowCount: 0 };
      },
      async exec() {},
      transaction: (fn) => fn(client),
    };
    const sql = tracedSql(client, sqlTracer(path.join(dir, 'pass', 'x.test.ts')));
    await sql.query('UPDATE "user" SET password_hash = $2 WHERE id = $1', ['user-1', '$argon2id$v=19$SECRET-HASH']);
    await sql.transaction((tx) => tx.query('DELETE FROM email_token WHERE id = $1', ['TOKEN-ID-SECRET']));
    assert.deepEqual(sent, ['user-1', '$argon2id$v=19$SECRET-HASH', 'TOKEN-ID-SECRET'], 'the values still reach the database');
    const written = readFileSync(path.join(dir, 'pass', 'x.test.ts', `${process.pid}.sql`), 'utf8');
    assert.equal(written, 'UPDATE "user" SET password_hash = $ WHERE id = $\nDELETE FROM email_token WHERE id = $\n');
    assert.equal(tracedSql(client, undefined), client, 'without a tracer, the client itself');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
