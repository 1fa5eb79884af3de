// test-once: the pages in Chromium; npm test fails if a statement they run never ran on PostgreSQL (test/support/sql-coverage.ts)
/**
 * The account page end to end (issue 13, self-service items 3 and 4): Chromium on Latchkey's
 * pages (WebAuthn through Chromium's DevTools virtual authenticator, codes computed by otplib),
 * real HTTP for the refusals, the resource-server kit (examples/notes-api) for the deleted
 * account's JWTs. ISSUER is http://localhost:<port>: browsers refuse an IP address as a WebAuthn
 * relying party ID. Screenshots go to docs/images/ for docs/end-users.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import type { APIResponse, Browser, BrowserContext, Page } from 'playwright-core';
import { startNotesApi } from '../../examples/notes-api/app.ts';
import { launchBrowser } from '../support/browser.ts';
import { discover, signInAndRedeem, startAppServer } from '../support/flow.ts';
import { repoRoot, startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { KIT_STATUS_CACHE_SECONDS, REVOKED_WITHIN_MS, untilRefused } from '../support/revocation.ts';
import { AuthenticatorApp, secretFromPage } from '../support/totp.ts';
import { createTestUser } from '../support/users.ts';
import { waitFor } from '../support/wait.ts';

const NOTES = 'https://notes.example.com/api';
const images = path.join(repoRoot, 'docs/images');

let latchkey: Latchkey;
let notesApi: Awaited<ReturnType<typeof startNotesApi>>;
let appServer: Awaited<ReturnType<typeof startAppServer>>;
let browser: Browser;
let web: { client_id: string; client_secret: string };
let config: oidc.Configuration;

const newUser = (tag: string, roles: string[] = []) => createTestUser(latchkey, tag, { roles });

async function withContexts<T>(n: number, fn: (...ctxs: BrowserContext[]) => Promise<T>): Promise<T> {
  const ctxs = await Promise.all(Array.from({ length: n }, () => browser.newContext({ viewport: { width: 720, height: 1000 } })));
  try {
    return await fn(...ctxs);
  } finally {
    await Promise.all(ctxs.map((c) => c.close()));
  }
}

async function addVirtualAuthenticator(ctx: BrowserContext, page: Page) {
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
}

/** Opens /account and signs in with the password (the account console goes through /auth). */
async function signInToAccount(page: Page, user: { email: string; password: string }) {
  await page.goto(`${latchkey.issuer}/account`);
  await page.fill('#email', user.email);
  await page.fill('#password', user.password);
  await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
  await page.waitForSelector('#account-email');
}

async function confirmInline(page: Page, fields: { password?: string; code?: string }) {
  if (fields.password) await page.fill('#reauth-form #password', fields.password);
  if (fields.code) await page.fill('#reauth-form #code', fields.code);
  await Promise.all([page.waitForNavigation(), page.click('#reauth-form button[type=submit]')]);
}

const csrfOn = async (page: Page) => page.locator('input[name=csrf]').first().getAttribute('value') as Promise<string>;

const noServerError = (response: APIResponse, what: string) => assert.ok(response.status() < 500, `${what}: ${response.status()}`);

before(async () => {
  latchkey = await startLatchkey(
    { RATE_LIMIT_SIGNIN_IP: '1000/60', RATE_LIMIT_SIGNIN_ACCOUNT: '1000/60', LOCKOUT_ACCOUNT_IP_FAILURES: '1000/60', LOCKOUT_IP_FAILURES: '1000/60' },
    { hostname: 'localhost' },
  );
  const notes = await latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write']);
  // Introspection credentials: the API learns the user behind a third-party app's (pairwise) token through them.
  const introspection = { clientId: notes.introspection_client_id, clientSecret: notes.introspection_client_secret };
  notesApi = await startNotesApi({ issuer: latchkey.issuer, audience: NOTES, statusList: { cacheSeconds: KIT_STATUS_CACHE_SECONDS }, introspection });
  appServer = await startAppServer();
  browser = await launchBrowser();
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', appServer.redirectUri, '--scope', 'openid email offline_access notes:read notes:write']);
  config = await discover(latchkey.issuer, web.client_id, web.client_secret);
});

after(async () => {
  await browser?.close();
  await notesApi?.close();
  await appServer?.close();
  await latchkey?.stop();
});

