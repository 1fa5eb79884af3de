/**
 * Machine access (issue 11, items 2 and 12): client_credentials tokens only for the scopes an
 * API offers to machines AND an operator approved for the client. The attacker is a developer
 * who registers a service app through DCR or the portal asking for write scopes; it gets
 * invalid_scope until `latchkey api update --machine-scope` and `latchkey client
 * approve-machine-access`, and then exactly the approved scopes. The kit tells machine tokens
 * from user tokens (`kind`), and examples/notes-api keeps each user's notes apart and refuses
 * machine tokens.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { startNotesApi } from '../../examples/notes-api/app.ts';
import { launchBrowser } from '../support/browser.ts';
import { authorizeInBrowser, discover, redeem, startAppServer } from '../support/flow.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';

const PAYROLL = 'https://payroll.example.com/api';
const NOTES = 'https://notes.example.com/api';
import { TEST_PASSWORD as password } from '../support/users.ts';
let latchkey: Latchkey;
/** One Chromium for the file; each browser test has a context of its own. */
let browser: Browser;
let notesCredentials: { introspection_client_id: string; introspection_client_secret: string };

interface Credentials {
  client_id: string;
  client_secret: string;
}

/** A real OAuth client (openid-client) asking for a client_credentials token. */
async function machineToken(client: Credentials, parameters: Record<string, string>) {
  const config = await discover(latchkey.issuer, client.client_id, client.client_secret);
  return oidc.clientCredentialsGrant(config, parameters);
}

/** The token endpoint's OAuth error for a refused client_credentials request. */
async function machineRefusal(client: Credentials, parameters: Record<string, string>): Promise<{ error: string; description?: string }> {
  try {
    const tokens = await machineToken(client, parameters);
    assert.fail(`expected a refusal, got a token with scope "${tokens.scope}"`);
  } catch (error) {
    if (!(error instanceof oidc.ResponseBodyError)) throw error;
    return { error: error.error, description: error.error_description };
  }
}

const scopesOf = (accessToken: string) => String(decodeJwt(accessToken).scope ?? '').split(' ').filter(Boolean).sort();

