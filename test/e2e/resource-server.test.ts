/**
 * The resource-server kit against a real Latchkey: the example notes API is called with real
 * tokens — from a user's consent in Chromium, from client_credentials, DPoP-bound, opaque
 * (introspected) — and with forged ones. PGlite and PostgreSQL alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { base64url, decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { startNotesApi } from '../../examples/notes-api/app.ts';
import { launchBrowser } from '../support/browser.ts';
import { dpopProof, newDpopKey } from '../support/dpop.ts';
import { authorizeInBrowser, discover, redeem, startAppServer } from '../support/flow.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { waitFor } from '../support/wait.ts';

const NOTES = 'https://notes.example.com/api';
const OTHER = 'https://other.example.com/api';
const OPAQUE = 'https://opaque-notes.example.com/api';
import { TEST_PASSWORD as password } from '../support/users.ts';

let latchkey: Latchkey;
let notesApi: Awaited<ReturnType<typeof startNotesApi>>;
let opaqueApi: Awaited<ReturnType<typeof startNotesApi>>;
let appServer: Awaited<ReturnType<typeof startAppServer>>;
let browser: Browser | undefined;
const configs: Record<string, oidc.Configuration> = {};

interface Credentials { client_id: string; client_secret: string }

async function service(name: string, scope: string): Promise<oidc.Configuration> {
  const client = await latchkey.operate<Credentials>(['client', 'create', '--name', name, '--type', 'service', '--scope', scope]);
  return discover(latchkey.issuer, client.client_id, client.client_secret);
}

async function machineToken(config: oidc.Configuration, scope: string, resource: string, dpop?: oidc.DPoPHandle): Promise<string> {
  const tokens = await oidc.clientCredentialsGrant(config, { scope, resource }, dpop ? { DPoP: dpop } : undefined);
  return tokens.access_token;
}

const call = (origin: string, method: string, token: string | undefined, extra: Record<string, string> = {}, body?: unknown) =>
  fetch(`${origin}/notes`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}), ...extra },
    body: body ? JSON.stringify(body) : undefined,
  });

async function expectRefusal(response: Response, status: number, challenge: RegExp) {
  const text = await response.text();
  assert.equal(response.status, status, text);
  assert.match(response.headers.get('www-authenticate') ?? '', challenge);
  assert.doesNotMatch(text, /at .*\.(ts|js):\d+/, 'no stack trace');
  return text;
}

before(async () => {
  latchkey = await startLatchkey();
  const [notes, , opaque] = await Promise.all([
    latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write', '--machine-scope', 'notes:read', '--machine-scope', 'notes:write']),
    latchkey.operate(['api', 'create', '--name', 'Other', '--audience', OTHER, '--scope', 'other:read=read', '--machine-scope', 'other:read']),
    latchkey.operate([
      'api', 'create', '--name', 'Opaque notes', '--audience', OPAQUE, '--token-format', 'opaque', '--scope', 'onotes:read=read', '--scope', 'onotes:write=write',
      '--machine-scope', 'onotes:read', '--machine-scope', 'onotes:write',
    ]),
  ]);
  assert.ok(notes.introspection_client_id && notes.introspection_client_secret, 'api create returns introspection credentials');
  // These tests check tokens with machine (client_credentials) tokens: the example API accepts them only when told to.
  // Introspection credentials: the API learns the user behind a third-party app's (pairwise) token through them.
  const introspection = { clientId: notes.introspection_client_id, clientSecret: notes.introspection_client_secret };
  notesApi = await startNotesApi({ issuer: latchkey.issuer, audience: NOTES, allowMachineTokens: true, introspection });
  opaqueApi = await startNotesApi({
    issuer: latchkey.issuer,
    audience: OPAQUE,
    allowMachineTokens: true,
    readScope: 'onotes:read',
    writeScope: 'onotes:write',
    introspection: { clientId: opaque.introspection_client_id, clientSecret: opaque.introspection_client_secret, cacheSeconds: 1 },
  });
  [configs.reader, configs.writer, configs.other, configs.opaque] = await Promise.all([
    service('Reader', 'notes:read'),
    service('Writer', 'notes:read notes:write'),
    service('Other caller', 'other:read'),
    service('Opaque caller', 'onotes:read onotes:write'),
  ]);
});

after(async () => {
  await browser?.close();
  await notesApi?.close();
  await opaqueApi?.close();
  await appServer?.close();
  await latchkey?.stop();
});

describe('a user grants read-only or read-write in the browser', () => {
  test('read-only → GET 200, POST 403 insufficient_scope; read-write → both work', async () => {
    appServer = await startAppServer();
    browser = await launchBrowser();
    const web = await latchkey.operate<Credentials>([
      'client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', appServer.redirectUri, '--scope', 'openid notes:read notes:write',
    ]);
    const config = await discover(latchkey.issuer, web.client_id, web.client_secret);
    const email = `rs-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const user = await latchkey.operate<{ id: string }>(['user', 'create', '--email', email, '--password-stdin'], { stdin: password });
    const ctx = await browser.newContext();
    try {
      const page = await ctx.newPage();
      const params = { scope: 'openid notes:read notes:write', resource: NOTES };
      const readOnly = await authorizeInBrowser(page, config, params, { login: { email, password }, consent: 'read-only' }, appServer.redirectUri);
      const roToken = (await redeem(config, readOnly)).access_token;
      assert.equal((await call(notesApi.origin, 'GET', roToken)).status, 200);
      const refused = await expectRefusal(await call(notesApi.origin, 'POST', roToken, {}, { text: 'hi' }), 403, /^Bearer .*error="insufficient_scope".*scope="notes:write"/);
      assert.equal(JSON.parse(refused).error, 'insufficient_scope');

      const readWrite = await authorizeInBrowser(page, config, { ...params, prompt: 'consent' }, { consent: 'read-write' }, appServer.redirectUri);
      const rwToken = (await redeem(config, readWrite)).access_token;
      const created = await call(notesApi.origin, 'POST', rwToken, {}, { text: 'buy milk' });
      assert.equal(created.status, 201);
      const note = (await created.json()) as { id: string; owner: string };
      // The app's token names its own pairwise subject; the API knows the user by account id (through introspection).
      assert.equal(note.owner, user.id);
      assert.notEqual(note.owner, decodeJwt(rwToken).sub);
      const list = (await (await call(notesApi.origin, 'GET', rwToken)).json()) as Array<{ id: string }>;
      assert.ok(list.some((n) => n.id === note.id));
      const deleted = await fetch(`${notesApi.origin}/notes/${note.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${rwToken}` } });
      assert.equal(deleted.status, 204);
      await expectRefusal(await fetch(`${notesApi.origin}/notes/${note.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${roToken}` } }), 403, /insufficient_scope/);
    } finally {
      await ctx.close();
    }
  });
});

describe('JWT access tokens (client_credentials)', () => {
  test('missing token → 401 with a bare challenge', async () => {
    const response = await call(notesApi.origin, 'GET', undefined);
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate')!, /^Bearer(, DPoP algs=".*")?$/);
  });

  test('read-only machine token reads, cannot write; read-write token does both', async () => {
    const reader = await machineToken(configs.reader!, 'notes:read', NOTES);
    assert.equal((await call(notesApi.origin, 'GET', reader)).status, 200);
    await expectRefusal(await call(notesApi.origin, 'POST', reader, {}, { text: 'x' }), 403, /error="insufficient_scope"/);
    const writer = await machineToken(configs.writer!, 'notes:read notes:write', NOTES);
    assert.equal((await call(notesApi.origin, 'POST', writer, {}, { text: 'x' })).status, 201);
  });

  test('a token for another audience → 401 invalid_token', async () => {
    const other = await machineToken(configs.other!, 'other:read', OTHER);
    await expectRefusal(await call(notesApi.origin, 'GET', other), 401, /^Bearer .*error="invalid_token"/);
  });

  test('a token signed by a key not in the JWKS → 401', async () => {
    const genuine = await machineToken(configs.reader!, 'notes:read', NOTES);
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT(decodeJwt(genuine))
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'not-a-latchkey-key' })
      .sign(privateKey);
    await expectRefusal(await call(notesApi.origin, 'GET', forged), 401, /error="invalid_token"/);
  });

  test('tampered signature, tampered payload, alg none and HS256-with-the-public-key → 401', async () => {
    const genuine = await machineToken(configs.reader!, 'notes:read', NOTES);
    const [header, payload, signature] = genuine.split('.') as [string, string, string];
    const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
    await expectRefusal(await call(notesApi.origin, 'GET', `${header}.${payload}.${flipped}`), 401, /invalid_token/);

    const widened = base64url.encode(JSON.stringify({ ...decodeJwt(genuine), scope: 'notes:read notes:write' }));
    await expectRefusal(await call(notesApi.origin, 'POST', `${header}.${widened}.${signature}`, {}, { text: 'x' }), 401, /invalid_token/);

    const noneHeader = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' }));
    await expectRefusal(await call(notesApi.origin, 'GET', `${noneHeader}.${payload}.`), 401, /invalid_token/);

    const { kid } = decodeProtectedHeader(genuine);
    const jwks = (await (await fetch(`${latchkey.issuer}/jwks`)).json()) as { keys: Array<Record<string, unknown>> };
    const publicJwk = jwks.keys.find((k) => k.kid === kid)!;
    for (const secret of [JSON.stringify(publicJwk), String(publicJwk.x)]) {
      const confused = await new SignJWT(decodeJwt(genuine))
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid })
        .sign(new TextEncoder().encode(secret));
      await expectRefusal(await call(notesApi.origin, 'GET', confused), 401, /invalid_token/);
    }
  });

  test('a token with the wrong typ (an ID-token-like JWT) → 401', async () => {
    const genuine = await machineToken(configs.reader!, 'notes:read', NOTES);
    const [, payload, signature] = genuine.split('.') as [string, string, string];
    const retyped = base64url.encode(JSON.stringify({ ...decodeProtectedHeader(genuine), typ: 'JWT' }));
    await expectRefusal(await call(notesApi.origin, 'GET', `${retyped}.${payload}.${signature}`), 401, /invalid_token/);
  });
});

describe('DPoP-bound tokens', () => {
  test('bound token: no proof → 401, as Bearer → 401, valid proof → 200, replayed proof → 401', async () => {
    const key = await newDpopKey();
    const handle = oidc.getDPoPHandle(configs.reader!, { privateKey: key.privateKey, publicKey: key.publicKey });
    const token = await machineToken(configs.reader!, 'notes:read', NOTES, handle);
    assert.ok((decodeJwt(token).cnf as { jkt?: string } | undefined)?.jkt, 'Latchkey issued a DPoP-bound token');
    const url = `${notesApi.origin}/notes`;

    await expectRefusal(await fetch(url, { headers: { authorization: `DPoP ${token}` } }), 401, /^DPoP .*error="invalid_dpop_proof"/);
    const proofForBearer = await dpopProof(key, { htm: 'GET', htu: url, accessToken: token });
    await expectRefusal(await fetch(url, { headers: { authorization: `Bearer ${token}`, dpop: proofForBearer } }), 401, /^DPoP .*error="invalid_token"/);

    const proof = await dpopProof(key, { htm: 'GET', htu: url, accessToken: token });
    const ok = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    assert.equal(ok.status, 200, await ok.text());
    await expectRefusal(await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } }), 401, /^DPoP .*error="invalid_dpop_proof".*already used/);
  });

  test('proofs for another method, URL, token or key are refused; write still needs the scope', async () => {
    const key = await newDpopKey();
    const handle = oidc.getDPoPHandle(configs.reader!, { privateKey: key.privateKey, publicKey: key.publicKey });
    const token = await machineToken(configs.reader!, 'notes:read', NOTES, handle);
    const url = `${notesApi.origin}/notes`;
    const send = async (proof: string, method = 'GET') => fetch(url, { method, headers: { authorization: `DPoP ${token}`, dpop: proof } });
    await expectRefusal(await send(await dpopProof(key, { htm: 'POST', htu: url, accessToken: token })), 401, /invalid_dpop_proof/);
    await expectRefusal(await send(await dpopProof(key, { htm: 'GET', htu: `${notesApi.origin}/elsewhere`, accessToken: token })), 401, /invalid_dpop_proof/);
    await expectRefusal(await send(await dpopProof(key, { htm: 'GET', htu: url, accessToken: 'another-token' })), 401, /invalid_dpop_proof/);
    await expectRefusal(await send(await dpopProof(await newDpopKey(), { htm: 'GET', htu: url, accessToken: token })), 401, /invalid_dpop_proof/);
    await expectRefusal(await send(await dpopProof(key, { htm: 'GET', htu: url, accessToken: token, iat: Math.floor(Date.now() / 1000) - 600 })), 401, /invalid_dpop_proof/);
    await expectRefusal(await send(await dpopProof(key, { htm: 'POST', htu: url, accessToken: token }), 'POST'), 403, /^DPoP .*insufficient_scope/);
  });

  test('an unbound token sent with the DPoP scheme → 401', async () => {
    const key = await newDpopKey();
    const token = await machineToken(configs.reader!, 'notes:read', NOTES);
    const url = `${notesApi.origin}/notes`;
    const proof = await dpopProof(key, { htm: 'GET', htu: url, accessToken: token });
    await expectRefusal(await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } }), 401, /^DPoP .*invalid_token/);
  });
});

describe('introspection mode (opaque tokens)', () => {
  test('an opaque token works; once revoked it is refused after the cache window', async () => {
    const token = await machineToken(configs.opaque!, 'onotes:read onotes:write', OPAQUE);
    assert.equal(token.split('.').length, 1, 'opaque, not a JWT');
    assert.equal((await call(opaqueApi.origin, 'GET', token)).status, 200);
    assert.equal((await call(opaqueApi.origin, 'POST', token, {}, { text: 'x' })).status, 201);
    await oidc.tokenRevocation(configs.opaque!, token);
    // The API reuses an introspection answer for cacheSeconds (1 here): until then the cached
    // answer may still serve, and once it has passed the token is refused.
    const refused = await waitFor('the API to refuse the revoked token', async () => {
      const response = await call(opaqueApi.origin, 'GET', token);
      if (response.status !== 200) return response;
      await response.body?.cancel();
      return undefined;
    }, { timeoutMs: 3000 });
    await expectRefusal(refused, 401, /invalid_token/);
  });

  test('a JWT API cannot introspect tokens of another API, and a random string is inactive', async () => {
    const token = await machineToken(configs.opaque!, 'onotes:read', OPAQUE);
    await expectRefusal(await call(opaqueApi.origin, 'GET', 'not-a-real-token'), 401, /invalid_token/);
    await expectRefusal(await call(opaqueApi.origin, 'POST', token, {}, { text: 'x' }), 403, /insufficient_scope/);
    await expectRefusal(await call(notesApi.origin, 'GET', token), 401, /invalid_token/);
  });
});