describe('passkeys and recovery codes on the account page', () => {
  test('right after a password sign-in, "Add a passkey" offers to confirm inline; the first passkey comes with recovery codes that survive a reload', async () => {
    const user = await newUser('passkey');
    await withContexts(1, async (ctx) => {
      const page = await ctx.newPage();
      await addVirtualAuthenticator(ctx, page);
      await signInToAccount(page, user);
      // Nothing to add with before confirming, and the confirmation is right there.
      assert.equal(await page.locator('#webauthn-register').count(), 0);
      assert.equal(await page.locator('#reauth-inline #reauth-form').count(), 1);
      await page.locator('#sign-in-methods').scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(images, 'account-confirm-inline.png'), fullPage: true });

      await confirmInline(page, { password: 'not the password at all' });
      assert.match(await page.locator('[role=alert]').first().innerText(), /not right/);
      await page.goto(`${latchkey.issuer}/account`);
      await confirmInline(page, { password: user.password });
      assert.equal(new URL(page.url()).pathname, '/account');
      await page.fill('#passkey-name', 'Laptop');
      await Promise.all([page.waitForURL(/\/account\/recovery-codes$/), page.click('#webauthn-register')]);
      const codes = await page.locator('.recovery-code').allInnerTexts();
      assert.equal(codes.length, 10, 'a first factor of any kind comes with recovery codes');
      await page.screenshot({ path: path.join(images, 'account-recovery-codes.png'), fullPage: true });

      // Reloading shows the same codes (GET, not "Method Not Allowed", not new codes).
      const reloaded = await page.reload();
      assert.equal(reloaded?.status(), 200);
      assert.deepEqual(await page.locator('.recovery-code').allInnerTexts(), codes);

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-codes')]);
      const file = readFileSync((await download.path())!, 'utf8');
      for (const code of codes) assert.ok(file.includes(code), 'the download holds every code');
      await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: latchkey.issuer });
      await page.click('#copy-codes');
      await page.waitForFunction(() => document.getElementById('recovery-codes-status')?.textContent === 'Copied.');
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      for (const code of codes) assert.ok(copied.includes(code), 'the copy holds every code');

      await Promise.all([page.waitForNavigation(), page.click('#continue')]);
      assert.equal(new URL(page.url()).pathname, '/account');
      assert.match(await page.locator('#recovery-codes').innerText(), /10/);
      assert.match(await page.locator('.passkey').innerText(), /Laptop/);
      // Once saved, the page says how many are left and never shows them again.
      await page.goto(`${latchkey.issuer}/account/recovery-codes`);
      assert.equal(await page.locator('.recovery-code').count(), 0);
      assert.match(await page.locator('#recovery-codes-left').innerText(), /10/);
    });
  });

  test('a passkey as the first factor at the forced enrolment of sign-in also leaves recovery codes on the account', async () => {
    const user = await newUser('forced', ['developer']);
    await withContexts(1, async (ctx) => {
      const page = await ctx.newPage();
      await addVirtualAuthenticator(ctx, page);
      await page.goto(`${latchkey.issuer}/account`);
      await page.fill('#email', user.email);
      await page.fill('#password', user.password);
      await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
      await page.fill('#passkey-name', 'Phone');
      await Promise.all([page.waitForURL(/\/interaction\//), page.click('#webauthn-register')]);
      await page.waitForSelector('.recovery-code');
      assert.equal(await page.locator('.recovery-code').count(), 10);
      assert.match(await page.locator('#continue').innerText(), /I have saved them/);
      await Promise.all([page.waitForURL(/\/account$/), page.click('#continue')]);
      assert.match(await page.locator('#recovery-codes').innerText(), /Recovery codes left: 10/);
    });
  });
});

describe('sessions and devices', () => {
  test('two browsers: each listed with browser and address; "Sign out" ends the other one; "Sign out everywhere else" too; refusals change nothing', async () => {
    const user = await newUser('sessions');
    const stranger = await newUser('stranger');
    await withContexts(3, async (ctxA, ctxB, ctxS) => {
      const a = await ctxA.newPage();
      const b = await ctxB.newPage();
      const s = await ctxS.newPage();
      await signInToAccount(a, user);
      await signInToAccount(b, user);
      await signInToAccount(s, stranger);
      await a.reload();
      const sessions = a.locator('.session');
      assert.equal(await sessions.count(), 2);
      assert.equal(await a.locator('.session.current').count(), 1);
      assert.match(await sessions.first().innerText(), /Chrome on Linux/);
      assert.match(await sessions.first().innerText(), /127\.0\.0\.1/);
      await a.locator('#sessions').scrollIntoViewIfNeeded();
      await a.screenshot({ path: path.join(images, 'account-sessions.png'), fullPage: true });
      const other = a.locator('.session:not(.current)');
      const otherId = (await other.getAttribute('data-session-id'))!;
      const strangerSession = (await s.locator('.session.current').getAttribute('data-session-id'))!;
      const csrf = await csrfOn(a);

      // Refusals: no CSRF token, a forged one, the stranger's session, not an id at all, NUL bytes, a huge id.
      const post = (p: string, form: Record<string, string>) => ctxA.request.post(`${latchkey.issuer}${p}`, { form, maxRedirects: 0 });
      assert.equal((await post(`/account/sessions/${otherId}/end`, {})).status(), 403);
      assert.equal((await post(`/account/sessions/${otherId}/end`, { csrf: 'forged' })).status(), 403);
      const foreign = await post(`/account/sessions/${strangerSession}/end`, { csrf });
      assert.equal(foreign.status(), 404);
      assert.match(await foreign.text(), /No such session/);
      for (const id of ['not-an-id', '%00', 'x'.repeat(5000), otherId.toUpperCase()]) noServerError(await post(`/account/sessions/${id}/end`, { csrf }), `id ${id.slice(0, 20)}`);
      noServerError(await post(`/account/sessions/${otherId}/end`, { csrf: `${csrf}\u0000` }), 'NUL in csrf');
      noServerError(await ctxA.request.get(`${latchkey.issuer}/account/sessions/${otherId}/end`), 'GET');
      await s.reload();
      assert.equal(await s.locator('#account-email').count(), 1, "the stranger's session still works");
      await b.reload();
      assert.equal(await b.locator('#account-email').count(), 1, 'the other session still works after the refusals');

      // Sign out the other browser: its cookie names nothing any more.
      await Promise.all([a.waitForNavigation(), other.locator('button').click()]);
      assert.equal(await a.locator('.session').count(), 1);
      await b.goto(`${latchkey.issuer}/account`);
      assert.equal(await b.locator('form[action$="/login"]').count(), 1, 'the signed-out browser must sign in again');

      // Sign in again there, then "Sign out everywhere else".
      await b.fill('#email', user.email);
      await b.fill('#password', user.password);
      await Promise.all([b.waitForNavigation(), b.click('form[action$="/login"] button[type=submit]')]);
      await b.waitForSelector('#account-email');
      await a.reload();
      assert.equal(await a.locator('.session').count(), 2);
      await Promise.all([a.waitForNavigation(), a.click('#end-other-sessions button')]);
      assert.equal(await a.locator('.session').count(), 1);
      assert.equal(await a.locator('#account-email').count(), 1, 'this browser stays signed in');
      await b.goto(`${latchkey.issuer}/account`);
      assert.equal(await b.locator('form[action$="/login"]').count(), 1);
      await s.reload();
      assert.equal(await s.locator('#account-email').count(), 1, "another user's session is untouched");
    });
  });
});

describe('connected apps', () => {
  test('each app with what it was granted per API and when it last used the account', async () => {
    const user = await newUser('apps');
    await withContexts(1, async (ctx) => {
      const page = await ctx.newPage();
      await signInAndRedeem(page, config, { scope: 'openid notes:read notes:write', resource: NOTES }, { login: user, consent: 'read-only' }, appServer.redirectUri);
      await page.goto(`${latchkey.issuer}/account`);
      const app = page.locator(`.connected-app[data-client-id="${web.client_id}"]`);
      assert.match(await app.locator('.api-access').innerText(), /Notes: Read-only/);
      // The last use is written right after the token response: wait for it.
      const deadline = Date.now() + 10_000;
      while (!/Last used/.test(await app.locator('.last-used').innerText()) && Date.now() < deadline) {
        await page.reload();
      }
      assert.match(await app.locator('.last-used').innerText(), /Last used \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
      await page.screenshot({ path: path.join(images, 'account-connected-apps.png'), fullPage: true });
    });
  });
});

describe('password, data and deletion', () => {
  test('change password asks for the current password and the second factor; refuses bad new ones without changing anything; signs out other sessions', async () => {
    const user = await newUser('password');
    const newPassword = 'another quite long sentence of mine 7';
    await withContexts(2, async (ctx, other) => {
      const page = await ctx.newPage();
      await addVirtualAuthenticator(ctx, page);
      const otherPage = await other.newPage();
      await signInToAccount(otherPage, user);
      await signInToAccount(page, user);
      // Give the account a second factor (a passkey), then change the password.
      await confirmInline(page, { password: user.password });
      await Promise.all([page.waitForURL(/\/account\/recovery-codes$/), page.click('#webauthn-register')]);
      await Promise.all([page.waitForNavigation(), page.click('#continue')]);

      await page.goto(`${latchkey.issuer}/account/password`);
      // The earlier confirmation was by password alone: a second factor is still needed.
      assert.equal(await page.locator('#new-password-form').count(), 0);
      assert.equal(await page.locator('#reauth-passkey').count(), 1);
      await page.screenshot({ path: path.join(images, 'account-change-password.png'), fullPage: true });
      await Promise.all([page.waitForURL(/\/account\/password$/), page.click('#reauth-passkey')]);
      await page.waitForSelector('#new-password-form');

      const csrf = await csrfOn(page);
      const post = (form: Record<string, string>) => ctx.request.post(`${latchkey.issuer}/account/password`, { form: { csrf, ...form }, maxRedirects: 0 });
      const refusals: Array<[Record<string, string>, number, RegExp]> = [
        [{ new_password: newPassword, new_password_again: `${newPassword}x` }, 400, /not the same/],
        [{ new_password: 'short', new_password_again: 'short' }, 400, /at least 8/],
        [{ new_password: 'p'.repeat(300), new_password_again: 'p'.repeat(300) }, 400, /at most/],
        [{ new_password: 'password1234', new_password_again: 'password1234' }, 400, /common/],
        [{ new_password: `${newPassword}\u0000`, new_password_again: `${newPassword}\u0000` }, 400, /./],
        [{ new_password: 'q'.repeat(20_000), new_password_again: 'q' }, 413, /./],
      ];
      for (const [form, status, text] of refusals) {
        const response = await post(form);
        assert.equal(response.status(), status, JSON.stringify(form).slice(0, 60));
        assert.match(await response.text(), text);
      }
      assert.equal((await ctx.request.post(`${latchkey.issuer}/account/password`, { form: { new_password: newPassword, new_password_again: newPassword }, maxRedirects: 0 })).status(), 403, 'no CSRF token');
      await otherPage.reload();
      assert.equal(await otherPage.locator('#account-email').count(), 1, 'nothing changed: the other session still works');

      await page.fill('#new_password', newPassword);
      await page.fill('#new_password_again', newPassword);
      await Promise.all([page.waitForNavigation(), page.click('#new-password-form button')]);
      assert.match(await page.locator('#notice').innerText(), /changed, and your 1 other session was signed out/);
      await otherPage.goto(`${latchkey.issuer}/account`);
      assert.equal(await otherPage.locator('form[action$="/login"]').count(), 1);
      await otherPage.fill('#email', user.email);
      await otherPage.fill('#password', user.password);
      await Promise.all([otherPage.waitForNavigation(), otherPage.click('form[action$="/login"] button[type=submit]')]);
      assert.equal(await otherPage.locator('#account-email').count(), 0, 'the old password no longer signs in');
      await otherPage.fill('#email', user.email);
      await otherPage.fill('#password', newPassword);
      await Promise.all([otherPage.waitForNavigation(), otherPage.click('form[action$="/login"] button[type=submit]')]);
      assert.notEqual(await otherPage.locator('form[action$="/login"]').count(), 1, 'the new password signs in (then asks for the second factor)');
    });
  });

  test('download my data holds profile, factors, apps, sessions and audit events, and no secret; delete my account revokes everything and the kit refuses its JWTs', async () => {
    const user = await newUser('leaver');
    await withContexts(1, async (ctx) => {
      const page = await ctx.newPage();
      // An app with tokens, to be refused after the deletion.
      const tokens = await signInAndRedeem(page, config, { scope: 'openid offline_access notes:read notes:write', resource: NOTES, prompt: 'consent' }, { login: user, consent: 'read-write' }, appServer.redirectUri);
      assert.ok(tokens.refresh_token, 'a refresh token to be refused later');
      assert.equal((await fetch(`${notesApi.origin}/notes`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 200);

      // An authenticator app, so the deletion needs password and code.
      await page.goto(`${latchkey.issuer}/account`);
      await confirmInline(page, { password: user.password });
      await Promise.all([page.waitForNavigation(), page.click('#factor-totp button')]);
      const authenticator = new AuthenticatorApp(secretFromPage(await page.locator('#totp-secret').innerText()));
      const { secret } = authenticator;
      await page.fill('#code', await authenticator.nextCode());
      await Promise.all([page.waitForURL(/\/account\/recovery-codes$/), page.click('form[action="/account/totp/confirm"] button')]);
      const codes = await page.locator('.recovery-code').allInnerTexts();
      assert.equal(codes.length, 10);
      await Promise.all([page.waitForNavigation(), page.click('#continue')]);

      // Download my data.
      await page.goto(`${latchkey.issuer}/account/data`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-data-form button')]);
      const text = readFileSync((await download.path())!, 'utf8');
      const data = JSON.parse(text);
      assert.equal(data.profile.email, user.email);
      assert.equal(data.profile.id, user.id);
      assert.ok(data.sign_in_methods.authenticator_app, 'the authenticator app is listed');
      assert.equal(data.sign_in_methods.recovery_codes_left, 10);
      assert.equal(data.connected_apps.length, 1);
      assert.equal(data.connected_apps[0].client_id, web.client_id);
      assert.equal(data.connected_apps[0].apis[0].access, 'Read and write');
      assert.ok(data.sessions.some((s: { current: boolean }) => s.current));
      assert.ok(data.audit_events.some((e: { type: string }) => e.type === 'factor.totp.enrolled'), 'the user\'s own audit events');
      for (const secretValue of [secret, tokens.access_token, tokens.refresh_token!, user.password, ...codes, ...codes.map((c) => c.replace(/-/g, ''))]) {
        assert.ok(!text.includes(secretValue), 'no secret in the download');
      }
      assert.doesNotMatch(text, /\$argon2|password_?hash|secret_encrypted|public_?key|code_?hash/i);

      // Delete my account: a clear warning; password alone is not enough when a code is enrolled.
      await page.goto(`${latchkey.issuer}/account/delete`);
      assert.match(await page.locator('.warning').innerText(), /cannot be undone/);
      await page.screenshot({ path: path.join(images, 'account-delete.png'), fullPage: true });
      assert.equal(await page.locator('#delete-account-form').count(), 0);
      const csrf = await csrfOn(page);
      const refused = await ctx.request.post(`${latchkey.issuer}/account/delete`, { form: { csrf, confirm: 'yes' }, maxRedirects: 0 });
      assert.equal(refused.status(), 401, 'not deleted before re-authentication');
      await confirmInline(page, { password: user.password, code: await authenticator.nextCode() });
      await page.waitForSelector('#delete-account-form');
      assert.equal((await ctx.request.post(`${latchkey.issuer}/account/delete`, { form: { confirm: 'yes' }, maxRedirects: 0 })).status(), 403, 'no CSRF token');
      assert.equal((await ctx.request.post(`${latchkey.issuer}/account/delete`, { form: { csrf }, maxRedirects: 0 })).status(), 400, 'the box not ticked');
      noServerError(await ctx.request.post(`${latchkey.issuer}/account/delete`, { form: { csrf, confirm: 'yes\u0000' }, maxRedirects: 0 }), 'NUL');
      assert.equal((await fetch(`${notesApi.origin}/notes`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 200, 'nothing deleted yet');

      await page.check('#confirm-delete');
      await Promise.all([page.waitForNavigation(), page.click('#delete-account-form button')]);
      assert.match(await page.locator('h1').innerText(), /deleted/);

      // The JWT is refused by the kit through the status list within seconds.
      const refusal = await untilRefused(`${notesApi.origin}/notes`, tokens.access_token);
      assert.equal(refusal.status, 401);
      assert.ok(refusal.ms <= REVOKED_WITHIN_MS, `refused after ${refusal.ms} ms`);
      await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token!), 'the refresh token is refused');
      // The browser is signed out, and the password signs in no more.
      await page.goto(`${latchkey.issuer}/account`);
      await page.fill('#email', user.email);
      await page.fill('#password', user.password);
      await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
      assert.equal(await page.locator('form[action$="/login"]').count(), 1);
      // Audit events are written in batches: wait for it (the test fails if it never comes).
      const readAudit = () => latchkey.operate<any>(['audit', '--type', 'account.deleted', '--user', user.id]);
      const audit = await waitFor('the deletion in the audit log', async () => {
        const found = await readAudit();
        return JSON.stringify(found).includes('account.deleted') ? found : undefined;
      }, { timeoutMs: 10_000, intervalMs: 250 }).catch(readAudit);
      assert.equal(JSON.stringify(audit).includes('account.deleted'), true, 'an audit event');
      assert.equal(JSON.stringify(audit).includes(user.email), false, 'the audit event does not name the e-mail');
    });
  });
});
