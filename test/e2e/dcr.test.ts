/**
 * Dynamic Client Registration (RFC 7591) with Latchkey's initial access tokens, RFC 7592
 * management with the registration access token, and the one validation path: every refused
 * redirect URI or metadata case answers invalid_redirect_uri / invalid_client_metadata.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { CLOCK_TOLERANCE } from '../../src/config/clock-tolerance.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { oauthErrorOf } from '../support/flow.ts';

const API = 'https://reports.example.com/api';
let latchkey: Latchkey;
let owner: { id: string; email: string };

const register = (body: unknown, token?: string) =>
  fetch(`${latchkey.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });

const iat = async (...args: string[]) => (await latchkey.operate(['registration-token', 'create', ...args])).initial_access_token as string;

const web = (extra: Record<string, unknown> = {}) => ({
  client_name: 'Reporter',
  redirect_uris: ['https://reporter.example.com/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  scope: 'openid reports:read',
  ...extra,
});

/** A one-second initial access token made first, so that its expiry passes while the other tests run. */
let shortLived: { token: string; expiresAt: number };

before(async () => {
  // Many registrations from one address in this suite: lift issue 6's registration rate limit.
  latchkey = await startLatchkey({ RATE_LIMIT_REGISTRATION_IP: '1000/3600' });
  const created = await latchkey.operate(['registration-token', 'create', '--expires', '1']);
  shortLived = { token: created.initial_access_token, expiresAt: Date.parse(created.expires_at) };
  await latchkey.operate(['api', 'create', '--name', 'Reports', '--audience', API, '--scope', 'reports:read=read', '--scope', 'reports:write=write', '--machine-scope', 'reports:read']);
  owner = await latchkey.operate(['user', 'create', '--email', 'dev@example.com', '--password-stdin', '--role', 'developer'], { stdin: 'correct horse battery staple' });
});
after(async () => latchkey?.stop());

describe('initial access tokens', () => {
  test('no token, a wrong token: 401 invalid_token', async () => {
    const none = await register(web());
    assert.equal(none.status, 401);
    assert.equal((await none.json()).error, 'invalid_token');
    const wrong = await register(web(), 'not-a-token');
    assert.equal(wrong.status, 401);
  });

  test('a valid token registers a client; its owner and API scopes are recorded, the secret is encrypted at rest', async () => {
    const token = await iat('--owner', owner.email);
    const res = await register(web(), token);
    assert.equal(res.status, 201);
    const client = await res.json();
    assert.ok(client.client_id && client.client_secret && client.registration_access_token);
    assert.equal(client.scope, 'openid reports:read');
    const shown = await latchkey.operate(['client', 'show', client.client_id]);
    assert.equal(shown.owner, owner.email);
    assert.equal(shown.created_via, 'dcr');
    assert.deepEqual(shown.api_scopes, ['reports:read']);
    assert.equal(shown.has_secret, true);
    assert.equal(JSON.stringify(shown).includes(client.client_secret), false);
    const list = await latchkey.operate(['client', 'list']);
    assert.ok(list.some((c: { client_id: string }) => c.client_id === client.client_id));
  });

  test('a used-up token is refused; a refused registration does not use it up', async () => {
    const token = await iat('--max-uses', '1');
    const bad = await register(web({ redirect_uris: ['http://evil.example.com/cb'] }), token);
    assert.equal(bad.status, 400);
    assert.equal((await register(web(), token)).status, 201);
    const again = await register(web(), token);
    assert.equal(again.status, 401);
    const body = await again.json();
    assert.equal(body.error, 'invalid_token');
    assert.match(body.error_description, /used up/);
  });
});

