/**
 * The admin API under /admin/api (issue 14): users, apps, APIs, suspensions and audit, keys.
 * Every answer is checked against the OpenAPI document the server publishes
 * (test/support/admin-api.ts), and the last test requires every documented operation to have
 * answered successfully at least once. Also: strangers and non-admins are refused, bad input is
 * a 400 naming the field, unknown ids are 404s, an API in use is not deleted without force, the
 * last admin cannot be disabled or deleted, and audit events name the admin who acted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { adminApiClient } from '../support/admin-api.ts';
import { launchBrowser } from '../support/browser.ts';
import { authorizeInBrowser, discover, startAppServer } from '../support/flow.ts';
import { FORM, Jar } from '../support/http-session.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';

const ADMIN_TOKEN = 'admin-token-for-tests-abcdef0123456789';
import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const API = 'https://notes.example.com/api';
let latchkey: Latchkey;
let api: Awaited<ReturnType<typeof adminApiClient>>;
let app: Awaited<ReturnType<typeof startAppServer>>;
const users: Record<string, { id: string; email: string }> = {};

const createUser = async (name: string, roles: string[] = []) => {
  users[name] = await latchkey.operate(['user', 'create', '--email', `${name}@example.com`, '--password-stdin', ...roles.flatMap((r) => ['--role', r])], { stdin: PASSWORD });
};

/** Signs in to the account page over plain HTTP: the session cookie the admin API also accepts. */
async function sessionOf(email: string): Promise<Jar> {
  const jar = new Jar();
  const get = async (path: string) => {
    const res = await fetch(new URL(path, latchkey.issuer), { redirect: 'manual', headers: { cookie: jar.header(), accept: 'text/html' } });
    jar.store(res);
    return { location: res.headers.get('location'), text: await res.text(), path: new URL(path, latchkey.issuer).pathname };
  };
  const follow = async (first: Awaited<ReturnType<typeof get>>) => {
    let answer = first;
    while (answer.location) {
      const url = new URL(answer.location, latchkey.issuer);
      answer = await get(url.pathname + url.search);
    }
    return answer;
  };
  const login = await follow(await get('/account'));
  const res = await fetch(new URL(`${login.path}/login`, latchkey.issuer), {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': FORM, accept: 'text/html' },
    body: new URLSearchParams({ csrf: /name="csrf" value="([^"]+)"/.exec(login.text)![1]!, email, password: PASSWORD }).toString(),
  });
  jar.store(res);
  const page = await follow({ location: res.headers.get('location'), text: await res.text(), path: login.path });
  assert.equal(page.path, '/account', `${email} signed in to the account page`);
  return jar;
}

/** Audit events are written in batches: wait (bounded) until one of this type appears. */
async function auditEvent(type: string, match: (e: any) => boolean = () => true) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { body } = await api.call('queryAudit', { query: { type, limit: '50' } });
    const found = body.events.find(match);
    if (found) return found;
    if (Date.now() > deadline) assert.fail(`no audit event ${type}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

before(async () => {
  app = await startAppServer();
  latchkey = await startLatchkey({ ADMIN_API_TOKEN: ADMIN_TOKEN, MFA_REQUIRED: 'none' });
  api = await adminApiClient(latchkey.issuer, ADMIN_TOKEN);
  await Promise.all([createUser('root', ['admin']), ...['alice', 'amy', 'anna', 'bob', 'carol'].map((name) => createUser(name))]);
});
after(async () => {
  await latchkey?.stop();
  await app?.close();
});

describe('who may call the admin API', () => {
  test('no credentials or a wrong token: 401; a non-admin session: 403; an admin session reads, and changes only with X-Latchkey-Admin', async () => {
    assert.equal((await api.call('listUsers', { headers: null })).status, 401);
    const wrong = await api.call('listUsers', { headers: { authorization: 'Bearer not-the-token' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_token');

    const alice = await sessionOf(users.alice!.email);
    const refused = await api.call('showUser', { params: { userId: users.bob!.id }, headers: { cookie: alice.header() } });
    assert.equal(refused.status, 403);

    const root = await sessionOf(users.root!.email);
    assert.equal((await api.call('showUser', { params: { userId: users.bob!.id }, headers: { cookie: root.header() } })).status, 200);
    const noHeader = await api.call('signOutUser', { params: { userId: users.bob!.id }, headers: { cookie: root.header() } });
    assert.equal(noHeader.status, 403, 'a cross-site form cannot send the header');
    const signedOut = await api.call('signOutUser', { params: { userId: users.alice!.id }, headers: { cookie: root.header(), 'x-latchkey-admin': '1' } });
    assert.equal(signedOut.status, 200);
    assert.equal(signedOut.body.sessions_ended, 1, "alice's one session ended");
    const event = await auditEvent('user.signed_out_everywhere', (e) => e.userId === users.alice!.id);
    assert.equal(event.actor, users.root!.id, 'the audit event names the admin who acted');
    // Her cookie names no session any more.
    assert.equal((await api.call('listUsers', { headers: { cookie: alice.header() } })).status, 401);
  });

  test('paths are spelled one way only', async () => {
    for (const path of ['/admin/api/users/', '/admin/api/Users', '/ADMIN/api/users']) {
      const res = await fetch(`${latchkey.issuer}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(res.status, 404, path);
    }
  });
});