async function registerViaDcr(body: Record<string, unknown>): Promise<Credentials> {
  const { initial_access_token: iat } = await latchkey.operate(['registration-token', 'create', '--owner', 'mallory@example.com']);
  const res = await fetch(`${latchkey.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

before(async () => {
  latchkey = await startLatchkey({ MFA_REQUIRED: 'none', RATE_LIMIT_REGISTRATION_IP: '1000/3600' });
  browser = await launchBrowser();
  await latchkey.operate(['api', 'create', '--name', 'Payroll', '--audience', PAYROLL, '--scope', 'payroll:read=read', '--scope', 'payroll:write=write']);
  notesCredentials = await latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write']);
  await latchkey.operate(['user', 'create', '--email', 'mallory@example.com', '--password-stdin', '--role', 'developer'], { stdin: password });
});
after(async () => {
  await browser?.close();
  await latchkey?.stop();
});

describe('a developer cannot give itself machine access', () => {
  let dcrApp: Credentials;

  test('DCR: a service app asking for payroll:write gets invalid_scope, with and without naming the API', async () => {
    dcrApp = await registerViaDcr({ client_name: 'Payroll sync', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'payroll:read payroll:write' });
    const attempts: Array<Record<string, string>> = [{ scope: 'payroll:write' }, { scope: 'payroll:write', resource: PAYROLL }, { scope: 'payroll:read' }, { resource: PAYROLL }, {}];
    for (const parameters of attempts) {
      const refusal = await machineRefusal(dcrApp, parameters);
      assert.equal(refusal.error, 'invalid_scope', JSON.stringify(parameters));
    }
    // A scope of another API, or one it never registered, is no way around it either.
    assert.equal((await machineRefusal(dcrApp, { scope: 'notes:write' })).error, 'invalid_scope');
    assert.equal((await machineRefusal(dcrApp, { scope: 'notes:write', resource: NOTES })).error, 'invalid_scope');
    const shown = await latchkey.operate(['client', 'show', dcrApp.client_id]);
    assert.deepEqual(shown.machine_access, [{ api: 'Payroll', audience: PAYROLL, approved: [], pending: [], not_offered: ['payroll:read', 'payroll:write'] }]);
  });

  test('an API offers machine scopes, the app waits for approval: still invalid_scope, shown as pending', async () => {
    const updated = await latchkey.operate(['api', 'update', '--audience', PAYROLL, '--machine-scope', 'payroll:read']);
    assert.deepEqual(updated.machine_scopes, ['payroll:read']);
    const listed = (await latchkey.cliJson<Array<{ audience: string; machine_scopes: string[] }>>(['api', 'list'])).find((a) => a.audience === PAYROLL);
    assert.deepEqual(listed?.machine_scopes, ['payroll:read']);

    const pending = await machineRefusal(dcrApp, { scope: 'payroll:read' });
    assert.equal(pending.error, 'invalid_scope');
    assert.match(pending.description ?? '', /awaiting an operator's approval/);
    assert.match((await machineRefusal(dcrApp, { scope: 'payroll:write' })).description ?? '', /does not offer scope payroll:write/);
    const shown = await latchkey.operate(['client', 'show', dcrApp.client_id]);
    assert.deepEqual(shown.machine_access, [{ api: 'Payroll', audience: PAYROLL, approved: [], pending: ['payroll:read'], not_offered: ['payroll:write'] }]);
  });

  test('after approve-machine-access: exactly the approved machine scopes, never the others; an audit event records it', async () => {
    const approved = await latchkey.operate(['client', 'approve-machine-access', dcrApp.client_id, '--api', PAYROLL]);
    assert.deepEqual(approved.approved, ['payroll:read']);

    const tokens = await machineToken(dcrApp, { scope: 'payroll:read' });
    assert.deepEqual(scopesOf(tokens.access_token), ['payroll:read']);
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.aud, PAYROLL);
    assert.equal(claims.sub, dcrApp.client_id, 'RFC 9068: a machine token names the client as its subject');
    assert.equal((await machineRefusal(dcrApp, { scope: 'payroll:read payroll:write' })).error, 'invalid_scope');
    assert.equal((await machineRefusal(dcrApp, { scope: 'payroll:write', resource: PAYROLL })).error, 'invalid_scope');
    assert.equal((await machineRefusal(dcrApp, { scope: 'notes:read' })).error, 'invalid_scope');

    // Offering payroll:write later does not hand it to an app approved before: it is pending again.
    await latchkey.operate(['api', 'update', '--audience', PAYROLL, '--machine-scope', 'payroll:read', '--machine-scope', 'payroll:write']);
    assert.match((await machineRefusal(dcrApp, { scope: 'payroll:write' })).description ?? '', /awaiting an operator's approval/);
    assert.deepEqual(scopesOf((await machineToken(dcrApp, { scope: 'payroll:read' })).access_token), ['payroll:read']);

    const { events } = await latchkey.cliJson<{ events: Array<{ type: string; details?: { scopes?: string[] } }> }>([
      'audit', '--type', 'client.machine_access_approved', '--client', dcrApp.client_id,
    ]);
    assert.ok(events.some((e) => e.details?.scopes?.includes('payroll:read')), JSON.stringify(events));
  });

  test('revoke-machine-access: refused again; the API clearing its machine scopes refuses everyone', async () => {
    await latchkey.operate(['client', 'revoke-machine-access', dcrApp.client_id, '--api', PAYROLL]);
    assert.equal((await machineRefusal(dcrApp, { scope: 'payroll:read' })).error, 'invalid_scope');
    await latchkey.operate(['client', 'approve-machine-access', dcrApp.client_id, '--api', PAYROLL]);
    assert.deepEqual(scopesOf((await machineToken(dcrApp, { scope: 'payroll:read payroll:write' })).access_token), ['payroll:read', 'payroll:write']);
    await latchkey.operate(['api', 'update', '--audience', PAYROLL, '--no-machine-access']);
    assert.match((await machineRefusal(dcrApp, { scope: 'payroll:read' })).description ?? '', /does not offer/);
  });

  test('approving what an API does not offer, or a client without client_credentials, is refused with a reason', async () => {
    const refused = await latchkey.cli(['client', 'approve-machine-access', dcrApp.client_id, '--api', PAYROLL]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /offers none of the scopes.*--machine-scope/);
    const unknownScope = await latchkey.cli(['api', 'update', '--audience', PAYROLL, '--machine-scope', 'payroll:admin']);
    assert.equal(unknownScope.code, 2);
    assert.match(unknownScope.stderr, /does not have: payroll:admin/);
  });
});

describe('the portal', () => {
  before(async () => {
    await latchkey.operate(['api', 'update', '--audience', NOTES, '--machine-scope', 'notes:read']);
  });

  test('a service app registered in the portal gets no machine token until approved; the app page shows "pending"', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${latchkey.issuer}/developer`);
    await page.fill('#email', 'mallory@example.com');
    await page.fill('#password', password);
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
    await page.goto(`${latchkey.issuer}/developer/apps/new`);
    await page.check('input[name=type][value=service]');
    await page.fill('#name', 'Notes exporter');
    for (const box of await page.locator('input[name=scope]').all()) await box.setChecked(['notes:read', 'notes:write'].includes((await box.getAttribute('value'))!));
    await Promise.all([page.waitForNavigation(), page.click('#create-app button[type=submit]')]);
    const app = { client_id: (await page.locator('#client-id').innerText()).trim(), client_secret: await page.inputValue('#client-secret') };
    assert.equal(await page.locator('#machine-access-pending').count(), 1);

    assert.equal((await machineRefusal(app, { scope: 'notes:read' })).error, 'invalid_scope');
    assert.equal((await machineRefusal(app, { scope: 'notes:write' })).error, 'invalid_scope');
    await page.goto(`${latchkey.issuer}/developer/apps/${encodeURIComponent(app.client_id)}`);
    const row = page.locator(`#machine-access li[data-audience="${NOTES}"]`);
    assert.match(await row.locator('.machine-pending').innerText(), /pending operator approval: notes:read/);
    assert.match(await row.locator('.machine-not-offered').innerText(), /notes:write/);

    await latchkey.operate(['client', 'approve-machine-access', app.client_id, '--api', NOTES]);
    assert.deepEqual(scopesOf((await machineToken(app, { scope: 'notes:read' })).access_token), ['notes:read']);
    assert.equal((await machineRefusal(app, { scope: 'notes:write' })).error, 'invalid_scope');
    await page.reload();
    assert.match(await row.locator('.machine-approved').innerText(), /approved: notes:read/);
    assert.equal(await row.locator('.machine-pending').count(), 0);
    await context.close();
  });
});

