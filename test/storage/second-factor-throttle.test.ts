/**
 * Issue 11 item 9: second-factor codes guessed slowly still run out. Four wrong codes every five
 * minutes never reach the per-window lock (five), so the count of wrong codes in a row, at any
 * pace, is what stops them: the 101st code in a row is not checked until a success. Runs the
 * real statements against a migrated database (PGlite, or TEST_DATABASE_URL: test-database.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { beginSecondFactorAttempt, recordSecondFactorFailure, recordSecondFactorSuccess } from '../../src/security/second-factor-lockout.ts';
import { SECOND_FACTOR_MAX_CONSECUTIVE } from '../../src/security/second-factor-lockout.ts';
import type { SqlClient } from '../../src/storage/sql.ts';
import { migratedDatabase, type TestDatabase } from './test-database.ts';

let db: TestDatabase;
let sql: SqlClient;

before(async () => {
  db = await migratedDatabase('throttle', { poolSize: 2 });
  sql = db.sql;
});

after(async () => db?.close());

const deps = () => ({ db: { sql } }) as never;

/** One code attempt at `now`; true when the code was checked (and was wrong). */
async function wrongCode(userId: string, now: Date): Promise<boolean> {
  const gate = await beginSecondFactorAttempt(deps(), userId, now);
  if (!gate.allowed) return false;
  await recordSecondFactorFailure(deps(), userId, now);
  return true;
}

test('four wrong codes every five minutes: checked at most 100 times in a row, then none until a success', async () => {
  const userId = `user-${randomBytes(4).toString('hex')}`;
  let now = Date.parse('2026-12-01T00:00:00Z');
  let checked = 0;
  // A day at the patient guesser's pace: 288 windows of five minutes, 4 codes each (1,152 tries).
  for (let window = 0; window < 288; window++) {
    for (let i = 0; i < 4; i++) if (await wrongCode(userId, new Date(now + i * 1000))) checked++;
    now += 301_000; // just past the window, so the window alone never locks
  }
  assert.equal(checked, SECOND_FACTOR_MAX_CONSECUTIVE);
  const refused = await beginSecondFactorAttempt(deps(), userId, new Date(now + 7 * 86_400_000));
  assert.deepEqual(refused, { allowed: false, retryAfterSeconds: Number.POSITIVE_INFINITY }, 'still refused a week later');

  // A success by another factor (a passkey) ends the run: codes are checked again.
  await recordSecondFactorSuccess(deps(), userId);
  assert.deepEqual(await beginSecondFactorAttempt(deps(), userId, new Date(now)), { allowed: true });
});

test('the per-window lock still comes first: five wrong codes quickly lock for five minutes', async () => {
  const userId = `user-${randomBytes(4).toString('hex')}`;
  const now = Date.parse('2026-12-01T00:00:00Z');
  for (let i = 0; i < 5; i++) assert.equal(await wrongCode(userId, new Date(now + i)), true);
  const gate = await beginSecondFactorAttempt(deps(), userId, new Date(now + 10));
  assert.equal(gate.allowed, false);
  assert.ok(!gate.allowed && gate.retryAfterSeconds > 290 && gate.retryAfterSeconds <= 300);
});
