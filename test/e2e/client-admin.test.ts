/**
 * Operator control: `latchkey client …` and /admin/api/clients. A suspended client gets
 * invalid_client with a clear description, its refresh tokens stop, its opaque access tokens
 * introspect inactive; deleting a client revokes its grants and tokens; CLIENT_APPROVAL=manual.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { authorizeInBrowser, discover, redeem, startAppServer, oauthErrorOf } from '../support/flow.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { waitFor } from '../support/wait.ts';

const API = 'https://ledger.example.com/api';
const ADMIN_TOKEN = 'admin-token-for-tests-0123456789abcdef';
import { TEST_PASSWORD as password } from '../support/users.ts';
let latchkey: Latchkey;
let browser: Browser;
let app: Awaited<ReturnType<typeof startAppServer>>;
let rs: { introspection_client_id: string; introspection_client_secret: string };

const admin = (path: string, method = 'GET') =>
  fetch(`${latchkey.issuer}/admin/api/clients${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

async function introspect(token: string) {
  const res = await fetch(`${latchkey.issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(rs.introspection_client_id)}:${encodeURIComponent(rs.introspection_client_secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

async function signedInTokens(client: { client_id: string; client_secret: string }, email: string) {
  const config = await discover(latchkey.issuer, client.client_id, client.client_secret);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const result = await authorizeInBrowser(
      page,
      config,
      { scope: 'openid offline_access ledger:read', resource: API, prompt: 'consent' },
      { login: { email, password }, consent: 'allow' },
      app.redirectUri,
    );
    return { config, tokens: await redeem(config, result, API) };
  } finally {
    await context.close();
  }
}

before(async () => {
  app = await startAppServer();
  // CLIENT_APPROVAL=manual holds back only clients developers register (DCR, portal), never an
  // operator's `client create`: one server serves both describes.
  latchkey = await startLatchkey({ ADMIN_API_TOKEN: ADMIN_TOKEN, MFA_REQUIRED: 'none', CLIENT_APPROVAL: 'manual' });
  browser = await launchBrowser();
  rs = await latchkey.cliJson(['api', 'create', '--name', 'Ledger', '--audience', API, '--scope', 'ledger:read=read', '--machine-scope', 'ledger:read', '--token-format', 'opaque']);
});
after(async () => {
  await browser?.close();
  await latchkey?.stop();
  await app?.close();
});

describe('latchkey client …', () => {
  test('--help for each command, and errors for unknown ids', async () => {
    for (const verb of ['list', 'show', 'suspend', 'unsuspend', 'approve', 'delete', 'rotate-secret']) {
      const help = await latchkey.cli(['client', verb, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`latchkey client ${verb}`));
    }
    const iatHelp = await latchkey.cli(['registration-token', 'create', '--help']);
    assert.match(iatHelp.stdout, /--max-uses/);
    const missing = await latchkey.cli(['client', 'suspend', 'nope', '--json']);
    assert.equal(missing.code, 2);
    assert.match(JSON.parse(missing.stderr).error, /no client/);
  });

  test('suspension: token endpoint, refresh and introspection; unsuspend restores; delete revokes', async () => {
    await latchkey.cliJson(['user', 'create', '--email', 'alice@example.com', '--password-stdin'], { stdin: password });
    const client = await latchkey.cliJson(['client', 'create', '--name', 'Books', '--redirect-uri', app.redirectUri, '--scope', 'openid offline_access ledger:read']);
    const { config, tokens } = await signedInTokens(client, 'alice@example.com');
    assert.ok(tokens.refresh_token);
    assert.equal((await introspect(tokens.access_token)).active, true);

    const suspended = await admin(`/${client.client_id}/suspend`, 'POST');
    assert.equal(suspended.status, 200);
    assert.equal((await suspended.json()).status, 'suspended');
    assert.equal((await latchkey.cliJson(['client', 'show', client.client_id])).status, 'suspended');

    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: API }), (e: any) => {
      assert.equal(oauthErrorOf(e).error, 'invalid_client');
      assert.match(oauthErrorOf(e).error_description ?? '', /suspended/);
      return true;
    });
    assert.equal((await introspect(tokens.access_token)).active, false);

    const unsuspended = await latchkey.cliJson(['client', 'unsuspend', client.client_id]);
    assert.equal(unsuspended.status, 'active');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: API });
    assert.ok(refreshed.access_token);
    assert.equal((await introspect(refreshed.access_token)).active, true);

    // Issuance counts are written in batches every few seconds (src/clients/usage.ts).
    const details = await waitFor('the admin API to count both tokens', async () => {
      const shown = await (await admin(`/${client.client_id}`)).json();
      return shown.activity.tokensIssued >= 2 ? shown : undefined;
    }, { timeoutMs: 10_000 });
    assert.equal(details.activity.consents, 1);

    const deleted = await latchkey.cliJson(['client', 'delete', client.client_id]);
    assert.equal(deleted.deleted, true);
    assert.equal((await introspect(refreshed.access_token)).active, false);
    await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token!, { resource: API }), (e) => oauthErrorOf(e).error === 'invalid_client');
    const list = await latchkey.cliJson(['client', 'list']);
    assert.equal(list.some((c: { client_id: string }) => c.client_id === client.client_id), false);
  });

  test('the admin API refuses without the token or the admin role', async () => {
    assert.equal((await fetch(`${latchkey.issuer}/admin/api/clients`)).status, 401);
    const wrong = await fetch(`${latchkey.issuer}/admin/api/clients`, { headers: { authorization: 'Bearer not-the-token-0123456789abcdef0123' } });
    assert.equal(wrong.status, 401);
    const ok = await admin('');
    assert.equal(ok.status, 200);
    assert.ok(Array.isArray(await ok.json()));
    assert.equal((await admin('/unknown', 'DELETE')).status, 404);
  });

  test('service client: suspension answers invalid_client with a description', async () => {
    const service = await latchkey.cliJson(['client', 'create', '--name', 'Cron', '--type', 'service', '--scope', 'ledger:read']);
    const config = await oidc.discovery(new URL(latchkey.issuer), service.client_id, service.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    assert.ok((await oidc.clientCredentialsGrant(config, { resource: API })).access_token);
    await latchkey.cliJson(['client', 'suspend', service.client_id]);
    await assert.rejects(oidc.clientCredentialsGrant(config, { resource: API }), (e) => oauthErrorOf(e).error === 'invalid_client' && /suspended/.test(oauthErrorOf(e).error_description ?? ''));
  });
});

describe('CLIENT_APPROVAL=manual', () => {
  test('a DCR client waits for approval, then works', async () => {
    const { initial_access_token: iat } = await latchkey.cliJson(['registration-token', 'create']);
    const res = await fetch(`${latchkey.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
      body: JSON.stringify({ client_name: 'Cron', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'ledger:read' }),
    });
    assert.equal(res.status, 201);
    const client = await res.json();
    assert.equal((await latchkey.cliJson(['client', 'show', client.client_id])).status, 'pending_approval');
    // Its owner can still read it through RFC 7592 while it waits.
    assert.equal((await fetch(client.registration_client_uri, { headers: { authorization: `Bearer ${client.registration_access_token}` } })).status, 200);
    const config = await oidc.discovery(new URL(latchkey.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    await assert.rejects(oidc.clientCredentialsGrant(config, { resource: API }), (e) => oauthErrorOf(e).error === 'invalid_client' && /approval/.test(oauthErrorOf(e).error_description ?? ''));
    await latchkey.cliJson(['client', 'approve', client.client_id]);
    await latchkey.cliJson(['client', 'approve-machine-access', client.client_id, '--api', API]);
    assert.ok((await oidc.clientCredentialsGrant(config, { resource: API })).access_token);
  });
});