describe('operator-created clients', () => {
  test('client create approves at once the scopes its API offers to machines, and nothing more', async () => {
    await latchkey.operate(['api', 'update', '--audience', PAYROLL, '--machine-scope', 'payroll:read']);
    const svc = await latchkey.operate<Credentials>(['client', 'create', '--name', 'Payroll report', '--type', 'service', '--scope', 'payroll:read payroll:write']);
    assert.deepEqual(scopesOf((await machineToken(svc, { scope: 'payroll:read' })).access_token), ['payroll:read']);
    assert.equal((await machineRefusal(svc, { scope: 'payroll:write' })).error, 'invalid_scope');
    const shown = await latchkey.operate(['client', 'show', svc.client_id]);
    assert.deepEqual(shown.machine_access, [{ api: 'Payroll', audience: PAYROLL, approved: ['payroll:read'], pending: [], not_offered: ['payroll:write'] }]);
  });

  test('api create --machine-scope offers machine scopes from the start', async () => {
    const audience = 'https://ledger.example.com/api';
    const api = await latchkey.operate(['api', 'create', '--name', 'Ledger', '--audience', audience, '--scope', 'ledger:read=read', '--scope', 'ledger:write=write', '--machine-scope', 'ledger:read']);
    assert.deepEqual(api.machine_scopes, ['ledger:read']);
    const svc = await latchkey.operate<Credentials>(['client', 'create', '--name', 'Ledger export', '--type', 'service', '--scope', 'ledger:read ledger:write']);
    const tokens = await machineToken(svc, { scope: 'ledger:read' });
    assert.deepEqual(scopesOf(tokens.access_token), ['ledger:read']);
    assert.equal(decodeJwt(tokens.access_token).aud, audience);
  });
});

