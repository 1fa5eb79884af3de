// test-once: the pages in Chromium; npm test fails if a statement they run never ran on PostgreSQL (test/support/sql-coverage.ts)
/**
 * The developer portal in Chromium: a developer registers each app type, sees the secret once,
 * rotates it with and without a grace period, and deletes the app; the registered web app
 * completes a real flow with openid-client; developer B can never see or change A's app.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { authorizeInBrowser, discover, redeem, startAppServer } from '../support/flow.ts';
import { repoRoot, startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { waitFor } from '../support/wait.ts';

const API = 'https://notes.example.com/api';
import { TEST_PASSWORD as password } from '../support/users.ts';
let latchkey: Latchkey;
let browser: Browser;
let app: Awaited<ReturnType<typeof startAppServer>>;
let devA: BrowserContext;
let pageA: Page;

async function signIn(email: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${latchkey.issuer}/developer`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
  await page.waitForLoadState('domcontentloaded');
  return { context, page };
}

async function createApp(page: Page, type: string, fields: { name: string; redirects?: string; cors?: string; scopes: string[] }) {
  await page.goto(`${latchkey.issuer}/developer/apps/new`);
  await page.check(`input[name=type][value=${type}]`);
  await page.fill('#name', fields.name);
  if (fields.redirects) await page.fill('#redirect_uris', fields.redirects);
  if (fields.cors) await page.fill('#cors_origins', fields.cors);
  for (const box of await page.locator('input[name=scope]').all()) await box.setChecked(fields.scopes.includes((await box.getAttribute('value'))!));
  if (type === 'web') await page.screenshot({ path: path.join(repoRoot, 'docs/images', 'portal-register-app.png'), fullPage: true });
  await Promise.all([page.waitForNavigation(), page.click('#create-app button[type=submit]')]);
  const clientId = (await page.locator('#client-id').innerText()).trim();
  const secret = (await page.locator('#client-secret').count()) ? await page.inputValue('#client-secret') : undefined;
  return { clientId, secret };
}

/** Does the token endpoint accept this secret? (introspection authenticates the client) */
async function secretWorks(clientId: string, secret: string) {
  const res = await fetch(`${latchkey.issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'token=x',
  });
  return res.status === 200;
}

before(async () => {
  app = await startAppServer();
  latchkey = await startLatchkey({ MFA_REQUIRED: 'none' });
  browser = await launchBrowser();
  await latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', API, '--scope', 'notes:read=read', '--scope', 'notes:write=write', '--machine-scope', 'notes:read']);
  const users = [['a@example.com', ['--role', 'developer']], ['b@example.com', ['--role', 'developer']], ['user@example.com', []]] as const;
  await Promise.all(users.map(([email, roles]) => latchkey.operate(['user', 'create', '--email', email, '--password-stdin', ...roles], { stdin: password })));
  ({ context: devA, page: pageA } = await signIn('a@example.com'));
});
after(async () => {
  await browser?.close();
  await latchkey?.stop();
  await app?.close();
});

describe('developer portal', () => {
  let web: { clientId: string; secret?: string };

  test('a developer registers each app type; secrets are shown once', async () => {
    web = await createApp(pageA, 'web', { name: 'Notebook', redirects: app.redirectUri, scopes: ['openid', 'offline_access', 'notes:read'] });
    assert.ok(web.secret && web.secret.length >= 40);
    assert.equal(await pageA.locator('#copy-secret').count(), 1);
    const spa = await createApp(pageA, 'spa', { name: 'Browser notes', redirects: 'https://spa.example.com/cb', cors: 'https://spa.example.com', scopes: ['openid', 'notes:read'] });
    assert.equal(spa.secret, undefined);
    const native = await createApp(pageA, 'native', { name: 'Phone notes', redirects: 'com.example.notes:/cb\nhttp://127.0.0.1:7777/cb', scopes: ['openid', 'notes:read'] });
    assert.equal(native.secret, undefined);
    const service = await createApp(pageA, 'service', { name: 'Nightly export', scopes: ['notes:read'] });
    assert.ok(service.secret);
    const cc = await oidc.discovery(new URL(latchkey.issuer), service.clientId, service.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    // A portal app gets machine tokens only once an operator approved its machine access.
    await assert.rejects(oidc.clientCredentialsGrant(cc, { resource: API }), (e: any) => e.error === 'invalid_scope');
    await latchkey.operate(['client', 'approve-machine-access', service.clientId, '--api', API]);
    assert.ok((await oidc.clientCredentialsGrant(cc, { resource: API })).access_token);

    // The app page never shows the secret again.
    await pageA.goto(`${latchkey.issuer}/developer/apps/${encodeURIComponent(web.clientId)}`);
    assert.equal((await pageA.content()).includes(web.secret!), false);
    await pageA.goto(`${latchkey.issuer}/developer`);
    assert.equal(await pageA.locator('.portal-app').count(), 4);
  });

  test('invalid input is refused with the same rules as everywhere', async () => {
    await pageA.goto(`${latchkey.issuer}/developer/apps/new`);
    await pageA.fill('#name', 'Bad');
    await pageA.fill('#redirect_uris', 'http://app.example.com/cb');
    await Promise.all([pageA.waitForNavigation(), pageA.click('#create-app button[type=submit]')]);
    assert.match(await pageA.locator('.error').innerText(), /https/);
    assert.equal(await pageA.inputValue('#name'), 'Bad');
  });

  test('the web app completes a real flow; the app page counts tokens and consents', async () => {
    const config = await discover(latchkey.issuer, web.clientId, web.secret);
    const context = await browser.newContext();
    const result = await authorizeInBrowser(
      await context.newPage(),
      config,
      { scope: 'openid offline_access notes:read', resource: API, prompt: 'consent' },
      { login: { email: 'user@example.com', password }, consent: 'allow' },
      app.redirectUri,
    );
    await context.close();
    const tokens = await redeem(config, result, API);
    assert.ok(tokens.access_token && tokens.refresh_token);
    // Issuance counts are written in batches every few seconds (src/clients/usage.ts).
    await waitFor('the app page to count the token', async () => {
      await pageA.goto(`${latchkey.issuer}/developer/apps/${encodeURIComponent(web.clientId)}`);
      return (await pageA.locator('#tokens-issued').innerText()) === '1' ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    assert.equal(await pageA.locator('#consents').innerText(), '1');
  });

  test('rotate with a grace period, then without', async () => {
    await pageA.goto(`${latchkey.issuer}/developer/apps/${encodeURIComponent(web.clientId)}`);
    await pageA.selectOption('#grace', '1h');
    await Promise.all([pageA.waitForNavigation(), pageA.click('#rotate-secret button[type=submit]')]);
    const second = await pageA.inputValue('#client-secret');
    assert.notEqual(second, web.secret);
    assert.equal(await pageA.locator('#grace-until').count(), 1);
    assert.equal(await secretWorks(web.clientId, web.secret!), true, 'the old secret works during the grace period');
    assert.equal(await secretWorks(web.clientId, second), true);

    await pageA.goto(`${latchkey.issuer}/developer/apps/${encodeURIComponent(web.clientId)}`);
    await pageA.selectOption('#grace', '0');
    await Promise.all([pageA.waitForNavigation(), pageA.click('#rotate-secret button[type=submit]')]);
    const third = await pageA.inputValue('#client-secret');
    assert.equal(await secretWorks(web.clientId, third), true);
    assert.equal(await secretWorks(web.clientId, second), false, 'no grace: the previous secret stops at once');
    assert.equal(await secretWorks(web.clientId, web.secret!), false);
    web.secret = third;
  });

  test("developer B cannot see or change A's app; a user without the developer role is refused", async () => {
    const { context, page } = await signIn('b@example.com');
    try {
      const view = await page.goto(`${latchkey.issuer}/developer/apps/${encodeURIComponent(web.clientId)}`);
      assert.equal(view!.status(), 404);
      assert.equal(await page.locator('.portal-app').count(), 0);
      await page.goto(`${latchkey.issuer}/developer`);
      assert.equal(await page.locator('.portal-app').count(), 0);
      // B posts A's delete form with B's own valid CSRF token: still 404, and the app survives.
      await page.goto(`${latchkey.issuer}/developer/apps/new`);
      const csrf = await page.inputValue('input[name=csrf]');
      for (const action of ['delete', 'rotate-secret', 'edit']) {
        const res = await page.request.post(`${latchkey.issuer}/developer/apps/${encodeURIComponent(web.clientId)}/${action}`, {
          form: { csrf, confirm: 'yes', grace: '0', name: 'Stolen', redirect_uris: 'https://evil.example.com/cb', scope: 'openid' },
        });
        assert.equal(res.status(), 404, action);
      }
      assert.equal(await secretWorks(web.clientId, web.secret!), true);
    } finally {
      await context.close();
    }
    const user = await signIn('user@example.com');
    try {
      assert.equal(await user.page.locator('.error').count(), 1);
      assert.match(await user.page.locator('.error').innerText(), /developer role/);
    } finally {
      await user.context.close();
    }
  });

  test('deleting the app stops its tokens', async () => {
    await pageA.goto(`${latchkey.issuer}/developer/apps/${encodeURIComponent(web.clientId)}`);
    await pageA.check('#confirm-delete');
    await Promise.all([pageA.waitForNavigation(), pageA.click('#delete-app button[type=submit]')]);
    assert.equal(new URL(pageA.url()).pathname, '/developer');
    assert.equal(await pageA.locator('.portal-app').count(), 3);
    assert.equal(await secretWorks(web.clientId, web.secret!), false);
  });
});
