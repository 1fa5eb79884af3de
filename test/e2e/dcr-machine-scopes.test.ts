/**
 * One rule for machine approvals when an app changes (src/clients/client-rules.ts
 * machineApprovalsKept), whichever way it changes: a portal edit or an RFC 7592 update (DCR
 * management PUT). An operator's approval covers the scopes the app asked for when it was given,
 * while the app uses client_credentials. The attacker is the app's developer: drop a scope (or
 * the client_credentials grant), which hides the approval from the operator's "approved" and
 * "pending" lists, then ask for it again and expect the old approval to come back. It must not:
 * asking again waits for a new approval, and the scopes the app kept keep theirs. Each approval
 * the change drops is in the audit trail (`client.machine_access_dropped`), as approving is.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { discover } from '../support/flow.ts';
import { csrfOf, FORM, Jar, sender, type Sent } from '../support/http-session.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { TEST_PASSWORD as password } from '../support/users.ts';
import { waitFor } from '../support/wait.ts';

const PAYROLL = 'https://payroll.example.com/api';
const DEVELOPER = 'mallory@example.com';
let latchkey: Latchkey;
let send: ReturnType<typeof sender>;

interface Credentials {
  client_id: string;
  client_secret: string;
}

before(async () => {
  latchkey = await startLatchkey({ MFA_REQUIRED: 'none', RATE_LIMIT_REGISTRATION_IP: '1000/3600' });
  send = sender(latchkey.issuer);
  await latchkey.operate([
    'api', 'create', '--name', 'Payroll', '--audience', PAYROLL,
    '--scope', 'payroll:read=read', '--scope', 'payroll:write=write', '--machine-scope', 'payroll:read', '--machine-scope', 'payroll:write',
  ]);
  await latchkey.operate(['user', 'create', '--email', DEVELOPER, '--password-stdin', '--role', 'developer'], { stdin: password });
});
after(async () => latchkey?.stop());

const scopesOf = (accessToken: string) => String(decodeJwt(accessToken).scope ?? '').split(' ').filter(Boolean).sort();

/** The scopes of a client_credentials token a real OAuth client (openid-client) gets, or the refusal's description. */
async function machineToken(client: Credentials, scope: string): Promise<{ scopes: string[] } | { refused: string }> {
  const config = await discover(latchkey.issuer, client.client_id, client.client_secret);
  try {
    return { scopes: scopesOf((await oidc.clientCredentialsGrant(config, { scope })).access_token) };
  } catch (error) {
    if (!(error instanceof oidc.ResponseBodyError)) throw error;
    assert.equal(error.error, 'invalid_scope', error.error_description);
    return { refused: error.error_description ?? '' };
  }
}

const awaitingApproval = (scope: string) => ({ refused: `machine access to scope ${scope} is awaiting an operator's approval` });

const machineAccess = async (clientId: string) => (await latchkey.operate(['client', 'show', clientId])).machine_access;

/** Every attempt at once: the approved scopes alone are granted, together and apart; each other one waits for approval. */
async function assertMachineAccess(client: Credentials, approved: string[], waiting: string[]) {
  if (approved.length) assert.deepEqual(await machineToken(client, approved.join(' ')), { scopes: [...approved].sort() });
  for (const scope of approved) assert.deepEqual(await machineToken(client, scope), { scopes: [scope] });
  for (const scope of waiting) {
    assert.deepEqual(await machineToken(client, scope), awaitingApproval(scope));
    assert.deepEqual(await machineToken(client, [...approved, scope].join(' ')), awaitingApproval(scope));
  }
  assert.deepEqual(await machineAccess(client.client_id), [{ api: 'Payroll', audience: PAYROLL, approved: [...approved].sort(), pending: [...waiting].sort(), not_offered: [] }]);
}

/** The `client.machine_access_dropped` events of this client, oldest first, as `latchkey audit` reads them back. */
async function droppedApprovals(clientId: string, count: number) {
  return waitFor(`${count} client.machine_access_dropped events of ${clientId}`, async () => {
    const { events } = await latchkey.operate(['audit', '--type', 'client.machine_access_dropped', '--client', clientId, '--limit', '50']);
    const rows = (events as Array<{ actor: string; details: unknown }>).map((e) => ({ actor: e.actor, details: e.details })).reverse();
    return rows.length >= count ? rows : undefined;
  });
}

const approve = (clientId: string) => latchkey.operate(['client', 'approve-machine-access', clientId, '--api', PAYROLL]);

// ---------------------------------------------------------------------------------------------
// RFC 7591 registration and RFC 7592 management

const service = (scope: string) => ({ client_name: 'Payroll sync', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope });

interface Registered extends Credentials {
  registration_client_uri: string;
  registration_access_token: string;
}

async function register(body: Record<string, unknown>): Promise<Registered> {
  const { initial_access_token: iat } = await latchkey.operate(['registration-token', 'create', '--owner', DEVELOPER]);
  const res = await fetch(`${latchkey.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` }, body: JSON.stringify(body) });
  assert.equal(res.status, 201, await res.clone().text());
  return res.json();
}

