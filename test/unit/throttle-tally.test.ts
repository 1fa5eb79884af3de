/**
 * The OAuth endpoints' 429s reach the audit log as one `oauth.throttled` event per (address,
 * minute) with the count, never one per refusal; a spray from more addresses than MAX_ADDRESSES
 * in one minute is counted in one more event without an address.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SecurityEvent } from '../../src/security/security-events.ts';
import { createThrottleTally, MAX_ADDRESSES, OAUTH_THROTTLED } from '../../src/security/throttle-tally.ts';

function tallyAt(start: number) {
  const emitted: SecurityEvent[] = [];
  let now = start;
  const tally = createThrottleTally({ emit: (e) => emitted.push(e) }, () => now);
  return { tally, emitted, setNow: (t: number) => (now = t) };
}

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);

test('a flood from one address in one minute is one event with its count, written when the minute is over', () => {
  const { tally, emitted, setNow } = tallyAt(T0 + 5_000);
  for (let i = 0; i < 10_000; i++) tally.count('203.0.113.5', i % 4 === 0 ? 'suspended' : 'rate_limited');
  tally.count('198.51.100.1', 'rate_limited');
  assert.equal(emitted.length, 0, 'nothing written while the minute runs');
  setNow(T0 + MINUTE + 1);
  tally.count('203.0.113.5', 'rate_limited');
  assert.deepEqual(emitted, [
    { type: OAUTH_THROTTLED, ip: '203.0.113.5', details: { minute: new Date(T0).toISOString(), count: 10_000, rate_limited: 7_500, suspended: 2_500 } },
    { type: OAUTH_THROTTLED, ip: '198.51.100.1', details: { minute: new Date(T0).toISOString(), count: 1, rate_limited: 1, suspended: 0 } },
  ]);
  tally.stop();
  assert.equal(emitted.length, 3, 'a clean stop writes the minute so far');
  assert.deepEqual(emitted[2]!.details, { minute: new Date(T0 + MINUTE).toISOString(), count: 1, rate_limited: 1, suspended: 0 });
  tally.stop();
  assert.equal(emitted.length, 3, 'nothing twice');
});

test('more addresses than MAX_ADDRESSES in a minute: the rest are one event without an address', () => {
  const { tally, emitted } = tallyAt(T0);
  for (let i = 0; i < MAX_ADDRESSES + 500; i++) tally.count(`2001:db8::${i.toString(16)}`, 'rate_limited');
  tally.count('2001:db8::1', 'rate_limited');
  tally.stop();
  assert.equal(emitted.length, MAX_ADDRESSES + 1);
  assert.equal(emitted.find((e) => e.ip === '2001:db8::1')!.details!.count, 2);
  const others = emitted.filter((e) => e.ip === undefined);
  assert.deepEqual(others.map((e) => e.details), [{ minute: new Date(T0).toISOString(), other_addresses: true, count: 500, rate_limited: 500, suspended: 0 }]);
  const total = emitted.reduce((n, e) => n + (e.details!.count as number), 0);
  assert.equal(total, MAX_ADDRESSES + 501, 'every refusal is counted once');
});

test('the minute is written by its timer even when no later refusal comes', async () => {
  const emitted: SecurityEvent[] = [];
  // A clock 30 ms before the end of a minute: the timer fires ~80 ms later.
  const offset = MINUTE - (Date.now() % MINUTE) - 30;
  const tally = createThrottleTally({ emit: (e) => emitted.push(e) }, () => Date.now() + offset);
  tally.count('203.0.113.7', 'rate_limited');
  const deadline = Date.now() + 5_000;
  while (!emitted.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(emitted.length, 1);
  assert.equal(emitted[0]!.details!.count, 1);
  tally.stop();
});
