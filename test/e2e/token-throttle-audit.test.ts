/**
 * The token endpoint's 429s in the audit log (issue 14's dashboard): a burst over the address's
 * budget, and requests refused while the address is suspended, become one `oauth.throttled`
 * event per (address, minute) whose `details.count` is the number of 429s — not one row per
 * refusal. A clean stop writes the minute so far, so nothing counted is lost on a restart.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';

const API = 'https://ledger.example.com/api';
const BUDGET = 5;
let latchkey: Latchkey;
let client: { client_id: string; client_secret: string };

before(async () => {
  latchkey = await startLatchkey({ RATE_LIMIT_TOKEN_IP: `${BUDGET}/600` });
  await latchkey.operate(['api', 'create', '--name', 'Ledger', '--audience', API, '--scope', 'ledger:read=read', '--machine-scope', 'ledger:read']);
  client = await latchkey.operate(['client', 'create', '--name', 'Batch', '--type', 'service', '--scope', 'ledger:read']);
});
after(async () => latchkey?.stop());

const tokenRequest = () =>
  fetch(`${latchkey.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'ledger:read' }),
  }).then(async (res) => (await res.body?.cancel(), res.status));

async function allOf(type: string): Promise<any[]> {
  const events: any[] = [];
  let cursor: string | undefined;
  do {
    const page = await latchkey.operate(['audit', '--type', type, '--limit', '500', ...(cursor ? ['--cursor', cursor] : [])]);
    events.push(...page.events);
    cursor = page.next;
  } while (cursor);
  return events;
}

test('a burst of 429s is one oauth.throttled event per address and minute, with the count the dashboard sums', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 60; i++) statuses.push(await tokenRequest());
  assert.equal(statuses.filter((s) => s === 200).length, BUDGET);
  const refused = statuses.filter((s) => s === 429).length;
  assert.equal(refused, 60 - BUDGET);

  // A clean stop writes the minute so far (otherwise it is written when the minute ends).
  await latchkey.pause();
  await latchkey.resume();
  const events = await allOf('oauth.throttled');
  assert.ok(events.length >= 1 && events.length <= 2, `one event per minute the burst touched, got ${events.length}`);
  for (const e of events) {
    assert.equal(e.ip, '127.0.0.1');
    assert.equal(e.details.suspended, 0);
    assert.equal(e.details.count, e.details.rate_limited);
    assert.match(e.details.minute, /^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);
  }
  assert.equal(events.reduce((n, e) => n + e.details.count, 0), refused);
  assert.equal((await allOf('token.issued')).length, BUDGET, 'the refused requests left no other rows');
});

test('requests refused while the address is suspended are counted too, apart from the budget', async () => {
  const before = await allOf('oauth.throttled');
  await latchkey.operate(['suspend', '--kind', 'client-ip', '--subject', `${client.client_id}|127.0.0.1`, '--duration', '15m']);
  for (let i = 0; i < 3; i++) assert.equal(await tokenRequest(), 429);
  await latchkey.operate(['suspensions', 'lift', '--kind', 'client-ip', '--subject', `${client.client_id}|127.0.0.1`]);
  await latchkey.pause();
  await latchkey.resume();
  const added = (await allOf('oauth.throttled')).filter((e) => !before.some((b) => b.id === e.id));
  assert.equal(added.reduce((n, e) => n + e.details.suspended, 0), 3);
  assert.equal(added.reduce((n, e) => n + e.details.count, 0), 3);
});
