/**
 * Two-factor sign-in end to end (docs/two-factor.md): Chromium on Latchkey's pages, codes
 * computed by otplib, WebAuthn ceremonies with Chromium's DevTools virtual authenticator (real
 * signatures, nothing mocked), openid-client redeeming the code. ISSUER is http://localhost:<port>
 * because browsers refuse an IP address as a WebAuthn relying party ID.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { continueToApp, discover, startAppServer } from '../support/flow.ts';
import { repoRoot, startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { AuthenticatorApp, clearOfStepEnd, codeOfStep, currentTimeStep, secretFromPage } from '../support/totp.ts';
import { createTestUser } from '../support/users.ts';

const NOTES = 'https://notes.example.com/api';
const ACR_MFA = 'urn:latchkey:acr:mfa';
const ACR_PWD = 'urn:latchkey:acr:pwd';

let latchkey: Latchkey;
let app: Awaited<ReturnType<typeof startAppServer>>;
let browser: Browser;
let config: oidc.Configuration;

const newUser = (name: string, roles: string[] = []) => createTestUser(latchkey, name, { roles });

async function withContext<T>(fn: (ctx: BrowserContext, page: Page) => Promise<T>): Promise<T> {
  const ctx = await browser.newContext();
  try {
    return await fn(ctx, await ctx.newPage());
  } finally {
    await ctx.close();
  }
}

interface Started { verifier: string; state: string; nonce: string }

async function startAuth(page: Page, params: Record<string, string> = {}): Promise<Started> {
  const verifier = oidc.randomPKCECodeVerifier();
  const started = { verifier, state: oidc.randomState(), nonce: oidc.randomNonce() };
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: app.redirectUri,
    scope: 'openid notes:read',
    resource: NOTES,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: started.state,
    nonce: started.nonce,
    ...params,
  });
  await page.goto(url.href);
  return started;
}

async function submitPassword(page: Page, user: { email: string; password: string }) {
  await page.fill('#email', user.email);
  await page.fill('#password', user.password);
  await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
}

async function submitCode(page: Page, code: string) {
  await page.fill('#code', code);
  await Promise.all([page.waitForNavigation(), page.click('form[action$="/mfa/totp"] button[type=submit], form[action$="/enroll/totp"] button[type=submit]')]);
}

/** Consent if asked, then the redirect back to the app; returns the tokens and their claims. */
async function finishAndRedeem(page: Page, started: Started) {
  const callback = await continueToApp(page, app.redirectUri);
  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: started.verifier, expectedState: started.state, expectedNonce: started.nonce, idTokenExpected: true,
  });
  return { id: tokens.claims()!, access: decodeJwt(tokens.access_token) };
}

/** How the enrolment code is chosen; by default the app's next code. */
type EnrolmentCode = (app: AuthenticatorApp) => Promise<string>;

/**
 * Signs in for the first time as a user who must have a second factor, enrolling TOTP; returns
 * the user's authenticator app. `screenshot`: the page for docs/end-users.md (one test takes it).
 */
async function enrolTotp(page: Page, user: { email: string; password: string }, options: { enrolmentCode?: EnrolmentCode; screenshot?: boolean } = {}) {
  const { enrolmentCode = (app) => app.nextCode(), screenshot = false } = options;
  const started = await startAuth(page);
  await submitPassword(page, user);
  await page.waitForSelector('img.qr');
  // the key is shown in groups of four, for people typing it
  assert.match(await page.locator('#totp-secret').innerText(), /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/);
  if (screenshot) await page.screenshot({ path: path.join(repoRoot, 'docs/images', 'totp-enrolment.png'), fullPage: true });
  const app = new AuthenticatorApp(secretFromPage(await page.locator('#totp-secret').innerText()));
  await submitCode(page, await enrolmentCode(app));
  const codes = await page.locator('.recovery-code').allInnerTexts();
  assert.equal(codes.length, 10, 'ten recovery codes shown once');
  const result = await finishAndRedeem(page, started);
  return { app, codes, result };
}

before(async () => {
  app = await startAppServer();
  latchkey = await startLatchkey(
    { RATE_LIMIT_SIGNIN_IP: '1000/60', RATE_LIMIT_SIGNIN_ACCOUNT: '1000/60', LOCKOUT_ACCOUNT_IP_FAILURES: '1000/60', LOCKOUT_IP_FAILURES: '1000/60' },
    { hostname: 'localhost' },
  );
  browser = await launchBrowser();
  await latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read']);
  const web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', app.redirectUri, '--scope', 'openid email notes:read']);
  config = await discover(latchkey.issuer, web.client_id, web.client_secret);
});

after(async () => {
  await browser?.close();
  await latchkey?.stop();
  await app?.close();
});