/** An RFC 7592 update (PUT) with the client's own registration access token; the next token is kept on `app`. */
async function update(app: Registered, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(app.registration_client_uri, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${app.registration_access_token}` },
    body: JSON.stringify({ client_id: app.client_id, ...body }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const answer = await res.json();
  if (answer.registration_access_token) app.registration_access_token = answer.registration_access_token;
}

test('RFC 7592: a scope dropped and asked for again waits for a new approval; the scope kept keeps its approval', async () => {
  const app = await register(service('payroll:read payroll:write'));
  await assertMachineAccess(app, [], ['payroll:read', 'payroll:write']);
  assert.deepEqual((await approve(app.client_id)).approved, ['payroll:read', 'payroll:write']);
  await assertMachineAccess(app, ['payroll:read', 'payroll:write'], []);

  await update(app, service('payroll:read'));
  await assertMachineAccess(app, ['payroll:read'], []);
  await update(app, service('payroll:read payroll:write'));
  await assertMachineAccess(app, ['payroll:read'], ['payroll:write']);
  // Only the update that dropped an approval is audited (the one asking again dropped none).
  assert.deepEqual(await droppedApprovals(app.client_id, 1), [{ actor: `client:${app.client_id}`, details: { scopes: ['payroll:write'], via: 'dcr' } }]);
});

test('RFC 7592: dropping client_credentials (the app turned into a web app) and taking it back waits for a new approval', async () => {
  const app = await register(service('payroll:read'));
  await approve(app.client_id);
  await assertMachineAccess(app, ['payroll:read'], []);

  // Still asking for payroll:read, but as an app users sign in to: machine access no longer applies.
  await update(app, {
    client_name: 'Payroll sync',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['https://payroll-sync.example.com/callback'],
    scope: 'payroll:read',
  });
  assert.equal((await latchkey.operate(['client', 'show', app.client_id])).type, 'web');
  assert.deepEqual(await droppedApprovals(app.client_id, 1), [{ actor: `client:${app.client_id}`, details: { scopes: ['payroll:read'], via: 'dcr' } }]);
  await update(app, service('payroll:read'));
  await assertMachineAccess(app, [], ['payroll:read']);
  // Approving again is what gives it back.
  await approve(app.client_id);
  await assertMachineAccess(app, ['payroll:read'], []);
});

// ---------------------------------------------------------------------------------------------
// The developer portal, over plain HTTP

/** GETs `path` and follows redirects within the server, keeping cookies in `jar`. */
async function follow(jar: Jar, path: string): Promise<Sent & { path: string }> {
  let at = path;
  for (let hops = 0; hops < 10; hops++) {
    const answer = await send(at, { jar, headers: { accept: 'text/html' } });
    const location = answer.headers.get('location');
    if (!location) return { ...answer, path: at };
    const next = new URL(location, latchkey.issuer);
    assert.equal(next.origin, new URL(latchkey.issuer).origin, `redirected away to ${location}`);
    at = next.pathname + next.search;
  }
  assert.fail(`more than 10 redirects from ${path}`);
}

/** Signs the developer in to the portal as a browser would: the portal's own authorization request, the password form. */
async function portalSession(): Promise<Jar> {
  const jar = new Jar();
  const login = await follow(jar, '/developer');
  assert.match(login.path, /^\/interaction\//, 'the portal sends a visitor to sign in');
  const answer = await send(`${login.path}/login`, {
    method: 'POST', jar, headers: { 'content-type': FORM }, body: new URLSearchParams({ csrf: csrfOf(login.text), email: DEVELOPER, password }).toString(),
  });
  assert.equal(answer.status, 303, answer.text.slice(0, 300));
  const next = new URL(answer.headers.get('location')!, latchkey.issuer);
  const home = await follow(jar, next.pathname + next.search);
  assert.equal(home.path, '/developer', 'signed in to the portal');
  return jar;
}

const postPortalForm = (jar: Jar, path: string, fields: Array<[string, string]>) =>
  send(path, { method: 'POST', jar, headers: { 'content-type': FORM }, body: new URLSearchParams(fields).toString() });

test('the portal: a scope dropped in an edit and ticked again waits for a new approval, as through RFC 7592', async () => {
  const jar = await portalSession();
  const form = await follow(jar, '/developer/apps/new');
  const created = await postPortalForm(jar, '/developer/apps', [
    ['csrf', csrfOf(form.text)], ['type', 'service'], ['name', 'Payroll export'], ['scope', 'payroll:read'], ['scope', 'payroll:write'],
  ]);
  assert.equal(created.status, 200, created.text.slice(0, 300));
  const app = { client_id: /id="client-id">([^<]+)</.exec(created.text)![1]!, client_secret: /id="client-secret" readonly value="([^"]+)"/.exec(created.text)![1]! };
  await approve(app.client_id);
  await assertMachineAccess(app, ['payroll:read', 'payroll:write'], []);

  const edit = async (scopes: string[]) => {
    const page = await follow(jar, `/developer/apps/${encodeURIComponent(app.client_id)}`);
    const answer = await postPortalForm(jar, `/developer/apps/${encodeURIComponent(app.client_id)}/edit`, [
      ['csrf', csrfOf(page.text)], ['name', 'Payroll export'], ...scopes.map((s): [string, string] => ['scope', s]),
    ]);
    assert.equal(answer.status, 303, answer.text.slice(0, 300));
  };
  await edit(['payroll:read']);
  await assertMachineAccess(app, ['payroll:read'], []);
  await edit(['payroll:read', 'payroll:write']);
  await assertMachineAccess(app, ['payroll:read'], ['payroll:write']);
  const [dropped, ...more] = await droppedApprovals(app.client_id, 1);
  assert.deepEqual(more, []);
  assert.deepEqual(dropped, { actor: (await latchkey.operate(['user', 'show', DEVELOPER])).id, details: { scopes: ['payroll:write'], via: 'edit' } });
});
