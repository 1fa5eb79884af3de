/**
 * Signed requests and sender-constrained tokens (issue 6): pushed authorization requests (and
 * a client that insists on them), signed request objects (JAR), private_key_jwt client
 * authentication and DPoP-bound tokens — driven by openid-client v6, with a user signing in
 * through Chromium. Every client here is registered through DCR with an inline `jwks`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { startNotesApi } from '../../examples/notes-api/app.ts';
import { launchBrowser } from '../support/browser.ts';
import { dpopProof } from '../support/dpop.ts';
import { followInBrowser, startAppServer, oauthErrorOf } from '../support/flow.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';

const NOTES = 'https://notes.example.com/api';
import { createTestUser, TEST_PASSWORD as password } from '../support/users.ts';

let latchkey: Latchkey;
let app: Awaited<ReturnType<typeof startAppServer>>;
let notesApi: Awaited<ReturnType<typeof startNotesApi>>;
let browser: Browser;
let registrationToken: string;

interface SigningKey { privateKey: CryptoKey; publicJwk: JWK; kid: string }

async function signingKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { privateKey, publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' }, kid };
}

async function register(metadata: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await fetch(`${latchkey.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${registrationToken}` },
    body: JSON.stringify(metadata),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

const webApp = (extra: Record<string, unknown>) => ({
  client_name: 'Signed app',
  redirect_uris: [app.redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  scope: 'openid offline_access notes:read',
  ...extra,
});

const discoverWith = (clientId: string, metadata: Partial<oidc.ClientMetadata>, auth: oidc.ClientAuth) =>
  oidc.discovery(new URL(latchkey.issuer), clientId, metadata, auth, { execute: [oidc.allowInsecureRequests] });

const privateKeyJwt = (key: SigningKey) => oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid });

const newUser = () => createTestUser(latchkey, 'signed');

/** A fresh request's checks: PKCE verifier, state, nonce, and the parameters that carry them. */
async function freshRequest(scope = 'openid notes:read') {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const params: Record<string, string> = {
    redirect_uri: app.redirectUri,
    scope,
    resource: NOTES,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  return { verifier, state, nonce, params };
}

/** Signs a new user in through `build(params)`'s URL and redeems the code. */
async function signInAndRedeem(
  config: oidc.Configuration,
  build: (params: Record<string, string>) => Promise<URL> | URL,
  options: { scope?: string; dpop?: oidc.DPoPHandle; extraParams?: Record<string, string> } = {},
) {
  const request = await freshRequest(options.scope);
  const url = await build({ ...request.params, ...options.extraParams });
  const context = await browser.newContext();
  try {
    const { callbackUrl: callback } = await followInBrowser(await context.newPage(), url, { login: await newUser(), consent: 'allow' }, app.redirectUri);
    assert.equal(callback.searchParams.get('error'), null, callback.href);
    return await oidc.authorizationCodeGrant(
      config,
      callback,
      { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, idTokenExpected: true },
      undefined,
      options.dpop ? { DPoP: options.dpop } : undefined,
    );
  } finally {
    await context.close();
  }
}

/** What /auth answers a URL with, without a browser: an error redirect to the app or an error page. */
async function authorizationError(url: URL): Promise<{ error: string | null; description: string }> {
  const res = await fetch(url, { redirect: 'manual' });
  const location = res.headers.get('location');
  if (location && location.startsWith(app.redirectUri)) {
    const back = new URL(location);
    return { error: back.searchParams.get('error'), description: back.searchParams.get('error_description') ?? '' };
  }
  const html = await res.text();
  assert.equal(res.status, 400, `expected an error, got ${res.status} ${location ?? ''}`);
  return { error: /invalid_request_object|invalid_request_uri|request_uri_not_supported|invalid_request|invalid_client/.exec(html)?.[0] ?? null, description: html };
}

before(async () => {
  app = await startAppServer();
  // Several registrations from one address: lift the registration rate limit for this suite.
  latchkey = await startLatchkey({ RATE_LIMIT_REGISTRATION_IP: '1000/3600' });
  browser = await launchBrowser();
  const notes = await latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write', '--machine-scope', 'notes:read']);
  // Introspection credentials: the API learns the user behind a third-party app's (pairwise) token through them.
  const introspection = { clientId: notes.introspection_client_id, clientSecret: notes.introspection_client_secret };
  notesApi = await startNotesApi({ issuer: latchkey.issuer, audience: NOTES, allowMachineTokens: true, introspection });
  registrationToken = (await latchkey.operate(['registration-token', 'create'])).initial_access_token;
});

after(async () => {
  await browser?.close();
  await notesApi?.close();
  await latchkey?.stop();
  await app?.close();
});

describe('discovery', () => {
  test('advertises PAR, request objects, private_key_jwt and DPoP', async () => {
    const md = await (await fetch(`${latchkey.issuer}/.well-known/openid-configuration`)).json();
    assert.ok(md.pushed_authorization_request_endpoint);
    assert.equal(md.request_parameter_supported, true);
    assert.ok(md.request_object_signing_alg_values_supported.includes('ES256'));
    assert.equal(md.request_object_signing_alg_values_supported.includes('none'), false, 'unsigned request objects are not accepted');
    assert.ok(md.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
    assert.ok(md.dpop_signing_alg_values_supported.includes('ES256'));
  });
});

describe('pushed authorization requests (PAR)', () => {
  test('a confidential client pushes its request and the user signs in; the request_uri is single-use', async () => {
    const client = await register(webApp({}));
    const config = await discoverWith(client.client_id, {}, oidc.ClientSecretBasic(client.client_secret));
    let pushed: URL | undefined;
    const tokens = await signInAndRedeem(config, async (params) => {
      pushed = await oidc.buildAuthorizationUrlWithPAR(config, params);
      assert.deepEqual([...pushed.searchParams.keys()].sort(), ['client_id', 'request_uri'], 'only a reference travels through the browser');
      assert.match(pushed.searchParams.get('request_uri')!, /^urn:ietf:params:oauth:request_uri:/);
      return pushed;
    });
    assert.equal(decodeJwt(tokens.access_token).aud, NOTES);
    assert.ok(tokens.claims()?.sub);
    const again = await authorizationError(pushed!);
    assert.equal(again.error, 'invalid_request_uri');
    assert.match(again.description, /already used/);
  });

  test('require_pushed_authorization_requests: plain /auth refused, PAR succeeds', async () => {
    const client = await register(webApp({ require_pushed_authorization_requests: true }));
    assert.equal(client.require_pushed_authorization_requests, true);
    const config = await discoverWith(client.client_id, {}, oidc.ClientSecretBasic(client.client_secret));
    const plain = await authorizationError(oidc.buildAuthorizationUrl(config, (await freshRequest()).params));
    assert.equal(plain.error, 'invalid_request');
    assert.match(plain.description, /Pushed Authorization Request must be used/);
    const tokens = await signInAndRedeem(config, (params) => oidc.buildAuthorizationUrlWithPAR(config, params));
    assert.ok(tokens.access_token);
  });
});

describe('signed request objects (JAR) and private_key_jwt', () => {
  let key: SigningKey;
  let client: Record<string, any>;
  let config: oidc.Configuration;

  before(async () => {
    key = await signingKey();
    client = await register(
      webApp({
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [key.publicJwk] },
        request_object_signing_alg: 'ES256',
        require_signed_request_object: true,
      }),
    );
    assert.equal(client.client_secret, undefined, 'a private_key_jwt client gets no secret');
    config = await discoverWith(client.client_id, { token_endpoint_auth_method: 'private_key_jwt' }, privateKeyJwt(key));
  });

  test('the client is stored with its public keys only', async () => {
    const shown = await latchkey.operate(['client', 'show', client.client_id]);
    assert.equal(shown.has_secret, false);
    assert.equal(shown.metadata.token_endpoint_auth_method, 'private_key_jwt');
    assert.equal(shown.metadata.require_signed_request_object, true);
    assert.deepEqual(Object.keys(shown.metadata.jwks.keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });

  test('a signed request object and private_key_jwt at the token endpoint', async () => {
    const tokens = await signInAndRedeem(config, async (params) => {
      const url = await oidc.buildAuthorizationUrlWithJAR(config, params, { key: key.privateKey, kid: key.kid });
      assert.ok(url.searchParams.get('request'));
      assert.equal(url.searchParams.get('scope'), null, 'parameters travel inside the signed object');
      return url;
    });
    assert.equal(decodeJwt(tokens.access_token).client_id, client.client_id);
    assert.ok(tokens.claims()?.sub);
  });

  test('JAR pushed through PAR', async () => {
    const tokens = await signInAndRedeem(config, async (params) => {
      const jar = await oidc.buildAuthorizationUrlWithJAR(config, params, { key: key.privateKey, kid: key.kid });
      return oidc.buildAuthorizationUrlWithPAR(config, jar.searchParams);
    });
    assert.ok(tokens.access_token);
  });

  test('a request object signed with another key is refused; so is an unsigned request for this client', async () => {
    const intruder = await signingKey();
    const forged = await oidc.buildAuthorizationUrlWithJAR(config, (await freshRequest()).params, { key: intruder.privateKey, kid: key.kid });
    const refused = await authorizationError(forged);
    assert.equal(refused.error, 'invalid_request_object', refused.description);
    const plain = await authorizationError(oidc.buildAuthorizationUrl(config, (await freshRequest()).params));
    assert.equal(plain.error, 'invalid_request');
    assert.match(plain.description, /request object/i);
  });

  test('client_credentials with private_key_jwt; a wrong key or a replayed assertion is invalid_client', async () => {
    const svcKey = await signingKey();
    const service = await register({
      client_name: 'Signed service',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'notes:read',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [svcKey.publicJwk] },
    });
    await latchkey.operate(['client', 'approve-machine-access', service.client_id, '--api', NOTES]);
    const svc = await discoverWith(service.client_id, { token_endpoint_auth_method: 'private_key_jwt' }, privateKeyJwt(svcKey));
    const tokens = await oidc.clientCredentialsGrant(svc, { scope: 'notes:read', resource: NOTES });
    assert.equal(decodeJwt(tokens.access_token).client_id, service.client_id);
    assert.equal((await fetch(`${notesApi.origin}/notes`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 200);

    const wrong = await signingKey();
    const impostor = await discoverWith(service.client_id, { token_endpoint_auth_method: 'private_key_jwt' }, privateKeyJwt({ ...wrong, kid: svcKey.kid }));
    await assert.rejects(oidc.clientCredentialsGrant(impostor, { scope: 'notes:read', resource: NOTES }), (e) => oauthErrorOf(e).error === 'invalid_client');
    // The code-flow client's key does not authenticate the service either.
    const other = await discoverWith(service.client_id, { token_endpoint_auth_method: 'private_key_jwt' }, privateKeyJwt(key));
    await assert.rejects(oidc.clientCredentialsGrant(other, { scope: 'notes:read', resource: NOTES }), (e) => oauthErrorOf(e).error === 'invalid_client');

    // A captured assertion cannot be replayed (jti).
    let captured: string | undefined;
    const capture = await discoverWith(service.client_id, { token_endpoint_auth_method: 'private_key_jwt' }, async (as, c, body, headers) => {
      await privateKeyJwt(svcKey)(as, c, body, headers);
      captured = body.get('client_assertion') ?? undefined;
    });
    await oidc.clientCredentialsGrant(capture, { scope: 'notes:read', resource: NOTES });
    const replay = await fetch(`${latchkey.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: 'notes:read',
        resource: NOTES,
        client_id: service.client_id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: captured!,
      }),
    });
    assert.equal(replay.status, 401);
    assert.equal((await replay.json()).error, 'invalid_client');
  });

  test('DCR refuses a jwks_uri and private keys in jwks', async () => {
    const res = (metadata: Record<string, unknown>) =>
      fetch(`${latchkey.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${registrationToken}` },
        body: JSON.stringify(webApp({ token_endpoint_auth_method: 'private_key_jwt', ...metadata })),
      });
    const uri = await res({ jwks_uri: 'https://app.example.com/jwks' });
    assert.equal(uri.status, 400);
    assert.equal((await uri.json()).error, 'invalid_client_metadata');
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const priv = await res({ jwks: { keys: [await exportJWK(privateKey)] } });
    assert.equal(priv.status, 400);
    assert.equal((await priv.json()).error, 'invalid_client_metadata');
  });
});

describe('DPoP at the token endpoint', () => {
  let client: Record<string, any>;
  let config: oidc.Configuration;

  before(async () => {
    client = await register(webApp({ client_name: 'DPoP app', token_endpoint_auth_method: 'none', dpop_bound_access_tokens: true }));
    config = await discoverWith(client.client_id, { token_endpoint_auth_method: 'none' }, oidc.None());
  });

  test('code exchange and refresh bound to the key; the resource-server kit needs the proof', async () => {
    const keyPair = await oidc.randomDPoPKeyPair('ES256');
    const dpop = oidc.getDPoPHandle(config, keyPair);
    const publicJwk = await exportJWK(keyPair.publicKey);
    const thumbprint = await calculateJwkThumbprint(publicJwk);

    const tokens = await signInAndRedeem(config, (params) => oidc.buildAuthorizationUrlWithPAR(config, params, { DPoP: dpop }), {
      scope: 'openid offline_access notes:read',
      dpop,
      extraParams: { prompt: 'consent' },
    });
    assert.equal(tokens.token_type, 'dpop');
    assert.equal((decodeJwt(tokens.access_token).cnf as { jkt?: string }).jkt, thumbprint);
    assert.ok(tokens.refresh_token, 'offline_access was granted');

    // The notes API (src/resource-server): a proof for this request → 200; as Bearer or without a proof → 401.
    const url = `${notesApi.origin}/notes`;
    const key = { privateKey: keyPair.privateKey, publicKey: keyPair.publicKey, publicJwk: { ...publicJwk } };
    const ok = await fetch(url, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await dpopProof(key, { htm: 'GET', htu: url, accessToken: tokens.access_token }) } });
    assert.equal(ok.status, 200, await ok.text());
    assert.equal((await fetch(url, { headers: { authorization: `DPoP ${tokens.access_token}` } })).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 401);

    // Refresh with the key: still DPoP-bound to the same key, the refresh token rotated.
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: dpop });
    assert.equal(refreshed.token_type, 'dpop');
    assert.equal((decodeJwt(refreshed.access_token).cnf as { jkt?: string }).jkt, thumbprint);
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token);

    // The refresh token is bound to the key: without a proof, or with another key, it is refused.
    await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token!), (e: any) => {
      assert.equal(e.error, 'invalid_grant', String(e));
      return true;
    });
    const thief = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token!, undefined, { DPoP: thief }), (e: any) => {
      assert.equal(e.error, 'invalid_grant', String(e));
      return true;
    });
    // The holder of the key still can.
    const again = await oidc.refreshTokenGrant(config, refreshed.refresh_token!, undefined, { DPoP: dpop });
    assert.equal((decodeJwt(again.access_token).cnf as { jkt?: string }).jkt, thumbprint);
  });

  test('dpop_bound_access_tokens: a token request without a proof is refused', async () => {
    const error = await signInAndRedeem(config, (params) => oidc.buildAuthorizationUrlWithPAR(config, params)).then(
      () => undefined,
      (e: any) => e,
    );
    assert.ok(error, 'the code exchange without DPoP must fail');
    // oidc-provider says only "grant request is invalid" (the detail, "DPoP proof JWT not provided", stays in its logs).
    assert.equal(error.error, 'invalid_grant', String(error));
  });
});

describe('the CLI sets the same metadata', () => {
  test('client create --auth-method private_key_jwt --jwks-file --dpop-bound, and --require-par', async () => {
    const key = await signingKey();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-jwks-'));
    const file = path.join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [key.publicJwk] }));
    try {
      const service = await latchkey.cliJson([
        'client', 'create', '--name', 'Keyed service', '--type', 'service', '--scope', 'notes:read',
        '--auth-method', 'private_key_jwt', '--jwks-file', file, '--dpop-bound',
      ]);
      assert.equal(service.client_secret, undefined);
      const svc = await discoverWith(service.client_id, { token_endpoint_auth_method: 'private_key_jwt' }, privateKeyJwt(key));
      const dpop = oidc.getDPoPHandle(svc, await oidc.randomDPoPKeyPair('ES256'));
      const tokens = await oidc.clientCredentialsGrant(svc, { scope: 'notes:read', resource: NOTES }, { DPoP: dpop });
      assert.equal(tokens.token_type, 'dpop');
      await assert.rejects(oidc.clientCredentialsGrant(svc, { scope: 'notes:read', resource: NOTES }), (e: any) => e.error === 'invalid_grant');

      const web = await latchkey.cliJson(['client', 'create', '--name', 'PAR only', '--redirect-uri', app.redirectUri, '--scope', 'openid notes:read', '--require-par']);
      const config = await discoverWith(web.client_id, {}, oidc.ClientSecretBasic(web.client_secret));
      const plain = await authorizationError(oidc.buildAuthorizationUrl(config, (await freshRequest()).params));
      assert.match(plain.description, /Pushed Authorization Request must be used/);
      const pushed = await fetch(await oidc.buildAuthorizationUrlWithPAR(config, (await freshRequest()).params), { redirect: 'manual' });
      assert.match(pushed.headers.get('location') ?? '', /^\/interaction\//);

      const spa = await latchkey.cli(['client', 'create', '--name', 'X', '--type', 'spa', '--redirect-uri', app.redirectUri, '--scope', 'openid', '--auth-method', 'private_key_jwt', '--jwks-file', file]);
      assert.equal(spa.code, 2);
      assert.match(spa.stderr, /private_key_jwt is for web and service apps/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