describe('one validation path', () => {
  let token: string;
  before(async () => {
    token = await iat();
  });

  const badRedirects: Array<[string, Record<string, unknown>]> = [
    ['http on a public host', web({ redirect_uris: ['http://app.example.com/cb'] })],
    ['a fragment', web({ redirect_uris: ['https://app.example.com/cb#x'] })],
    ['a wildcard', web({ redirect_uris: ['https://*.example.com/cb'] })],
    ['relative', web({ redirect_uris: ['/cb'] })],
    ['javascript:', web({ redirect_uris: ['javascript:alert(1)'] })],
    ['data:', web({ redirect_uris: ['data:text/html,hi'] })],
    ['a custom scheme for a web app', web({ redirect_uris: ['com.example.app:/cb'] })],
    ['a custom scheme that is not reverse-DNS (native)', web({ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['myapp:/cb'] })],
    ['credentials in the URI', web({ redirect_uris: ['https://user:pw@app.example.com/cb'] })],
    ['too long', web({ redirect_uris: [`https://app.example.com/${'a'.repeat(2100)}`] })],
  ];
  for (const [label, body] of badRedirects) {
    test(`redirect URI with ${label}: invalid_redirect_uri`, async () => {
      const res = await register(body, token);
      assert.equal(res.status, 400);
      assert.equal((await res.json()).error, 'invalid_redirect_uri');
    });
  }

  const badMetadata: Array<[string, Record<string, unknown>]> = [
    ['an http logo', web({ logo_uri: 'http://cdn.example.com/logo.png' })],
    ['a javascript: homepage', web({ client_uri: 'javascript:alert(1)' })],
    ['an http privacy policy', web({ policy_uri: 'http://example.com/privacy' })],
    ['a name too long', web({ client_name: 'x'.repeat(101) })],
    ['an unknown API scope', web({ scope: 'openid payroll:write' })],
    ['the implicit grant', web({ grant_types: ['implicit'], response_types: ['id_token'] })],
    ['a jwks_uri (server-side fetch)', web({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://app.example.com/jwks' })],
    ['a server-owned field', web({ latchkey_resource_server_audience: API })],
    ['an http post-logout URI', web({ post_logout_redirect_uris: ['http://app.example.com/bye'] })],
    ['a CORS origin with a path', web({ token_endpoint_auth_method: 'none', allowed_cors_origins: ['https://app.example.com/path'] })],
    ['an unsupported auth method', web({ token_endpoint_auth_method: 'client_secret_jwt' })],
  ];
  for (const [label, body] of badMetadata) {
    test(`${label}: invalid_client_metadata`, async () => {
      const res = await register(body, token);
      assert.equal(res.status, 400);
      assert.equal((await res.json()).error, 'invalid_client_metadata');
    });
  }

  test('what the CLI refuses, DCR refuses too (and the other way round)', async () => {
    const cli = await latchkey.cli(['client', 'create', '--name', 'X', '--redirect-uri', 'https://app.example.com/cb#x', '--scope', 'openid']);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /fragment/);
    const logo = await latchkey.cli(['client', 'create', '--name', 'X', '--redirect-uri', 'https://app.example.com/cb', '--logo-uri', 'http://x.example.com/l.png', '--scope', 'openid']);
    assert.equal(logo.code, 2);
    assert.match(logo.stderr, /logo_uri must be an https URL/);
  });

  test('native, single-page and service apps register with their own rules', async () => {
    const native = await register({ client_name: 'Phone', application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['com.example.phone:/cb', 'http://127.0.0.1:8765/cb'] }, token);
    assert.equal(native.status, 201, await native.clone().text());
    assert.equal((await native.json()).client_secret, undefined);
    const spa = await register({ client_name: 'Browser', token_endpoint_auth_method: 'none', redirect_uris: ['https://spa.example.com/cb'], allowed_cors_origins: ['https://spa.example.com'] }, token);
    assert.equal(spa.status, 201, await spa.clone().text());
    const service = await register({ client_name: 'Cron', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'reports:read' }, token);
    assert.equal(service.status, 201, await service.clone().text());
  });
});

describe('RFC 7592 management and the registered client at work', () => {
  test('read, update, use, delete', async () => {
    const token = await iat('--owner', owner.email);
    const created = await (await register({ client_name: 'Nightly', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'reports:read' }, token)).json();
    const auth = (rat: string) => ({ authorization: `Bearer ${rat}` });

    const read = await fetch(created.registration_client_uri, { headers: auth(created.registration_access_token) });
    assert.equal(read.status, 200);
    const current = await read.json();
    assert.equal(current.client_name, 'Nightly');
    assert.equal(current.scope, 'reports:read');

    // Once an operator approves its machine access, the registered client obtains a token for the API with client_credentials.
    await latchkey.operate(['client', 'approve-machine-access', created.client_id, '--api', API]);
    const config = await oidc.discovery(new URL(latchkey.issuer), created.client_id, created.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'reports:read', resource: API });
    assert.ok(tokens.access_token);

    // Update: a bad redirect is refused the same way as on registration…
    const { registration_access_token: rat, registration_client_uri: _u, client_secret_expires_at: _e, client_id_issued_at: _i, ...rest } = current;
    const refused = await fetch(created.registration_client_uri, {
      method: 'PUT',
      headers: { ...auth(rat), 'content-type': 'application/json' },
      body: JSON.stringify({ ...rest, logo_uri: 'http://cdn.example.com/logo.png' }),
    });
    assert.equal(refused.status, 400);
    assert.equal((await refused.json()).error, 'invalid_client_metadata');
    // …and a good one is stored, with the API scopes widened.
    const updated = await fetch(created.registration_client_uri, {
      method: 'PUT',
      headers: { ...auth(rat), 'content-type': 'application/json' },
      body: JSON.stringify({ ...rest, client_name: 'Nightly reports', scope: 'reports:read reports:write' }),
    });
    assert.equal(updated.status, 200, await updated.clone().text());
    const after = await updated.json();
    assert.equal(after.client_name, 'Nightly reports');
    assert.equal(after.scope, 'reports:read reports:write');
    const shown = await latchkey.operate(['client', 'show', created.client_id]);
    assert.equal(shown.name, 'Nightly reports');
    assert.deepEqual(shown.api_scopes, ['reports:read', 'reports:write']);
    assert.equal(shown.owner, owner.email);
    // The secret still works after the update (stored encrypted, unchanged); widening its scopes
    // through RFC 7592 gave the app no machine access to reports:write.
    assert.ok((await oidc.clientCredentialsGrant(config, { scope: 'reports:read', resource: API })).access_token);
    await assert.rejects(oidc.clientCredentialsGrant(config, { scope: 'reports:write', resource: API }), (e: any) => e.error === 'invalid_scope');

    const newRat = after.registration_access_token;
    const deleted = await fetch(created.registration_client_uri, { method: 'DELETE', headers: auth(newRat) });
    assert.equal(deleted.status, 204);
    await assert.rejects(oidc.clientCredentialsGrant(config, { scope: 'reports:read', resource: API }), (e) => oauthErrorOf(e).error === 'invalid_client');
    const gone = await latchkey.cli(['client', 'show', created.client_id, '--json']);
    assert.equal(gone.code, 2);
    const again = await fetch(created.registration_client_uri, { headers: auth(newRat) });
    assert.equal(again.status, 401);
  });
});

describe('an initial access token past its expiry', () => {
  test('is refused (the one-second token made before the other tests)', async () => {
    assert.ok(shortLived.expiresAt <= Date.now(), `expires_at ${new Date(shortLived.expiresAt).toISOString()} was a second after its creation`);
    // oidc-provider ends it CLOCK_TOLERANCE seconds after its exp, which is at or before the
    // expires_at the CLI reported: wait until then, if the tests above took less.
    await new Promise((r) => setTimeout(r, Math.max(0, shortLived.expiresAt + CLOCK_TOLERANCE * 1000 - Date.now())));
    const res = await register(web(), shortLived.token);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, 'invalid_token');
  });
});
