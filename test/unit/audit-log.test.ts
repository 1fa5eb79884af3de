/**
 * The audit log accepts any input (security rule 37): text is made storable (NUL, lone
 * surrogates, in every column and inside `details`, keys included), and a batch PostgreSQL
 * refuses is written row by row, so one bad event never takes another with it; a row that still
 * fails is logged by its type. Runs against an in-memory PGlite with the real audit_event table.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { auditRow, insertAuditRows, sanitizeDetails, storableText } from '../../src/security/audit-log.ts';
import { sqlFromPglite } from '../../src/storage/sql.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let pg: PGlite;

before(async () => {
  pg = new PGlite();
  // The migration that creates audit_event, as shipped.
  const migrations = path.join(repoRoot, 'prisma/migrations');
  const create = readdirSync(migrations)
    .filter((d) => !d.endsWith('.toml'))
    .sort()
    .map((d) => readFileSync(path.join(migrations, d, 'migration.sql'), 'utf8'))
    .join('\n')
    .split(/;\s*\n/)
    .map((statement) => statement.replace(/^\s*(--.*\n\s*)*/, ''))
    .filter((statement) => /^CREATE (TABLE|INDEX)[^(]*"audit_event/.test(statement));
  assert.ok(create.some((s) => /CREATE TABLE "audit_event"/.test(s)), 'the audit_event table is found in the migrations');
  for (const statement of create) await pg.exec(statement);
});

after(async () => {
  await pg?.close();
});

function recordingLogger() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => void lines.push({ level, fields, message });
  return { lines, logger: { error: at('error'), warn: at('warn'), info: at('info') } as never };
}

const HIGH = '\uD83D'; // the first half of 😀, alone
const LOW = '\uDE00';

test('storableText: NUL and lone surrogates become U+FFFD; pairs and ordinary text are kept; clipping never splits a pair', () => {
  assert.equal(storableText('a\u0000b'), 'a\uFFFDb');
  assert.equal(storableText(`x${HIGH}y${LOW}z`), 'x\uFFFDy\uFFFDz');
  assert.equal(storableText(`${LOW}${HIGH}`), '\uFFFD\uFFFD', 'a reversed pair is two lone halves');
  assert.equal(storableText('ok 😀 ünïcode\ttab'), 'ok 😀 ünïcode\ttab');
  assert.equal(storableText('😀😀', 3), '😀\uFFFD', 'cut in the middle of the second pair');
  assert.ok(storableText('\u0000'.repeat(10_000), 500).length === 500);
});

test('sanitizeDetails: hostile text is made storable in values, nested values, arrays and object keys', () => {
  const out = sanitizeDetails({ 'k\u0000ey': `v${HIGH}`, nested: { deeper: ['a\u0000', { [`${LOW}`]: 'x' }] }, n: 1 });
  assert.deepEqual(out, { 'k\uFFFDey': 'v\uFFFD', nested: { deeper: ['a\uFFFD', { '\uFFFD': 'x' }] }, n: 1 });
  const json = JSON.stringify(out);
  assert.ok(!json.includes('\\u0000') && !/\\ud[89ab]/i.test(json), json);
});

test('a hostile event is stored, sanitised, beside a valid one in the same batch', async () => {
  const { logger, lines } = recordingLogger();
  const services = { db: { sql: sqlFromPglite(pg) }, logger } as never;
  const hostile = auditRow({ type: 'token.failed', clientId: '\u0000', actor: `a${HIGH}`, userAgent: 'ua\u0000', details: { error: 'invalid_client', ['x\u0000']: [`${LOW}`] } });
  const valid = auditRow({ type: 'token.issued', clientId: 'notebook', details: { grantType: 'authorization_code' } });
  await insertAuditRows(services, [hostile, valid]);
  const { rows } = await pg.query<{ type: string; client_id: string; actor: string; details: unknown }>(
    "SELECT type, client_id, actor, details FROM audit_event WHERE type IN ('token.failed', 'token.issued') ORDER BY id",
  );
  assert.deepEqual(rows.map((r) => [r.type, r.client_id]), [['token.failed', '\uFFFD'], ['token.issued', 'notebook']]);
  assert.equal(rows[0]!.actor, 'a\uFFFD');
  assert.deepEqual(rows[0]!.details, { error: 'invalid_client', 'x\uFFFD': ['\uFFFD'] });
  assert.deepEqual(lines, [], 'nothing was refused, nothing logged');
});

test('a batch the database refuses is written row by row: the good rows land, the bad one is logged by type', async () => {
  const { logger, lines } = recordingLogger();
  const services = { db: { sql: sqlFromPglite(pg) }, logger } as never;
  const good = (n: number) => auditRow({ type: 'fallback.good', requestId: `req-${n}`, details: { n } });
  // A row that skipped the sanitiser (as a future column or producer might): PostgreSQL refuses it.
  const poisoned = { ...auditRow({ type: 'fallback.poisoned', requestId: 'req-bad' }), clientId: 'nul\u0000here' };
  await insertAuditRows(services, [good(1), poisoned, good(2), good(3)]);
  const { rows } = await pg.query<{ request_id: string }>("SELECT request_id FROM audit_event WHERE type LIKE 'fallback.%' ORDER BY id");
  assert.deepEqual(rows.map((r) => r.request_id), ['req-1', 'req-2', 'req-3']);
  const errors = lines.filter((l) => l.level === 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.fields.type, 'fallback.poisoned');
  assert.equal(errors[0]!.fields.requestId, 'req-bad');
  assert.ok(!JSON.stringify(errors[0]!.fields.type).includes('nul'), 'the refused content itself is not logged');
  assert.equal(lines.filter((l) => l.level === 'warn').length, 1, 'the fallback says once that it happened');
});

test('a single refused row (no batch to split) is logged, never thrown', async () => {
  const { logger, lines } = recordingLogger();
  const services = { db: { sql: sqlFromPglite(pg) }, logger } as never;
  await insertAuditRows(services, [{ ...auditRow({ type: 'single.poisoned' }), ip: '\u0000' }]);
  assert.deepEqual(lines.map((l) => [l.level, l.fields.type]), [['error', 'single.poisoned']]);
});