describe('examples/notes-api: notes belong to the token subject', () => {
  let appServer: Awaited<ReturnType<typeof startAppServer>>;
  let notesApi: Awaited<ReturnType<typeof startNotesApi>>;
  let machineNotesApi: Awaited<ReturnType<typeof startNotesApi>>;
  before(async () => {
    appServer = await startAppServer();
    // Introspection credentials: the API learns the user behind a third-party app's (pairwise) token through them.
    const introspection = { clientId: notesCredentials.introspection_client_id, clientSecret: notesCredentials.introspection_client_secret };
    notesApi = await startNotesApi({ issuer: latchkey.issuer, audience: NOTES, introspection });
    machineNotesApi = await startNotesApi({ issuer: latchkey.issuer, audience: NOTES, allowMachineTokens: true, introspection });
  });
  after(async () => {
    await appServer?.close();
    await notesApi?.close();
    await machineNotesApi?.close();
  });

  const call = (origin: string, method: string, token: string, path = '/notes', body?: unknown) =>
    fetch(`${origin}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  const accountIds = new Map<string, string>();
  async function userToken(email: string, config: oidc.Configuration): Promise<string> {
    accountIds.set(email, (await latchkey.operate(['user', 'create', '--email', email, '--password-stdin'], { stdin: password })).id);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const result = await authorizeInBrowser(page, config, { scope: 'openid notes:read notes:write', resource: NOTES }, { login: { email, password }, consent: 'read-write' }, appServer.redirectUri);
      return (await redeem(config, result)).access_token;
    } finally {
      await context.close();
    }
  }

  test("a user lists and deletes only their own notes; another user's note is 404", async () => {
    const web = await latchkey.operate<Credentials>(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', appServer.redirectUri, '--scope', 'openid notes:read notes:write']);
    const config = await discover(latchkey.issuer, web.client_id, web.client_secret);
    const alice = await userToken('alice@example.com', config);
    const bob = await userToken('bob@example.com', config);

    const created = await call(notesApi.origin, 'POST', alice, '/notes', { text: "alice's secret" });
    assert.equal(created.status, 201);
    const note = (await created.json()) as { id: string; owner: string };
    // The app's token names its own pairwise subject; the API knows the user by account id (through introspection).
    assert.equal(note.owner, accountIds.get('alice@example.com'));
    assert.notEqual(note.owner, decodeJwt(alice).sub);

    assert.deepEqual(await (await call(notesApi.origin, 'GET', bob)).json(), []);
    assert.equal((await call(notesApi.origin, 'DELETE', bob, `/notes/${note.id}`)).status, 404);
    const aliceList = (await (await call(notesApi.origin, 'GET', alice)).json()) as Array<{ id: string }>;
    assert.deepEqual(aliceList.map((n) => n.id), [note.id]);
    assert.equal((await call(notesApi.origin, 'DELETE', alice, `/notes/${note.id}`)).status, 204);
  });

  test("a machine token is refused; where machines are allowed, it sees only its own notes, never a user's", async () => {
    await latchkey.operate(['api', 'update', '--audience', NOTES, '--machine-scope', 'notes:read', '--machine-scope', 'notes:write']);
    const svc = await latchkey.operate<Credentials>(['client', 'create', '--name', 'Notes robot', '--type', 'service', '--scope', 'notes:read notes:write']);
    const machine = (await machineToken(svc, { scope: 'notes:read notes:write' })).access_token;

    const refused = await call(notesApi.origin, 'GET', machine);
    assert.equal(refused.status, 403);
    assert.match(refused.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    assert.match(((await refused.json()) as { error_description: string }).error_description, /only tokens issued for a user/);
    assert.equal((await call(notesApi.origin, 'DELETE', machine, '/notes/anything')).status, 403);

    const web = await latchkey.operate<Credentials>(['client', 'create', '--name', 'Notebook 2', '--type', 'web', '--redirect-uri', appServer.redirectUri, '--scope', 'openid notes:read notes:write']);
    const carol = await userToken('carol@example.com', await discover(latchkey.issuer, web.client_id, web.client_secret));
    const carolsNote = (await (await call(machineNotesApi.origin, 'POST', carol, '/notes', { text: 'payslip' })).json()) as { id: string };
    assert.deepEqual(await (await call(machineNotesApi.origin, 'GET', machine)).json(), []);
    assert.equal((await call(machineNotesApi.origin, 'DELETE', machine, `/notes/${carolsNote.id}`)).status, 404);
    const own = await call(machineNotesApi.origin, 'POST', machine, '/notes', { text: 'nightly report' });
    assert.equal(own.status, 201);
    assert.equal(((await own.json()) as { owner: string }).owner, `machine:${svc.client_id}`);
    assert.equal(((await (await call(machineNotesApi.origin, 'GET', carol)).json()) as unknown[]).length, 1);
  });
});
