/**
 * Revocation that reaches JWT access tokens: Latchkey's Token Status List feed
 * (draft-ietf-oauth-status-list) and the kit's check. A user grants the notes API in Chromium,
 * the API accepts the JWT; revoking the app on /account, disabling the user, or suspending a
 * client makes the same JWT refused once the feed refreshes — measured against the cache
 * windows. PGlite and PostgreSQL alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext } from 'playwright-core';
import { startNotesApi } from '../../examples/notes-api/app.ts';
import { SERVER_CACHE_SECONDS } from '../../src/revocation/status-list-feed.ts';
import { launchBrowser } from '../support/browser.ts';
import { discover, signInAndRedeem, startAppServer } from '../support/flow.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { KIT_STATUS_CACHE_SECONDS, REVOKED_WITHIN_MS, untilRefused, type Refusal } from '../support/revocation.ts';
import { createTestUser } from '../support/users.ts';

const NOTES = 'https://notes.example.com/api';

let latchkey: Latchkey;
let notesApi: Awaited<ReturnType<typeof startNotesApi>>;
let appServer: Awaited<ReturnType<typeof startAppServer>>;
let browser: Browser;
let web: { client_id: string; client_secret: string };
let config: oidc.Configuration;

const getNotes = (token: string) => fetch(`${notesApi.origin}/notes`, { headers: { authorization: `Bearer ${token}` } });

const notesRefuse = (token: string) => untilRefused(`${notesApi.origin}/notes`, token);

function assertRevokedInTime(refusal: Refusal) {
  assert.equal(refusal.status, 401);
  assert.equal(refusal.body.error, 'invalid_token');
  assert.match(refusal.body.error_description ?? '', /revoked/);
  assert.match(refusal.challenge, /^Bearer .*error="invalid_token"/);
  assert.ok(refusal.ms <= REVOKED_WITHIN_MS, `refused after ${refusal.ms} ms (allowed ${REVOKED_WITHIN_MS} ms)`);
  console.log(`# refused ${refusal.ms} ms after the revocation (allowed ${REVOKED_WITHIN_MS} ms)`);
}

const newUser = (tag: string) => createTestUser(latchkey, tag);

async function grantInBrowser(ctx: BrowserContext, user: { email: string; password: string }) {
  const page = await ctx.newPage();
  const tokens = await signInAndRedeem(page, config, { scope: 'openid notes:read notes:write', resource: NOTES }, { login: user, consent: 'read-write' }, appServer.redirectUri);
  return { page, tokens };
}

before(async () => {
  latchkey = await startLatchkey();
  const notes = await latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write', '--machine-scope', 'notes:read']);
  // Introspection credentials: the API learns the user behind a third-party app's (pairwise) token through them.
  const introspection = { clientId: notes.introspection_client_id, clientSecret: notes.introspection_client_secret };
  notesApi = await startNotesApi({ issuer: latchkey.issuer, audience: NOTES, statusList: { cacheSeconds: KIT_STATUS_CACHE_SECONDS }, allowMachineTokens: true, introspection });
  appServer = await startAppServer();
  browser = await launchBrowser();
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', appServer.redirectUri, '--scope', 'openid notes:read notes:write']);
  config = await discover(latchkey.issuer, web.client_id, web.client_secret);
});

after(async () => {
  await browser?.close();
  await notesApi?.close();
  await appServer?.close();
  await latchkey?.stop();
});

describe('the revocation feed', () => {
  test('JWT access tokens name a position; the feed is a signed statuslist+jwt', async () => {
    const ctx = await browser.newContext();
    try {
      const { tokens } = await grantInBrowser(ctx, await newUser('feed'));
      const claims = decodeJwt(tokens.access_token) as { status?: { status_list?: { idx: number; uri: string } } };
      const ref = claims.status?.status_list;
      assert.ok(ref && Number.isInteger(ref.idx) && ref.idx >= 0, 'status.status_list.idx');
      assert.equal(ref.uri, `${latchkey.issuer}/statuslists/0`);
      assert.equal((await getNotes(tokens.access_token)).status, 200);

      const response = await fetch(ref.uri);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^application\/statuslist\+jwt/);
      assert.equal(response.headers.get('cache-control'), `public, max-age=${SERVER_CACHE_SECONDS}`);
      const listToken = await response.text();
      const header = decodeProtectedHeader(listToken);
      assert.equal(header.typ, 'statuslist+jwt');
      assert.equal(header.alg, 'ES256');
      const jwks = (await (await fetch(`${latchkey.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
      assert.ok(jwks.keys.some((k) => k.kid === header.kid), 'signed with a published key');
      const payload = decodeJwt(listToken) as Record<string, any>;
      assert.equal(payload.sub, ref.uri);
      assert.equal(payload.iss, latchkey.issuer);
      assert.ok(payload.iat && payload.exp > payload.iat && payload.ttl > 0);
      assert.equal(payload.status_list.bits, 1);
      assert.match(payload.status_list.lst, /^[\w-]+$/);

      assert.equal((await fetch(`${latchkey.issuer}/statuslists/99`)).status, 404, 'lists that hold no position do not exist');
    } finally {
      await ctx.close();
    }
  });

  test('a user revokes the app on /account → the same JWT is refused once the feed refreshes', async () => {
    const ctx = await browser.newContext();
    try {
      const { page, tokens } = await grantInBrowser(ctx, await newUser('revoke'));
      assert.equal((await getNotes(tokens.access_token)).status, 200);
      await page.goto(`${latchkey.issuer}/account`);
      const app = page.locator(`.connected-app[data-client-id="${web.client_id}"]`);
      assert.equal(await app.count(), 1);
      await Promise.all([page.waitForNavigation(), app.locator('button').click()]);
      assert.equal(await page.locator(`.connected-app[data-client-id="${web.client_id}"]`).count(), 0);
      assertRevokedInTime(await notesRefuse(tokens.access_token));
    } finally {
      await ctx.close();
    }
  });

  test('another user of the same app is unaffected; disabling that user refuses their JWT', async () => {
    const ctx = await browser.newContext();
    const otherCtx = await browser.newContext();
    try {
      const user = await newUser('disable');
      const { tokens } = await grantInBrowser(ctx, user);
      const { tokens: bystander } = await grantInBrowser(otherCtx, await newUser('bystander'));
      assert.equal((await getNotes(tokens.access_token)).status, 200);
      const disabled = await latchkey.operate(['user', 'disable', '--email', user.email]);
      assert.equal(disabled.status, 'disabled');
      assert.ok(disabled.sessions_ended >= 1, 'the browser session ended');
      assertRevokedInTime(await notesRefuse(tokens.access_token));
      assert.equal((await getNotes(bystander.access_token)).status, 200, 'the other user of the same app still gets in');
    } finally {
      await ctx.close();
      await otherCtx.close();
    }
  });

  test('a suspended client (latchkey client suspend): its client_credentials JWTs are refused', async () => {
    const service = await latchkey.operate<{ client_id: string; client_secret: string }>(['client', 'create', '--name', 'Batch job', '--type', 'service', '--scope', 'notes:read']);
    const serviceConfig = await discover(latchkey.issuer, service.client_id, service.client_secret);
    const machine = (await oidc.clientCredentialsGrant(serviceConfig, { scope: 'notes:read', resource: NOTES })).access_token;
    assert.ok((decodeJwt(machine).status as { status_list?: unknown } | undefined)?.status_list, 'client_credentials JWTs carry a status too');
    assert.equal((await getNotes(machine)).status, 200);
    await latchkey.operate(['client', 'suspend', service.client_id]);
    assertRevokedInTime(await notesRefuse(machine));
    await latchkey.operate(['client', 'unsuspend', service.client_id]);
  });
});
