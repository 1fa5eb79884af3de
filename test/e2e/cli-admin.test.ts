/**
 * The operator commands over the admin libraries (issue 14): user list|show|enable|
 * reset-factors|sign-out|delete, api show|delete, client update — --help, --json, bad input
 * (exit 2 naming the problem), unknown ids, and the same effects as the admin API.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';

import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const API = 'https://ledger.example.com/api';
let latchkey: Latchkey;

async function fails(args: string[], code: number, message: RegExp) {
  const result = await latchkey.cli([...args, '--json']);
  assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
  const json = result.stderr.split('\n').find((line) => line.startsWith('{'));
  assert.ok(json, `${args.join(' ')}: a JSON error on stderr: ${result.stderr}`);
  assert.match(JSON.parse(json).error, message);
}

before(async () => {
  latchkey = await startLatchkey({ MFA_REQUIRED: 'none' });
  await Promise.all(['root', 'ada', 'adam', 'bea'].map((name) =>
    latchkey.cliJson(['user', 'create', '--email', `${name}@example.com`, '--password-stdin', ...(name === 'root' ? ['--role', 'admin'] : [])], { stdin: PASSWORD }),
  ));
});
after(async () => latchkey?.stop());

test('every new command has --help', async () => {
  const commands = ['user list', 'user show', 'user enable', 'user reset-factors', 'user sign-out', 'user delete', 'api show', 'api delete', 'client update'];
  const helps = await Promise.all(commands.map((command) => latchkey.cli([...command.split(' '), '--help'])));
  for (const [i, help] of helps.entries()) {
    assert.equal(help.code, 0, commands[i]);
    assert.match(help.stdout, new RegExp(`Usage: latchkey ${commands[i]}`));
    assert.match(help.stdout, /--json/);
  }
});

test('user list pages by e-mail prefix; user show, enable, reset-factors, sign-out, delete', async () => {
  // Reads first, side by side (each command is its own process).
  const [page, shown] = await Promise.all([
    latchkey.cliJson(['user', 'list', '--query', 'ad', '--limit', '1']),
    latchkey.cliJson(['user', 'show', 'bea@example.com']),
    fails(['user', 'list', '--limit', '0'], 2, /--limit/),
    fails(['user', 'show', 'nobody@example.com'], 2, /no user/),
    fails(['user', 'show'], 2, /required/),
  ]);
  assert.deepEqual(page.users.map((u: any) => u.email), ['ada@example.com']);
  assert.equal(shown.email, 'bea@example.com');
  assert.equal(shown.factors.totp, false);
  const [next, byId] = await Promise.all([
    latchkey.cliJson(['user', 'list', '--query', 'ad', '--cursor', page.next]),
    latchkey.cliJson(['user', 'show', shown.id]),
  ]);
  assert.deepEqual(next.users.map((u: any) => u.email), ['adam@example.com']);
  assert.equal(byId.email, 'bea@example.com', 'by id too');

  await latchkey.cliJson(['user', 'disable', '--email', 'bea@example.com']);
  assert.equal((await latchkey.cliJson(['user', 'show', 'bea@example.com'])).disabled, true);
  assert.equal((await latchkey.cliJson(['user', 'enable', 'bea@example.com'])).status, 'active');
  assert.equal((await latchkey.cliJson(['user', 'show', 'bea@example.com'])).disabled, false);
  assert.deepEqual((await latchkey.cliJson(['user', 'reset-factors', 'bea@example.com'])).removed, { totp: false, passkeys: 0, recovery_codes: 0 });
  assert.equal((await latchkey.cliJson(['user', 'sign-out', 'bea@example.com'])).sessions_ended, 0);
  assert.equal((await latchkey.cliJson(['user', 'delete', 'bea@example.com'])).deleted, true);
  const [, , plain] = await Promise.all([
    fails(['user', 'show', 'bea@example.com'], 2, /no user/),
    fails(['user', 'delete', 'root@example.com'], 2, /last enabled admin/),
    latchkey.cli(['user', 'show', 'ada@example.com']),
  ]);
  assert.equal(plain.code, 0);
  assert.match(plain.stdout, /^email: ada@example.com$/m);
});

test('api show and delete; client update through the client rules', async () => {
  await latchkey.cliJson(['api', 'create', '--name', 'Ledger', '--audience', API, '--scope', 'ledger:read=read']);
  const [shown, client] = await Promise.all([
    latchkey.cliJson(['api', 'show', API]),
    latchkey.cliJson(['client', 'create', '--name', 'Books', '--type', 'web', '--redirect-uri', 'https://books.example.com/cb', '--scope', 'openid ledger:read']),
    fails(['api', 'show', 'https://none.example.com'], 2, /no API/),
  ]);
  assert.equal(shown.audience, API);
  assert.deepEqual(shown.scopes.map((s: any) => s.name), ['ledger:read']);
  const updated = await latchkey.cliJson(['client', 'update', client.client_id, '--name', 'Books 2', '--redirect-uri', 'https://books.example.com/cb2', '--scope', 'openid']);
  assert.equal(updated.name, 'Books 2');
  assert.deepEqual(updated.metadata.redirect_uris, ['https://books.example.com/cb2']);
  assert.deepEqual(updated.api_scopes, []);
  await Promise.all([
    fails(['client', 'update', client.client_id, '--redirect-uri', 'http://books.example.com/cb'], 2, /redirect/i),
    fails(['client', 'update', client.client_id, '--cors-origin', 'https://books.example.com'], 2, /single-page/),
    fails(['client', 'update', client.client_id], 2, /nothing to change/),
    fails(['client', 'update', 'no-such-client', '--name', 'x'], 2, /no client/),
  ]);

  assert.equal((await latchkey.cliJson(['api', 'delete', API])).deleted, true);
  await fails(['api', 'delete', API], 2, /no API/);
});

/** Audit events are written in batches: poll (bounded) until `probe` finds what it waits for. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('user disable --email goes through the admin library: the last enabled admin is kept; the event names the CLI', async () => {
  await Promise.all([
    fails(['user', 'disable', '--email', 'root@example.com'], 2, /last enabled admin/),
    fails(['user', 'disable', '--email', 'nobody@example.com'], 2, /no user/),
    fails(['user', 'disable', '--email', 'root'], 2, /e-mail/),
    fails(['user', 'disable'], 2, /--email is required/),
  ]);
  assert.equal((await latchkey.cliJson(['user', 'show', 'root@example.com'])).disabled, false);

  const disabled = await latchkey.cliJson(['user', 'disable', '--email', ' ADA@Example.com ']);
  assert.equal(disabled.email, 'ada@example.com');
  assert.equal(disabled.status, 'disabled');
  assert.equal((await latchkey.cliJson(['user', 'show', 'ada@example.com'])).disabled, true);
  const event = await eventually('the user.disabled event', async () =>
    (await latchkey.cliJson(['audit', '--type', 'user.disabled', '--user', disabled.id])).events[0],
  );
  assert.equal(event.actor, 'cli');
  assert.equal((await latchkey.cliJson(['user', 'enable', 'ada@example.com'])).status, 'active');
});

test('latchkey audit filters by --until and --ip as the admin API does', async () => {
  const newest = await eventually('an event', async () => (await latchkey.cliJson(['audit', '--limit', '1'])).events[0]);
  const at = Date.parse(newest.at);
  const before = await latchkey.cliJson(['audit', '--until', new Date(at).toISOString(), '--limit', '500']);
  assert.ok(!before.events.some((e: any) => e.id === newest.id), '--until is exclusive');
  assert.ok(before.events.every((e: any) => Date.parse(e.at) < at));
  const window = await latchkey.cliJson(['audit', '--since', new Date(at).toISOString(), '--until', new Date(at + 1).toISOString()]);
  assert.ok(window.events.some((e: any) => e.id === newest.id));
  const [elsewhere, help] = await Promise.all([
    latchkey.cliJson(['audit', '--ip', '198.51.100.77']),
    latchkey.cli(['audit', '--help']),
    fails(['audit', '--until', 'next tuesday'], 2, /invalid time/),
    fails(['audit', '--cursor', '12345'], 2, /invalid cursor/),
  ]);
  assert.deepEqual(elsewhere.events, []);
  assert.match(help.stdout, /--until/);
  assert.match(help.stdout, /--ip/);
});
