// test-once: the pages in Chromium; npm test fails if a statement they run never ran on PostgreSQL (test/support/sql-coverage.ts)
/**
 * The core promise, end to end: a real browser signs in and consents on Latchkey's pages,
 * openid-client redeems the code, and the access token is an audience-bound JWT carrying
 * exactly the scopes the user granted — on PGlite and on PostgreSQL alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { authorizeInBrowser as authorize, discover, redeem, startAppServer, type BrowserStep } from '../support/flow.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';

const NOTES = 'https://notes.example.com/api';
import { createTestUser, TEST_PASSWORD as password } from '../support/users.ts';

let latchkey: Latchkey;
let app: Awaited<ReturnType<typeof startAppServer>>;
let REDIRECT_URI: string;
let POST_LOGOUT: string;
const authorizeInBrowser = (page: Page, cfg: oidc.Configuration, params: Record<string, string>, steps: BrowserStep) => authorize(page, cfg, params, steps, REDIRECT_URI);
let browser: Browser;
let web: { client_id: string; client_secret: string };
let config: oidc.Configuration;
let jwks: ReturnType<typeof createRemoteJWKSet>;

const newUser = (name: string) => createTestUser(latchkey, name);

async function verifyAccessToken(token: string) {
  assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: latchkey.issuer, audience: NOTES, typ: 'at+jwt' });
  assert.equal(protectedHeader.alg, 'ES256');
  return payload;
}

async function withContext<T>(fn: (ctx: BrowserContext) => Promise<T>): Promise<T> {
  const ctx = await browser.newContext();
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

before(async () => {
  app = await startAppServer();
  REDIRECT_URI = app.redirectUri;
  POST_LOGOUT = `${app.origin}/signed-out`;
  latchkey = await startLatchkey();
  browser = await launchBrowser();
  await latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write', '--machine-scope', 'notes:read']);
  web = await latchkey.operate([
    'client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', REDIRECT_URI,
    '--post-logout-redirect-uri', POST_LOGOUT, '--scope', 'openid email offline_access notes:read notes:write',
  ]);
  config = await discover(latchkey.issuer, web.client_id, web.client_secret);
  jwks = createRemoteJWKSet(new URL(`${latchkey.issuer}/jwks`));
});

after(async () => {
  await browser?.close();
  await latchkey?.stop();
  await app?.close();
});

describe('authorization code flow with consent', () => {
  test('read-write consent yields an audience-bound JWT with both scopes', async () => {
    const user = await newUser('rw');
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const result = await authorizeInBrowser(page, config, { scope: 'openid notes:read notes:write', resource: NOTES }, { login: user, consent: 'read-write' });
      assert.ok(result.sawLogin && result.sawConsent);
      assert.match(result.consentText!, /Notebook/);
      assert.match(result.consentText!, /Read and write/);
      assert.equal(result.callbackUrl.searchParams.get('iss'), latchkey.issuer, 'RFC 9207 iss in the response');
      const tokens = await redeem(config, result);
      const claims = await verifyAccessToken(tokens.access_token);
      assert.equal(claims.aud, NOTES);
      assert.equal(claims.client_id, web.client_id);
      assert.deepEqual(String(claims.scope).split(' ').sort(), ['notes:read', 'notes:write']);
      assert.ok(claims.exp! - claims.iat! <= 600, 'short-lived by default (10 minutes)');
      assert.equal(tokens.claims()?.iss, latchkey.issuer);
      assert.equal(tokens.refresh_token, undefined, 'no refresh token without offline_access');
    });
  });

  test('read-only choice drops the write scope from the token, and consent is remembered', async () => {
    const user = await newUser('ro');
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const first = await authorizeInBrowser(page, config, { scope: 'openid notes:read notes:write', resource: NOTES }, { login: user, consent: 'read-only', screenshots: 'sign-in' });
      const claims = await verifyAccessToken((await redeem(config, first)).access_token);
      assert.equal(claims.scope, 'notes:read');

      // Same browser session: no login, no consent, still read-only.
      const second = await authorizeInBrowser(page, config, { scope: 'openid notes:read notes:write', resource: NOTES }, {});
      assert.equal(second.sawLogin, false);
      assert.equal(second.sawConsent, false);
      assert.equal((await verifyAccessToken((await redeem(config, second)).access_token)).scope, 'notes:read');
    });
    // A new browser session signs in again but is not asked to consent again.
    await withContext(async (ctx) => {
      const third = await authorizeInBrowser(await ctx.newPage(), config, { scope: 'openid notes:read', resource: NOTES }, { login: user });
      assert.equal(third.sawLogin, true);
      assert.equal(third.sawConsent, false);
      assert.equal((await verifyAccessToken((await redeem(config, third)).access_token)).scope, 'notes:read');
    });
  });

  test('asking for more asks again: new scopes prompt consent, and prompt=consent can upgrade read-only', async () => {
    const user = await newUser('more');
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      await authorizeInBrowser(page, config, { scope: 'openid', resource: NOTES }, { login: user, consent: 'allow' }).catch(() => undefined);
      const readOnly = await authorizeInBrowser(page, config, { scope: 'openid notes:read', resource: NOTES }, { consent: 'allow' });
      assert.equal(readOnly.sawConsent, true, 'a scope never granted before is asked for');
      assert.equal((await verifyAccessToken((await redeem(config, readOnly)).access_token)).scope, 'notes:read');

      const more = await authorizeInBrowser(page, config, { scope: 'openid notes:read notes:write', resource: NOTES }, { consent: 'read-write' });
      assert.equal(more.sawConsent, true, 'write was never granted nor refused: ask');
      assert.equal((await verifyAccessToken((await redeem(config, more)).access_token)).scope, 'notes:read notes:write');

      const narrowed = await authorizeInBrowser(page, config, { scope: 'openid notes:read notes:write', resource: NOTES, prompt: 'consent' }, { consent: 'read-only' });
      assert.equal(narrowed.sawConsent, true);
      assert.equal((await verifyAccessToken((await redeem(config, narrowed)).access_token)).scope, 'notes:read');

      const upgraded = await authorizeInBrowser(page, config, { scope: 'openid notes:read notes:write', resource: NOTES, prompt: 'consent' }, { consent: 'read-write' });
      assert.equal((await verifyAccessToken((await redeem(config, upgraded)).access_token)).scope, 'notes:read notes:write');
    });
  });

  test('deny returns access_denied to the app', async () => {
    const user = await newUser('deny');
    await withContext(async (ctx) => {
      const result = await authorizeInBrowser(await ctx.newPage(), config, { scope: 'openid notes:read', resource: NOTES }, { login: user, consent: 'deny' });
      assert.equal(result.callbackUrl.searchParams.get('error'), 'access_denied');
      await assert.rejects(redeem(config, result), (err: any) => err.error === 'access_denied');
    });
  });

  test('a client with one API gets its scopes without a resource parameter', async () => {
    const user = await newUser('nores');
    await withContext(async (ctx) => {
      const result = await authorizeInBrowser(await ctx.newPage(), config, { scope: 'openid notes:read notes:write' }, { login: user, consent: 'read-write' });
      const tokens = await redeem(config, result);
      const claims = await verifyAccessToken(tokens.access_token);
      assert.deepEqual(String(claims.scope).split(' ').sort(), ['notes:read', 'notes:write']);
    });
  });

  test('wrong PKCE verifier and code replay are refused; a replay revokes what the code issued', async () => {
    const user = await newUser('replay');
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const params = { scope: 'openid offline_access notes:read', resource: NOTES, prompt: 'consent' };
      const bad = await authorizeInBrowser(page, config, params, { login: user, consent: 'allow' });
      await assert.rejects(redeem(config, { ...bad, verifier: oidc.randomPKCECodeVerifier() }), (err: any) => err.error === 'invalid_grant');

      const good = await authorizeInBrowser(page, config, params, { consent: 'allow' });
      const tokens = await redeem(config, good);
      assert.ok(tokens.refresh_token, 'offline_access with prompt=consent issues a refresh token');
      await assert.rejects(redeem(config, good), (err: any) => err.error === 'invalid_grant');
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (err: any) => err.error === 'invalid_grant', 'refresh token from the replayed code is revoked');
    });
  });

  test('refresh tokens rotate; reusing an old one revokes the grant', async () => {
    const user = await newUser('refresh');
    await withContext(async (ctx) => {
      const result = await authorizeInBrowser(await ctx.newPage(), config, { scope: 'openid offline_access notes:read notes:write', resource: NOTES, prompt: 'consent' }, { login: user, consent: 'read-only' });
      const first = await redeem(config, result);
      const rt1 = first.refresh_token!;
      const second = await oidc.refreshTokenGrant(config, rt1, { resource: NOTES });
      assert.ok(second.refresh_token && second.refresh_token !== rt1, 'rotated');
      assert.equal((await verifyAccessToken(second.access_token)).scope, 'notes:read', 'still only what was granted');
      await assert.rejects(oidc.refreshTokenGrant(config, rt1), (err: any) => err.error === 'invalid_grant');
      await assert.rejects(oidc.refreshTokenGrant(config, second.refresh_token!), (err: any) => err.error === 'invalid_grant', 'reuse revoked the whole grant');
    });
  });

  // Requests that arrive after the winner consumed the token count as reuse, which revokes the
  // grant (and with it the successor): what must hold is that only one request got tokens.
  test('one refresh token sent eight times at once: exactly one gets tokens', async () => {
    const user = await newUser('refresh-race');
    await withContext(async (ctx) => {
      const result = await authorizeInBrowser(await ctx.newPage(), config, { scope: 'openid offline_access notes:read', resource: NOTES, prompt: 'consent' }, { login: user, consent: 'read-only' });
      const { refresh_token: rt } = await redeem(config, result);
      const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => oidc.refreshTokenGrant(config, rt!, { resource: NOTES })));
      const won = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o] : []));
      assert.equal(won.length, 1, JSON.stringify(outcomes.map((o) => (o.status === 'rejected' ? o.reason.error : 'ok'))));
      for (const o of outcomes) if (o.status === 'rejected') assert.equal(o.reason.error, 'invalid_grant');
      assert.ok(won[0]!.value.refresh_token && won[0]!.value.refresh_token !== rt, 'the winner got a successor');
    });
  });

  test('client create --id-token-alg ES256: ES256 ID tokens at the code exchange and on refresh; service apps refuse the flag', async () => {
    const es = await latchkey.operate([
      'client', 'create', '--name', 'Modern RP', '--type', 'web', '--redirect-uri', REDIRECT_URI, '--scope', 'openid offline_access notes:read', '--id-token-alg', 'ES256',
    ]);
    const esConfig = await oidc.discovery(new URL(latchkey.issuer), es.client_id, { client_secret: es.client_secret, id_token_signed_response_alg: 'ES256' }, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
    const user = await newUser('es256');
    await withContext(async (ctx) => {
      const result = await authorizeInBrowser(await ctx.newPage(), esConfig, { scope: 'openid offline_access notes:read', resource: NOTES, prompt: 'consent' }, { login: user, consent: 'read-only' });
      const first = await redeem(esConfig, result);
      const refreshed = await oidc.refreshTokenGrant(esConfig, first.refresh_token!, { resource: NOTES });
      for (const idToken of [first.id_token!, refreshed.id_token!]) {
        const { protectedHeader, payload } = await jwtVerify(idToken, jwks, { issuer: latchkey.issuer, audience: es.client_id });
        assert.equal(protectedHeader.alg, 'ES256');
        assert.ok(payload.sub);
      }
      // Same user and session, the app created without the flag: RS256, the OpenID Connect default.
      const plain = await redeem(config, await authorizeInBrowser(await ctx.newPage(), config, { scope: 'openid notes:read', resource: NOTES, prompt: 'consent' }, { consent: 'read-only' }));
      const { protectedHeader } = await jwtVerify(plain.id_token!, jwks, { issuer: latchkey.issuer, audience: web.client_id });
      assert.equal(protectedHeader.alg, 'RS256', 'without the flag ID tokens stay RS256');
    });
    const service = await latchkey.cli(['client', 'create', '--name', 'S', '--type', 'service', '--scope', 'notes:read', '--id-token-alg', 'ES256']);
    assert.equal(service.code, 2);
    assert.match(service.stderr, /service clients get no ID tokens/);
    const bad = await latchkey.cli(['client', 'create', '--name', 'W', '--redirect-uri', REDIRECT_URI, '--scope', 'openid', '--id-token-alg', 'HS256']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--id-token-alg takes RS256/);
  });

  test('introspection and revocation of a refresh token', async () => {
    const user = await newUser('introspect');
    await withContext(async (ctx) => {
      const result = await authorizeInBrowser(await ctx.newPage(), config, { scope: 'openid offline_access notes:read', resource: NOTES, prompt: 'consent' }, { login: user, consent: 'allow' });
      const tokens = await redeem(config, result);
      const active = await oidc.tokenIntrospection(config, tokens.refresh_token!);
      assert.equal(active.active, true);
      assert.equal(active.client_id, web.client_id);
      await oidc.tokenRevocation(config, tokens.refresh_token!);
      assert.equal((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active, false);
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (err: any) => err.error === 'invalid_grant');
    });
  });

  test('userinfo answers for an OpenID-only token', async () => {
    const user = await newUser('userinfo');
    await withContext(async (ctx) => {
      const result = await authorizeInBrowser(await ctx.newPage(), config, { scope: 'openid email' }, { login: user, consent: 'allow' });
      const tokens = await redeem(config, result);
      const info = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
      assert.equal(info.email, user.email);
    });
  });

  test('RP-initiated logout ends the session', async () => {
    const user = await newUser('logout');
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const result = await authorizeInBrowser(page, config, { scope: 'openid notes:read', resource: NOTES }, { login: user, consent: 'allow' });
      const tokens = await redeem(config, result);
      const endSession = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT, state: 'bye' });
      await page.goto(endSession.href);
      await Promise.all([page.waitForURL(`${POST_LOGOUT}**`), page.click('button[name=logout][value=yes]')]);
      assert.equal(new URL(page.url()).searchParams.get('state'), 'bye');
      // oidc-provider revokes the grants of a session at logout (unless offline_access made
      // them outlive it), so the user signs in and consents again.
      const again = await authorizeInBrowser(page, config, { scope: 'openid notes:read', resource: NOTES }, { login: user, consent: 'allow' });
      assert.equal(again.sawLogin, true, 'signed out: must sign in again');
    });
  });

  test('the account page lists connected apps and revoking one stops its refresh tokens', async () => {
    const user = await newUser('account');
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const result = await authorizeInBrowser(page, config, { scope: 'openid offline_access notes:read notes:write', resource: NOTES, prompt: 'consent' }, { login: user, consent: 'read-only' });
      const tokens = await redeem(config, result);
      await page.goto(`${latchkey.issuer}/account`);
      const app = page.locator(`.connected-app[data-client-id="${web.client_id}"]`);
      assert.equal(await app.count(), 1);
      assert.match(await app.innerText(), /Notes: Read-only/);
      await Promise.all([page.waitForNavigation(), app.locator('button').click()]);
      assert.equal(await page.locator(`.connected-app[data-client-id="${web.client_id}"]`).count(), 0);
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), (err: any) => err.error === 'invalid_grant');
      assert.equal((await oidc.tokenIntrospection(config, tokens.refresh_token!)).active, false);
      // Revoked consent means the next authorization asks again.
      const again = await authorizeInBrowser(page, config, { scope: 'openid notes:read', resource: NOTES }, { consent: 'allow' });
      assert.equal(again.sawConsent, true);
    });
  });

  test('same error for unknown e-mail and wrong password', async () => {
    const user = await newUser('enum');
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      await page.goto(url.href);
      const attempt = async (email: string) => {
        await page.fill('#email', email);
        await page.fill('#password', 'not the right password at all');
        const [response] = await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
        return { status: response!.status(), text: await page.locator('.error').innerText() };
      };
      const wrongPassword = await attempt(user.email);
      const unknownEmail = await attempt('nobody-here@example.com');
      assert.equal(wrongPassword.status, 401);
      assert.deepEqual(unknownEmail, wrongPassword);
    });
  });
});

describe('machine clients', () => {
  test('client_credentials gets only the scopes the client is allowed; asking for more is invalid_scope', async () => {
    const svc = await latchkey.operate(['client', 'create', '--name', 'Cron', '--type', 'service', '--scope', 'notes:read']);
    const svcConfig = await discover(latchkey.issuer, svc.client_id, svc.client_secret);
    await assert.rejects(oidc.clientCredentialsGrant(svcConfig, { scope: 'notes:read notes:write', resource: NOTES }), (e: any) => e.error === 'invalid_scope');
    const tokens = await oidc.clientCredentialsGrant(svcConfig, { scope: 'notes:read', resource: NOTES });
    const claims = await verifyAccessToken(tokens.access_token);
    assert.equal(claims.scope, 'notes:read');
    assert.equal(claims.sub, svc.client_id);
  });
});

describe('durability', () => {
  test('a crash and restart loses no session, grant or refresh token', async () => {
    const user = await newUser('crash');
    await withContext(async (ctx) => {
      const page = await ctx.newPage();
      const result = await authorizeInBrowser(page, config, { scope: 'openid offline_access notes:read', resource: NOTES, prompt: 'consent' }, { login: user, consent: 'allow' });
      const tokens = await redeem(config, result);
      await latchkey.kill();
      await latchkey.restart();
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: NOTES });
      assert.equal((await verifyAccessToken(refreshed.access_token)).scope, 'notes:read');
      const again = await authorizeInBrowser(page, config, { scope: 'openid notes:read', resource: NOTES }, {});
      assert.equal(again.sawLogin, false, 'browser session survived the crash');
    });
  });
});