describe('users', () => {
  test('search by e-mail prefix, paged by e-mail', async () => {
    const first = await api.call('listUsers', { query: { query: 'A', limit: '2' } });
    assert.deepEqual(first.body.users.map((u: any) => u.email), ['alice@example.com', 'amy@example.com']);
    assert.equal(first.body.next, 'amy@example.com');
    const second = await api.call('listUsers', { query: { query: 'a', limit: '2', cursor: first.body.next } });
    assert.deepEqual(second.body.users.map((u: any) => u.email), ['anna@example.com']);
    assert.equal(second.body.next, undefined);
    // LIKE's own characters are literal.
    assert.deepEqual((await api.call('listUsers', { query: { query: '%' } })).body.users, []);
    assert.deepEqual((await api.call('listUsers', { query: { query: '_lice' } })).body.users, []);
    const all = await api.call('listUsers');
    assert.equal(all.body.users.length, 6);
  });

  test('bad input is a 400 naming the field; unknown users are 404s', async () => {
    for (const [query, field] of [[{ limit: '0' }, 'limit'], [{ limit: 'many' }, 'limit'], [{ query: 'a\u0001' }, 'query'], [{ query: 'x'.repeat(300) }, 'query']] as const) {
      const res = await api.call('listUsers', { query });
      assert.equal(res.status, 400, JSON.stringify(query));
      assert.match(res.body.error_description, new RegExp(`\\b${field}\\b`));
    }
    for (const op of ['showUser', 'disableUser', 'enableUser', 'resetUserFactors', 'signOutUser', 'deleteUser']) {
      assert.equal((await api.call(op, { params: { userId: 'no-such-user' } })).status, 404, op);
      assert.equal((await api.call(op, { params: { userId: 'nobody@example.com' } })).status, 404, op);
    }
  });

  test('show, disable, enable, reset factors, delete; the last admin stays', async () => {
    const shown = await api.call('showUser', { params: { userId: users.carol!.email } });
    assert.equal(shown.body.id, users.carol!.id);
    assert.deepEqual(shown.body.factors, { totp: false, passkeys: [], recovery_codes_remaining: 0 });
    assert.ok(!JSON.stringify(shown.body).includes('password'), 'no password hash');

    const disabled = await api.call('disableUser', { params: { userId: users.carol!.id } });
    assert.equal(disabled.body.status, 'disabled');
    assert.equal((await api.call('showUser', { params: { userId: users.carol!.id } })).body.disabled, true);
    assert.equal((await auditEvent('user.disabled', (e) => e.userId === users.carol!.id)).actor, 'admin-api-token');
    // Disabled: the account page's sign-in fails.
    await assert.rejects(sessionOf(users.carol!.email));
    assert.equal((await api.call('enableUser', { params: { userId: users.carol!.id } })).body.status, 'active');
    await sessionOf(users.carol!.email);

    const reset = await api.call('resetUserFactors', { params: { userId: users.carol!.id } });
    assert.deepEqual(reset.body.removed, { totp: false, passkeys: 0, recovery_codes: 0 });
    assert.equal(reset.body.sessions_ended, 1);

    const deleted = await api.call('deleteUser', { params: { userId: users.bob!.id } });
    assert.equal(deleted.body.deleted, true);
    assert.equal((await api.call('showUser', { params: { userId: users.bob!.id } })).status, 404);

    for (const op of ['disableUser', 'deleteUser']) {
      const refused = await api.call(op, { params: { userId: users.root!.id } });
      assert.equal(refused.status, 409, op);
      assert.match(refused.body.error_description, /last enabled admin/);
    }
  });
});