describe('authenticator app (TOTP)', () => {
  test('an admin enrols at first sign-in; tokens carry amr pwd+otp and the MFA acr; a code is never accepted twice', async () => {
    const user = await newUser('admin', ['admin']);
    await withContext(async (_ctx, page) => {
      const { app, result } = await enrolTotp(page, user, { screenshot: true });
      assert.deepEqual(result.id.amr, ['pwd', 'otp']);
      assert.equal(result.id.acr, ACR_MFA);
      assert.deepEqual(result.access.amr, ['pwd', 'otp']);
      assert.equal(result.access.acr, ACR_MFA);
      assert.equal(result.access.aud, NOTES);

      await page.context().clearCookies();
      const started = await startAuth(page);
      await submitPassword(page, user);
      await page.waitForSelector('form[action$="/mfa/totp"]');
      await submitCode(page, await app.lastCode()); // the enrolment code: already used (its step is still in the window)
      assert.match(await page.locator('[role=alert]').first().innerText(), /not right, or was already used/);
      await submitCode(page, await app.nextCode()); // the next step's code: one step ahead, accepted at once
      const again = await finishAndRedeem(page, started);
      assert.deepEqual(again.id.amr, ['pwd', 'otp']);
    });
  });

  test('drift: one step behind is accepted, two steps ahead is refused', async () => {
    const user = await newUser('drift', ['developer']);
    await withContext(async (_ctx, page) => {
      const { app } = await enrolTotp(page, user, {
        enrolmentCode: async ({ secret }) => {
          await clearOfStepEnd(); // the step behind leaves the window when this step ends
          return codeOfStep(secret, currentTimeStep() - 1);
        },
      });
      await page.context().clearCookies();
      const started = await startAuth(page);
      await submitPassword(page, user);
      await clearOfStepEnd(); // two steps ahead must still be two ahead when the server reads it
      const now = currentTimeStep();
      await submitCode(page, await codeOfStep(app.secret, now + 2));
      assert.match(await page.locator('[role=alert]').first().innerText(), /not right/);
      await submitCode(page, await codeOfStep(app.secret, now));
      assert.deepEqual((await finishAndRedeem(page, started)).id.amr, ['pwd', 'otp']);
    });
  });

  test('five wrong codes lock the codes of the account, with the time to wait; even a right code is then refused', async () => {
    const user = await newUser('brute', ['admin']);
    await withContext(async (_ctx, page) => {
      const { app } = await enrolTotp(page, user);
      await page.context().clearCookies();
      await startAuth(page);
      await submitPassword(page, user);
      for (let i = 0; i < 4; i++) {
        await submitCode(page, '000000');
        assert.match(await page.locator('[role=alert]').first().innerText(), /not right/);
      }
      await submitCode(page, '000000');
      assert.match(await page.locator('[role=alert]').first().innerText(), /Too many wrong codes\. Try again in 5 minutes/);
      await submitCode(page, await app.nextCode()); // a code the server would otherwise accept
      assert.match(await page.locator('[role=alert]').first().innerText(), /Too many wrong codes\. Try again in \d+ minutes?/);
    });
  });
});

describe('recovery codes', () => {
  test('a recovery code signs in once, says how many remain, and never works again', async () => {
    const user = await newUser('recover', ['admin']);
    await withContext(async (_ctx, page) => {
      const { codes } = await enrolTotp(page, user);
      await page.context().clearCookies();
      let started = await startAuth(page);
      await submitPassword(page, user);
      await page.click('details summary');
      await page.fill('#recovery_code', codes[0]!.toUpperCase());
      await Promise.all([page.waitForNavigation(), page.click('form[action$="/mfa/recovery"] button')]);
      assert.match(await page.locator('#notice').innerText(), /You have 9 recovery codes left/);
      assert.deepEqual((await finishAndRedeem(page, started)).id.amr, ['pwd', 'otp']);

      await page.context().clearCookies();
      started = await startAuth(page);
      await submitPassword(page, user);
      await page.click('details summary');
      await page.fill('#recovery_code', codes[0]!);
      await Promise.all([page.waitForNavigation(), page.click('form[action$="/mfa/recovery"] button')]);
      assert.match(await page.locator('[role=alert]').first().innerText(), /not valid or was already used/);
    });
  });
});