describe('apps and APIs', () => {
  let client: { client_id: string; client_secret: string };
  let browser: Browser | undefined;
  after(async () => browser?.close());

  test('create, show, update an API; bad input 400; unknown 404', async () => {
    const created = await api.call('createApi', { body: { name: 'Notes', audience: API, scopes: [{ name: 'notes:read', access: 'read' }, { name: 'notes:write', access: 'write' }] } });
    assert.equal(created.status, 201);
    assert.ok(created.body.introspection_client_secret);
    const bad = await api.call('createApi', { body: { name: 'X', audience: 'https://x.example.com', scopes: [{ name: 'x:read', access: 'admin' }] } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error_description, /^scopes\.0\.access/);
    assert.equal((await api.call('createApi', { body: { name: 'Again', audience: API, scopes: [{ name: 'again:read', access: 'read' }] } })).status, 400);

    assert.deepEqual((await api.call('listApis')).body.map((a: any) => a.audience), [API]);
    const updated = await api.call('updateApi', { params: { apiId: created.body.id }, body: { name: 'Notes v2', add_scopes: [{ name: 'notes:admin', access: 'write' }], machine_scopes: ['notes:read'] } });
    assert.equal(updated.body.name, 'Notes v2');
    assert.deepEqual(updated.body.machine_scopes, ['notes:read']);
    assert.deepEqual(updated.body.scopes.map((s: any) => s.name), ['notes:admin', 'notes:read', 'notes:write']);
    const shown = await api.call('showApi', { params: { apiId: created.body.id } });
    assert.equal(shown.body.audience, API);
    assert.equal(shown.body.introspection_client_id, created.body.introspection_client_id);
    const typo = await api.call('updateApi', { params: { apiId: created.body.id }, body: { machine_scopes: ['notes:typo'] } });
    assert.equal(typo.status, 400);
    assert.equal((await api.call('updateApi', { params: { apiId: created.body.id }, body: { access_token_ttl: 'long' } })).body.error_description.split(':')[0], 'access_token_ttl');
    for (const op of ['showApi', 'updateApi', 'deleteApi']) assert.equal((await api.call(op, { params: { apiId: 'no-such-api' }, body: op === 'updateApi' ? {} : undefined })).status, 404, op);
  });

  test('edit an app through the client rules; list filters; suspend, approve, rotate; unknown 404', async () => {
    client = await latchkey.operate(['client', 'create', '--name', 'Notes app', '--type', 'web', '--redirect-uri', app.redirectUri, '--scope', 'openid offline_access notes:read']);
    const edited = await api.call('updateClient', { params: { clientId: client.client_id }, body: { name: 'Notes (renamed)', redirect_uris: [app.redirectUri, `${app.origin}/other`] } });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(edited.body.name, 'Notes (renamed)');
    assert.deepEqual(edited.body.metadata.redirect_uris, [app.redirectUri, `${app.origin}/other`]);
    assert.deepEqual(edited.body.api_scopes, ['notes:read'], 'scopes not given stay');
    for (const [body, field] of [[{ redirect_uris: 'https://x.example.com/cb' }, 'redirect_uris'], [{ name: 'x'.repeat(101) }, 'name'], [{ scope: 'a\u0000' }, 'scope']] as const) {
      const res = await api.call('updateClient', { params: { clientId: client.client_id }, body });
      assert.equal(res.status, 400);
      assert.match(res.body.error_description, new RegExp(`\\b${field}\\b`));
    }
    // The client rules: a web app's redirect URI must be https (or loopback), CORS origins are for SPAs, API scopes must exist.
    for (const body of [{ redirect_uris: ['http://evil.example.com/cb'] }, { cors_origins: ['https://spa.example.com'] }, { scope: 'openid nothing:here' }, {}]) {
      assert.equal((await api.call('updateClient', { params: { clientId: client.client_id }, body })).status, 400, JSON.stringify(body));
    }
    assert.equal((await api.call('updateClient', { params: { clientId: 'nope' }, body: { name: 'x' } })).status, 404);

    const service = await latchkey.operate(['client', 'create', '--name', 'Batch', '--type', 'service', '--scope', 'notes:read']);
    assert.deepEqual((await api.call('suspendClient', { params: { clientId: service.client_id } })).body.status, 'suspended');
    assert.deepEqual((await api.call('listClients', { query: { status: 'suspended' } })).body.map((c: any) => c.client_id), [service.client_id]);
    assert.equal((await api.call('listClients', { query: { status: 'gone' } })).status, 400);
    await api.call('unsuspendClient', { params: { clientId: service.client_id } });
    await api.call('approveClient', { params: { clientId: service.client_id } });
    const revoked = await api.call('revokeMachineAccess', { params: { clientId: service.client_id }, body: { api: API } });
    assert.equal(revoked.body.revoked, 1);
    assert.deepEqual((await api.call('listClients', { query: { machine_access_pending: 'true' } })).body.map((c: any) => c.client_id), [service.client_id]);
    assert.deepEqual((await api.call('approveMachineAccess', { params: { clientId: service.client_id }, body: { api: API } })).body.approved, ['notes:read']);
    const rotated = await api.call('rotateClientSecret', { params: { clientId: service.client_id }, body: { grace_seconds: 60 } });
    assert.ok(rotated.body.client_secret && rotated.body.previous_secret_valid_until);
    assert.equal((await api.call('rotateClientSecret', { params: { clientId: service.client_id }, body: { grace_seconds: -1 } })).status, 400);
    assert.equal((await api.call('showClient', { params: { clientId: service.client_id } })).body.activity.tokensIssued, 0);
    assert.equal((await api.call('deleteClient', { params: { clientId: service.client_id } })).body.deleted, true);
    assert.equal((await api.call('showClient', { params: { clientId: service.client_id } })).status, 404);
  });

  test('an API that users granted to an app is not deleted without force', async () => {
    browser = await launchBrowser();
    const config = await discover(latchkey.issuer, client.client_id, client.client_secret);
    const context = await browser.newContext();
    await authorizeInBrowser(await context.newPage(), config, { scope: 'openid notes:read', resource: API }, { login: { email: users.anna!.email, password: PASSWORD }, consent: 'allow' }, app.redirectUri);
    await context.close();

    const apiId = (await api.call('listApis')).body[0].id;
    const shown = await api.call('showApi', { params: { apiId } });
    assert.equal(shown.body.grants, 1);
    assert.deepEqual(shown.body.clients.map((c: any) => c.client_id), [client.client_id]);
    const annaApps = (await api.call('showUser', { params: { userId: users.anna!.id } })).body.connected_apps;
    assert.deepEqual(annaApps.map((a: any) => a.client_id), [client.client_id]);

    const refused = await api.call('deleteApi', { params: { apiId: shown.body.id } });
    assert.equal(refused.status, 409);
    assert.match(refused.body.error_description, /1 grant/);
    assert.equal((await api.call('deleteApi', { params: { apiId: shown.body.id }, query: { force: 'yes' } })).status, 400);
    const forced = await api.call('deleteApi', { params: { apiId: shown.body.id }, query: { force: 'true' } });
    assert.equal(forced.body.deleted, true);
    assert.deepEqual((await api.call('listApis')).body, []);
    assert.deepEqual((await api.call('showClient', { params: { clientId: client.client_id } })).body.api_scopes, [], 'the app lost the scopes with the API');
    assert.equal((await auditEvent('api.deleted')).details.forced, true);
  });
});

describe('security and keys', () => {
  test('suspensions, the audit log, signing keys', async () => {
    const added = await api.call('addSuspension', { body: { kind: 'ip', subject: '203.0.113.9', duration: '15m', reason: 'test' } });
    assert.equal(added.status, 201);
    assert.equal((await api.call('addSuspension', { body: { kind: 'planet', subject: 'x', duration: '15m' } })).body.error_description.split(':')[0], 'kind');
    assert.deepEqual((await api.call('listSuspensions')).body.suspensions.map((s: any) => s.subject), ['203.0.113.9']);
    assert.equal((await api.call('liftSuspensions', { body: { id: added.body.id } })).body.lifted, 1);
    assert.equal((await api.call('queryAudit', { query: { limit: '501' } })).status, 400);
    const page = await api.call('queryAudit', { query: { limit: '1' } });
    assert.equal(page.body.events.length, 1);
    assert.ok(page.body.next);

    const before = (await api.call('listKeys')).body.keys;
    assert.deepEqual(before.map((k: any) => k.state).sort(), ['signing', 'signing']);
    const rotated = await api.call('rotateKeys', { body: {} });
    assert.equal(rotated.body.added.length, 2);
    const afterRotation = (await api.call('listKeys')).body.keys;
    assert.deepEqual(afterRotation.filter((k: any) => rotated.body.added.includes(k.kid)).map((k: any) => k.state), ['pending', 'pending']);
    assert.ok(!JSON.stringify(afterRotation).includes('"d"'), 'no key material');
    assert.equal((await api.call('rotateKeys', { body: { now: 'yes' } })).status, 400);
    assert.equal((await auditEvent('keys.rotated')).actor, 'admin-api-token');
  });

  test('the audit log filters by address and by a window (since, until), pages newest first, refuses bad values with 400', async () => {
    // A refused token request: an event with this machine's address.
    const refused = await fetch(`${latchkey.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('no-such-client:wrong').toString('base64')}`, 'content-type': FORM },
      body: 'grant_type=client_credentials',
    });
    assert.equal(refused.status, 401);
    const failure = await auditEvent('token.failed', (e) => e.ip === '127.0.0.1');
    const byAddress = await api.call('queryAudit', { query: { ip: '127.0.0.1', limit: '500' } });
    assert.ok(byAddress.body.events.some((e: any) => e.id === failure.id));
    assert.ok(byAddress.body.events.every((e: any) => e.ip === '127.0.0.1'));
    assert.deepEqual((await api.call('queryAudit', { query: { ip: '198.51.100.77' } })).body.events, []);

    // The window is since (inclusive) to until (exclusive).
    const at = Date.parse(failure.at);
    const window = (since: number, until: number) => api.call('queryAudit', { query: { since: new Date(since).toISOString(), until: new Date(until).toISOString(), limit: '500' } });
    assert.ok((await window(at, at + 1)).body.events.some((e: any) => e.id === failure.id));
    assert.ok(!(await window(at - 60_000, at)).body.events.some((e: any) => e.id === failure.id), 'until is exclusive');
    assert.ok((await window(at - 60_000, at)).body.events.every((e: any) => Date.parse(e.at) < at));
    assert.deepEqual((await window(at, at - 1)).body.events, [], 'an empty window');

    // Pages by cursor: newest first by time, no event twice.
    const seen: any[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.call('queryAudit', { query: { limit: '3', ...(cursor ? { cursor } : {}) } });
      seen.push(...page.body.events);
      cursor = page.body.next;
    } while (cursor && seen.length < 60);
    assert.equal(new Set(seen.map((e) => e.id)).size, seen.length);
    assert.ok(seen.every((e, i) => i === 0 || Date.parse(seen[i - 1].at) >= Date.parse(e.at)));

    for (const query of [{ until: 'yesterday' }, { since: '+010000-01-01T00:00:00Z' }, { cursor: '12345' }, { cursor: '1-2-3' }, { ip: 'a\u0000b' }, { ip: 'x'.repeat(101) }] as Array<Record<string, string>>) {
      const answer = await api.call('queryAudit', { query });
      assert.equal(answer.status, 400, JSON.stringify(query));
    }
  });

  test('every documented operation answered successfully and matched its schema', () => {
    const missing = [...api.operations.keys()].filter((id) => !api.succeeded.has(id));
    assert.deepEqual(missing, []);
  });
});