describe('step-up', () => {
  test('acr_values asking for MFA takes a password-only session through a second factor, without the password again', async () => {
    const user = await newUser('stepup');
    await withContext(async (_ctx, page) => {
      let started = await startAuth(page);
      await submitPassword(page, user);
      const first = await finishAndRedeem(page, started);
      assert.deepEqual(first.id.amr, ['pwd']);
      assert.equal(first.id.acr, ACR_PWD);
      assert.equal(first.access.acr, ACR_PWD);

      started = await startAuth(page, { acr_values: ACR_MFA });
      assert.equal(await page.locator('#password').count(), 0, 'no password asked again');
      await page.waitForSelector('img.qr'); // no factor yet: enrolment
      // the page says why it asks again, and for which app (not the internal client id)
      assert.match(await page.locator('main').innerText(), /asks for a stronger sign-in/);
      await page.screenshot({ path: path.join(repoRoot, 'docs/images', 'step-up.png'), fullPage: true });
      const app = new AuthenticatorApp(secretFromPage(await page.locator('#totp-secret').innerText()));
      await submitCode(page, await app.nextCode());
      const stepped = await finishAndRedeem(page, started);
      assert.deepEqual(stepped.id.amr, ['pwd', 'otp']);
      assert.equal(stepped.id.acr, ACR_MFA);
      assert.equal(stepped.access.acr, ACR_MFA);
      assert.equal(stepped.id.sub, first.id.sub);
    });
  });
});

describe('WebAuthn (virtual authenticator)', () => {
  test('register a passkey at enrolment, use it as second factor, sign in with it alone, refuse a counter regression', async () => {
    const user = await newUser('passkey', ['admin']);
    await withContext(async (ctx, page) => {
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
      });

      let started = await startAuth(page);
      await submitPassword(page, user);
      await page.fill('#passkey-name', 'Test key');
      await Promise.all([page.waitForURL(/\/interaction\//), page.click('#webauthn-register')]);
      await page.waitForSelector('.recovery-code');
      const enrolled = await finishAndRedeem(page, started);
      assert.deepEqual(enrolled.id.amr, ['pwd', 'hwk']);
      assert.equal(enrolled.access.acr, ACR_MFA);

      // Second factor after the password.
      await ctx.clearCookies();
      started = await startAuth(page);
      await submitPassword(page, user);
      // The ceremony runs in the page, which then moves on (to the app, or to consent): wait for that, not a fixed time.
      const secondFactorPage = page.url();
      await page.click('#webauthn-second-factor');
      await page.waitForURL((u) => u.href !== secondFactorPage, { timeout: 10_000 });
      const second = await finishAndRedeem(page, started);
      assert.deepEqual(second.id.amr, ['pwd', 'hwk']);

      // Passkey alone (discoverable credential, user verified).
      await ctx.clearCookies();
      started = await startAuth(page);
      await page.click('#passkey-signin');
      await page.waitForURL((u) => u.href.startsWith(app.redirectUri), { timeout: 10_000 });
      const alone = await finishAndRedeem(page, started);
      assert.deepEqual(alone.id.amr, ['hwk', 'user']);
      assert.equal(alone.id.acr, ACR_MFA);
      assert.deepEqual(alone.access.amr, ['hwk', 'user']);
      assert.equal(alone.id.sub, enrolled.id.sub);

      // A clone of the credential with an older signature counter is refused.
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      const credential = credentials[0]!;
      assert.ok(credential.signCount >= 2);
      await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: credential.credentialId });
      await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...credential, signCount: 0 } });
      await ctx.clearCookies();
      await startAuth(page);
      await page.click('#passkey-signin');
      await page.waitForSelector('#webauthn-error:not([hidden])');
      assert.match(await page.locator('#webauthn-error').innerText(), /signature counter went backwards/);
    });
  });
});

describe('account page', () => {
  test('setting up an authenticator app asks for the password first, then shows recovery codes and the count', async () => {
    const user = await newUser('account');
    await withContext(async (_ctx, page) => {
      await page.goto(`${latchkey.issuer}/account`);
      await submitPassword(page, user);
      await page.waitForSelector('#factor-totp');
      await Promise.all([page.waitForNavigation(), page.click('#factor-totp button')]);
      assert.match(await page.locator('h1').innerText(), /Confirm it is you/);
      await page.fill('#password', user.password);
      await Promise.all([page.waitForNavigation(), page.click('form[action="/account/reauth"] button')]);
      await Promise.all([page.waitForNavigation(), page.click('#factor-totp button')]);
      const app = new AuthenticatorApp(secretFromPage(await page.locator('#totp-secret').innerText()));
      await page.fill('#code', await app.nextCode());
      await Promise.all([page.waitForNavigation(), page.click('form[action="/account/totp/confirm"] button')]);
      assert.equal(await page.locator('.recovery-code').count(), 10);
      await Promise.all([page.waitForNavigation(), page.click('#continue')]);
      assert.match(await page.locator('#factor-totp').innerText(), /on/);
      assert.match(await page.locator('#recovery-codes').innerText(), /10/);
    });
  });
});
