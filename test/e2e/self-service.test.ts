// test-once: the pages in Chromium; npm test fails if a statement they run never ran on PostgreSQL (test/support/sql-coverage.ts)
/**
 * Sign-up, invitations and password reset (issue 13) against a real SMTP server started here
 * (test/support/mailbox.ts, offering STARTTLS under a certificate the server is told to trust):
 * the test reads each e-mail Latchkey sends and follows its link in Chromium, as a person would.
 * Plain HTTP covers what a person would not do: reused, replaced, forged and malformed links,
 * NUL bytes, huge fields, the mail server going down. A second server without SMTP_URL shows
 * the outbox. Screenshots for docs/end-users.md are taken on the way (docs/images/self-service-*.png).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { continueToApp, discover, startAppServer } from '../support/flow.ts';
import { csrfOf, FORM, Jar, passwordSignIn as passwordSignInOver, sender } from '../support/http-session.ts';
import { repoRoot, startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { startMailbox, type Mailbox, type ReceivedMail } from '../support/mailbox.ts';
import { AuthenticatorApp, secretFromPage } from '../support/totp.ts';
import { createTestUser, TEST_PASSWORD as PASSWORD, uniqueEmail as unique } from '../support/users.ts';
import { waitFor } from '../support/wait.ts';

let mailbox: Mailbox;
let latchkey: Latchkey;
let app: Awaited<ReturnType<typeof startAppServer>>;
let browser: Browser;
let web: { client_id: string; client_secret: string };
let config: oidc.Configuration;
let send: ReturnType<typeof sender>;

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(repoRoot, 'docs/images', `self-service-${name}.png`), fullPage: true });
const tokenOf = (link: string) => new URL(link).searchParams.get('token')!;
const pathOf = (link: string) => { const u = new URL(link); return u.pathname + u.search; };

/** A new user's e-mail address; the password is PASSWORD. */
const newUser = async (name: string, roles: string[] = []) => (await createTestUser(latchkey, name, { roles })).email;

async function withPage<T>(fn: (page: Page) => Promise<T>): Promise<T> {
  const ctx = await browser.newContext();
  try {
    return await fn(await ctx.newPage());
  } finally {
    await ctx.close();
  }
}

/** Sends a form the way the pages do: first GET for the cookie and CSRF token, then POST. */
async function submit(path: string, fields: Record<string, string>, jar = new Jar(), formPath = path) {
  const form = await send(formPath, { jar, headers: { accept: 'text/html' } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)?.[1] ?? '';
  const answer = await send(path, { method: 'POST', jar, headers: { 'content-type': FORM, accept: 'text/html' }, body: new URLSearchParams({ csrf, ...fields }).toString() });
  return { ...answer, jar, csrf };
}

/** Password sign-in over HTTP: 303 onwards when it worked (the browser session then set), 401 when refused. */
const passwordSignIn = (email: string, password: string) => passwordSignInOver(send, { client_id: web.client_id, redirect_uri: app.redirectUri }, { email, password });

const heading = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];
const mainOf = (html: string) => /<main[^>]*>([\s\S]*)<\/main>/.exec(html)?.[1] ?? html;

/** Starts the app's sign-in in Chromium and lands on the sign-in page; returns the interaction uid. */
async function openSignIn(page: Page, scope = 'openid email') {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: app.redirectUri, scope, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
    ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}),
  });
  await page.goto(url.href);
  await page.waitForSelector('form[action$="/login"]');
  const uid = new URL(page.url()).pathname.split('/')[2]!;
  return { uid, verifier, state, nonce };
}

async function typePassword(page: Page, email: string, password: string) {
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
}

/** Consent (and the second-factor pages' Continue) until the app; returns the tokens. */
async function finishAtApp(page: Page, started: Awaited<ReturnType<typeof openSignIn>>) {
  const callback = await continueToApp(page, app.redirectUri);
  return oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: started.verifier, expectedState: started.state, expectedNonce: started.nonce, idTokenExpected: true });
}

before(async () => {
  mailbox = await startMailbox({ tls: true });
  app = await startAppServer();
  latchkey = await startLatchkey({
    SMTP_URL: mailbox.url,
    NODE_EXTRA_CA_CERTS: mailbox.caFile!,
    MAIL_FROM: 'Latchkey <no-reply@example.com>',
    SIGNUP: 'open',
    // Every request here comes from 127.0.0.1: the per-address budgets are what the tests exercise.
    RATE_LIMIT_MAIL_IP: '1000/3600',
    RATE_LIMIT_SIGNIN_IP: '1000/60',
    RATE_LIMIT_SIGNIN_ACCOUNT: '1000/60',
    LOCKOUT_ACCOUNT_IP_FAILURES: '1000/60',
    LOCKOUT_IP_FAILURES: '1000/60',
    // WebAuthn needs a host name as relying party, not an IP address.
  }, { hostname: 'localhost' });
  send = sender(latchkey.issuer);
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', app.redirectUri, '--scope', 'openid email offline_access']);
  config = await discover(latchkey.issuer, web.client_id, web.client_secret);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await latchkey?.stop();
  await app?.close();
  await mailbox?.close();
});

describe('open sign-up', () => {
  test('sign-up → e-mail over STARTTLS → the link and the chosen password confirm the address → the account signs in', async () => {
    const email = unique('newcomer');
    const password = 'a walk in the misty forest';
    await withPage(async (page) => {
      const started = await openSignIn(page);
      assert.ok(await page.locator('#forgot-password').isVisible(), 'the sign-in page offers "Forgot password?"');
      // SIGNUP=open: the sign-in page offers "Create account", which keeps the way back to the app
      assert.ok(await page.locator('#create-account').isVisible(), 'the sign-in page offers "Create account"');
      assert.equal(await page.locator('#create-account').getAttribute('href'), `/signup?interaction=${started.uid}`);
      await Promise.all([page.waitForNavigation(), page.click('#create-account')]);
      await page.fill('#email', email);
      await page.fill('#password', password);
      await shot(page, 'signup');
      await Promise.all([page.waitForNavigation(), page.click('form[action="/signup"] button[type=submit]')]);
      assert.equal(await page.locator('h1').innerText(), 'Check your e-mail');
      await shot(page, 'check-email');

      const mail = await mailbox.next(email, { subject: /Confirm your e-mail address/ });
      assert.equal(mail.secure, true, 'STARTTLS was used: the mail server offered it');
      assert.equal(mail.from, 'no-reply@example.com');
      assert.ok(mail.link?.startsWith(`${latchkey.issuer}/signup/verify?token=`), mail.text);
      assert.ok(mail.html.includes(mail.link!), 'the HTML part carries the same link');

      // Not confirmed yet: the password does not sign in.
      await page.goto(`${latchkey.issuer}/interaction/${started.uid}`);
      await typePassword(page, email, password);
      assert.match(await page.locator('.error').innerText(), /Incorrect e-mail address or password/);

      await page.goto(mail.link!);
      assert.equal(await page.locator('h1').innerText(), 'Confirm your e-mail address');
      await shot(page, 'verify');
      await page.fill('#password', 'not the password at all');
      await Promise.all([page.waitForNavigation(), page.click('form[action="/signup/verify"] button[type=submit]')]);
      assert.match(await page.locator('.error').innerText(), /not the password you chose/);
      await page.fill('#password', password);
      await Promise.all([page.waitForNavigation(), page.click('form[action="/signup/verify"] button[type=submit]')]);
      assert.equal(await page.locator('h1').innerText(), 'Your e-mail address is confirmed');
      await shot(page, 'verified');

      // Back to the sign-in this browser started, which is still open.
      await Promise.all([page.waitForNavigation(), page.click('a:has-text("Continue signing in")')]);
      await typePassword(page, email, password);
      const tokens = await finishAtApp(page, started);
      const info = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
      assert.equal(info.email, email);
      assert.equal(info.email_verified, true, 'the address is proven');
    });
    // The link worked once.
    const reused = await send(`/signup/verify?token=${tokenOf((mailbox.received.find((m) => m.to.includes(email)))!.link!)}`);
    assert.equal(reused.status, 400);
    assert.equal(heading(reused.text), 'This link does not work any more');
  });

  test('an address that already has an account gets the same page, and an e-mail saying so; its password is unchanged', async () => {
    const existing = await newUser('existing');
    const fresh = unique('fresh');
    const newPassword = 'someone else trying this address';
    const forExisting = await submit('/signup', { email: existing, password: newPassword });
    const forFresh = await submit('/signup', { email: fresh, password: newPassword });
    assert.equal(forExisting.status, 200);
    assert.equal(forFresh.status, 200);
    assert.equal(mainOf(forExisting.text).replace(existing, 'X'), mainOf(forFresh.text).replace(fresh, 'X'), 'one answer, whoever owns the address');

    const told = await mailbox.next(existing);
    assert.equal(told.subject, 'You already have an account');
    assert.doesNotMatch(told.text, /token=/, 'no confirmation link for an existing account');
    assert.match(told.text, /\/reset-password/, 'the way to a forgotten password');
    assert.equal((await mailbox.next(fresh)).subject, 'Confirm your e-mail address');

    assert.equal((await passwordSignIn(existing, PASSWORD)).status, 303, 'the old password still signs in');
    assert.equal((await passwordSignIn(existing, newPassword)).status, 401, 'the sign-up password does not');
  });

  test('signing up again for an address still waiting replaces the password and the link; the first link is dead', async () => {
    const email = unique('twice');
    await submit('/signup', { email, password: 'the first password chosen' });
    const first = await mailbox.next(email);
    await submit('/signup', { email, password: 'the second password chosen' });
    const second = await mailbox.next(email);
    assert.notEqual(first.link, second.link);
    assert.equal(heading((await send(pathOf(first.link!))).text), 'This link does not work any more');
    // The link needs the newest password: a pre-registration by someone else is never confirmed by the owner's click alone.
    const stale = await submit('/signup/verify', { token: tokenOf(second.link!), password: 'the first password chosen' }, new Jar(), pathOf(second.link!));
    assert.equal(stale.status, 401);
    const ok = await submit('/signup/verify', { token: tokenOf(second.link!), password: 'the second password chosen' }, new Jar(), pathOf(second.link!));
    assert.equal(heading(ok.text), 'Your e-mail address is confirmed');
    assert.equal((await passwordSignIn(email, 'the second password chosen')).status, 303);
  });

  test('the password rules: 15 characters without a second factor, no common password, no e-mail address; the form keeps the address', async () => {
    const email = unique('rules');
    for (const [password, reason] of [
      ['short one', /at least 15 characters/],
      ['qwertyuiopasdfgh', /common passwords/],
      ['PasswordPassword', /common passwords/],
      [email, /must not be your e-mail address/],
    ] as const) {
      const answer = await submit('/signup', { email, password });
      assert.equal(answer.status, 400, password);
      assert.match(answer.text, reason);
      assert.match(answer.text, new RegExp(`value="${email}"`));
    }
    await mailbox.nothingFor(email, 300);
  });

  test('e-mails to one address are rate-limited (RATE_LIMIT_MAIL_ADDRESS, 5 an hour): the sixth request waits', async () => {
    const email = unique('often');
    for (let i = 0; i < 5; i++) assert.equal((await submit('/signup', { email, password: `a fine password number ${i}` })).status, 200);
    const limited = await submit('/signup', { email, password: 'a fine password number 6' });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.match(limited.text, /Too many requests/);
  });
});

describe('invitations', () => {
  test('`latchkey user invite` e-mails a link; the invitee chooses a password and signs in, with the MFA policy of the role', async () => {
    const email = unique('invitee');
    const invited = await latchkey.cliJson(['user', 'invite', '--email', email, '--role', 'developer']);
    assert.equal(invited.status, 'invited');
    assert.deepEqual(invited.roles, ['developer']);
    const mail = await mailbox.next(email, { subject: /invited/ });
    assert.ok(mail.link?.startsWith(`${latchkey.issuer}/invite?token=`));
    assert.equal((await passwordSignIn(email, 'anything at all, really')).status, 401, 'no password works before the invitation is accepted');

    await withPage(async (page) => {
      await page.goto(mail.link!);
      assert.equal(await page.locator('h1').innerText(), 'Choose your password');
      await page.fill('#password', 'short');
      await shot(page, 'invite');
      // The browser's own minlength check stops a short one; the server's check is the one that counts.
      await page.locator('#password').evaluate((input) => input.removeAttribute('minlength'));
      await Promise.all([page.waitForNavigation(), page.click('form[action="/invite"] button[type=submit]')]);
      assert.match(await page.locator('.error').innerText(), /at least 15 characters/);
      await page.fill('#password', 'my very own invited password');
      await Promise.all([page.waitForNavigation(), page.click('form[action="/invite"] button[type=submit]')]);
      assert.equal(await page.locator('h1').innerText(), 'Your account is ready');

      // A developer must have a second factor (MFA_REQUIRED=admin,developer): enrolment at the first sign-in.
      await openSignIn(page);
      await typePassword(page, email, 'my very own invited password');
      await page.waitForSelector('#totp-secret');
    });
    assert.equal(heading((await send(pathOf(mail.link!))).text), 'This link does not work any more', 'an invitation works once');
    const again = await latchkey.cli(['user', 'invite', '--email', email]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists/);
  });
});

describe('forgot password', () => {
  test('without a second factor: e-mail → new password → every session and refresh token revoked → told by e-mail', async () => {
    const email = await newUser('forgetful');
    // Signed in somewhere (a browser session) and an app holding a refresh token.
    const elsewhere = await passwordSignIn(email, PASSWORD);
    assert.equal(elsewhere.status, 303);
    const account = await send('/account', { jar: elsewhere.jar });
    assert.equal(account.status, 200, 'signed in on the account page');
    const refreshToken = await withPage(async (page) => {
      const started = await openSignIn(page, 'openid email offline_access');
      await typePassword(page, email, PASSWORD);
      return (await finishAtApp(page, started)).refresh_token!;
    });
    assert.ok(refreshToken);
    assert.ok((await oidc.refreshTokenGrant(config, refreshToken)).access_token, 'the refresh token works before the reset');
    const newPassword = 'a brand new password for me';
    const second = await withPage(async (page) => {
      const started = await openSignIn(page);
      await shot(page, 'sign-in');
      await Promise.all([page.waitForNavigation(), page.click('#forgot-password')]);
      await page.fill('#email', email);
      await shot(page, 'reset-request');
      await Promise.all([page.waitForNavigation(), page.click('form[action="/reset-password"] button[type=submit]')]);
      assert.equal(await page.locator('h1').innerText(), 'Check your e-mail');
      const mail = await mailbox.next(email, { subject: /Reset your password/ });
      assert.ok(mail.link?.startsWith(`${latchkey.issuer}/reset-password/choose?token=`));
      assert.match(mail.text, /30 minutes/);
      await page.goto(mail.link!);
      assert.equal(await page.locator('#code').count(), 0, 'no second factor to ask for');
      await page.fill('#password', newPassword);
      await shot(page, 'reset-choose');
      await Promise.all([page.waitForNavigation(), page.click('form[action="/reset-password/choose"] button[type=submit]')]);
      assert.equal(await page.locator('h1').innerText(), 'Your password was changed');
      await shot(page, 'reset-done');
      await Promise.all([page.waitForNavigation(), page.click('a:has-text("Continue signing in")')]);
      await typePassword(page, email, newPassword);
      await finishAtApp(page, started);
      return mail;
    });
    const notice = await mailbox.next(email, { subject: /Your password was changed/ });
    assert.match(notice.text, /signed out/);

    await assert.rejects(oidc.refreshTokenGrant(config, refreshToken), (err: any) => err.error === 'invalid_grant', 'the refresh token is revoked');
    const after = await send('/account', { jar: elsewhere.jar });
    assert.ok(after.status === 302 || after.status === 303, `the other session ended: ${after.status}`);
    assert.equal((await passwordSignIn(email, PASSWORD)).status, 401, 'the old password is refused');
    assert.equal((await passwordSignIn(email, newPassword)).status, 303);
    // The link worked once; a second use changes nothing.
    const reused = await submit('/reset-password/choose', { token: tokenOf(second.link!), password: 'yet another password again' }, new Jar(), '/reset-password');
    assert.equal(reused.status, 400);
    assert.equal(heading(reused.text), 'This link does not work any more');
    assert.equal((await passwordSignIn(email, newPassword)).status, 303, 'nothing changed');
  });

  test('with an authenticator app: the link alone changes nothing; a wrong code neither; the right code (or a recovery code) does', async () => {
    const email = await newUser('guarded', ['admin']);
    // First sign-in: an admin enrols an authenticator app and gets recovery codes.
    const { authenticator, codes } = await withPage(async (page) => {
      const started = await openSignIn(page);
      await typePassword(page, email, PASSWORD);
      await page.waitForSelector('#totp-secret');
      const authenticator = new AuthenticatorApp(secretFromPage(await page.locator('#totp-secret').innerText()));
      await page.fill('#code', await authenticator.nextCode());
      await Promise.all([page.waitForNavigation(), page.click('form[action$="/enroll/totp"] button[type=submit]')]);
      const codes = await page.locator('.recovery-code').allInnerTexts();
      await finishAtApp(page, started);
      return { authenticator, codes };
    });
    assert.equal(codes.length, 10);

    const request = await submit('/reset-password', { email });
    assert.equal(request.status, 200);
    const mail = await mailbox.next(email, { subject: /Reset your password/ });
    assert.match(mail.text, /second factor/);
    const newPassword = 'eight ch';
    const choose = (fields: Record<string, string>) => submit('/reset-password/choose', { token: tokenOf(mail.link!), ...fields }, new Jar(), pathOf(mail.link!));

    const page = await send(pathOf(mail.link!));
    assert.match(page.text, /id="code"/, 'the code is asked for');
    assert.match(page.text, /minlength="8"/, '8 characters are enough with a second factor');
    const noCode = await choose({ password: newPassword });
    assert.equal(noCode.status, 401);
    assert.match(noCode.text, /Your account has a second factor/);
    const wrong = await choose({ password: newPassword, code: '000000' });
    assert.equal(wrong.status, 401);
    assert.equal((await passwordSignIn(email, newPassword)).status, 401, 'nothing changed yet');
    assert.notEqual((await passwordSignIn(email, PASSWORD)).status, 401, 'the old password still works');

    await withPage(async (browserPage) => {
      await browserPage.goto(mail.link!);
      await browserPage.fill('#password', newPassword);
      await browserPage.fill('#code', await authenticator.nextCode());
      await shot(browserPage, 'reset-choose-second-factor');
      await Promise.all([browserPage.waitForNavigation(), browserPage.click('form[action="/reset-password/choose"] button[type=submit]')]);
      assert.equal(await browserPage.locator('h1').innerText(), 'Your password was changed');
    });
    await mailbox.next(email, { subject: /Your password was changed/ });
    assert.equal((await passwordSignIn(email, PASSWORD)).status, 401);
    const signIn = await passwordSignIn(email, newPassword);
    assert.equal(signIn.status, 303, 'the new password, then the second factor as before');

    // A recovery code does as well, once.
    await submit('/reset-password', { email });
    const next = await mailbox.next(email, { subject: /Reset your password/ });
    const viaRecovery = await submit('/reset-password/choose', { token: tokenOf(next.link!), password: 'recovered password here', recovery_code: codes[0]! }, new Jar(), pathOf(next.link!));
    assert.equal(heading(viaRecovery.text), 'Your password was changed');
    await submit('/reset-password', { email });
    const third = await mailbox.next(email, { subject: /Reset your password/ });
    const reusedCode = await submit('/reset-password/choose', { token: tokenOf(third.link!), password: 'recovered password again', recovery_code: codes[0]! }, new Jar(), pathOf(third.link!));
    assert.equal(reusedCode.status, 401, 'a recovery code works once');
  });

  test('with a passkey: the passkey on the reset page is the second factor', async () => {
    const email = await newUser('keyholder', ['admin']);
    await withPage(async (page) => {
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
      });
      // First sign-in: an admin registers a passkey as the second factor.
      const started = await openSignIn(page);
      await typePassword(page, email, PASSWORD);
      await page.fill('#passkey-name', 'Test key');
      await Promise.all([page.waitForURL(/\/interaction\//), page.click('#webauthn-register')]);
      await page.waitForSelector('.recovery-code');
      await finishAtApp(page, started);

      assert.equal((await submit('/reset-password', { email })).status, 200);
      const mail = await mailbox.next(email, { subject: /Reset your password/ });
      await page.goto(mail.link!);
      assert.equal(await page.locator('#code').count(), 0, 'no authenticator app to ask a code of');
      const newPassword = 'keyholder reset';
      // Without the passkey (or a recovery code) the password does not change.
      await page.fill('#password', newPassword);
      await Promise.all([page.waitForNavigation(), page.click('form[action="/reset-password/choose"] button[type=submit]')]);
      assert.match(await page.locator('.error').innerText(), /Your account has a second factor/);
      await Promise.all([page.waitForURL(/reset-password\/choose/), page.click('#reset-passkey')]);
      await page.waitForSelector('#passkey-proven');
      await page.fill('#password', newPassword);
      await Promise.all([page.waitForNavigation(), page.click('form[action="/reset-password/choose"] button[type=submit]')]);
      assert.equal(await page.locator('h1').innerText(), 'Your password was changed');
    });
    assert.equal((await passwordSignIn(email, 'keyholder reset')).status, 303);
  });

  test('an address without an account gets the same page and an e-mail saying so; a newer link replaces the older', async () => {
    const known = await newUser('known');
    const unknown = unique('unknown');
    const a = await submit('/reset-password', { email: known });
    const b = await submit('/reset-password', { email: unknown });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(mainOf(a.text).replace(known, 'X'), mainOf(b.text).replace(unknown, 'X'));
    const none = await mailbox.next(unknown);
    assert.equal(none.subject, 'Password reset requested');
    assert.doesNotMatch(none.text, /token=/);

    const first = await mailbox.next(known);
    await submit('/reset-password', { email: known });
    const second = await mailbox.next(known);
    assert.equal(heading((await send(pathOf(first.link!))).text), 'This link does not work any more', 'replaced by the newer link');
    assert.equal((await send(pathOf(second.link!))).status, 200);
  });
});

describe('hostile input: a clear page, never a 5xx, nothing half-done', () => {
  test('forged, malformed and repeated tokens', async () => {
    const forged = randomBytes(32).toString('base64url');
    for (const path of ['/signup/verify', '/invite', '/reset-password/choose']) {
      for (const query of [`token=${forged}`, 'token=', '', 'token=a&token=b', `token=${'x'.repeat(43)}`, `token=${'A'.repeat(4000)}`, 'token=%00', 'token=%ff%fe', 'token=%E2%80%AE']) {
        const answer = await send(`${path}?${query}`, { headers: { accept: 'text/html' } });
        assert.ok(answer.status === 400, `${path}?${query.slice(0, 40)} answered ${answer.status}`);
      }
      const posted = await submit(path, { token: forged, password: 'a perfectly good password' }, new Jar(), '/reset-password');
      assert.equal(posted.status, 400, `POST ${path}`);
      assert.equal(heading(posted.text), 'This link does not work any more');
    }
    const passkey = await send(`/reset-password/passkey/options?token=${forged}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.ok(passkey.status === 400 || passkey.status === 403, String(passkey.status));
  });

  test('NUL bytes, control characters and huge fields in the forms', async () => {
    const jar = new Jar();
    const form = await send('/signup', { jar, headers: { accept: 'text/html' } });
    const csrf = csrfOf(form.text);
    const post = (path: string, body: string) => send(path, { method: 'POST', jar, headers: { 'content-type': FORM, accept: 'text/html' }, body });
    const cases: Array<[string, string]> = [
      ['/signup', `csrf=${csrf}&email=a%00b%40example.com&password=${'p'.repeat(20)}`],
      ['/signup', `csrf=${csrf}&email=${'a'.repeat(5000)}%40example.com&password=${'p'.repeat(20)}`],
      ['/signup', `csrf=${csrf}&email=x%40example.com&password=${'p'.repeat(300)}`],
      ['/signup', `csrf=${csrf}&email=x%40example.com&password=${'p'.repeat(20_000)}`],
      ['/signup', `csrf=${csrf}&email=x%40example.com%2C%20y%40example.com&password=${'p'.repeat(20)}`],
      ['/signup', `csrf=${csrf}&email=x%40example.com%0d%0aBcc%3a%20y%40example.com&password=${'p'.repeat(20)}`],
      ['/reset-password', `csrf=${csrf}&email=%00`],
      ['/reset-password', `csrf=${csrf}&email=${'b'.repeat(100_000)}`],
      ['/reset-password', `csrf=${csrf}&email=%ff%fe%40example.com`],
      ['/reset-password/choose', `csrf=${csrf}&token=%00&password=x`],
      ['/signup/verify', `csrf=${csrf}&token=${'t'.repeat(43)}&password=%00`],
      ['/invite', `csrf=${csrf}&token=${'t'.repeat(43)}&password=${'p'.repeat(20_000)}`],
      ['/signup', `email=x%40example.com&password=${'p'.repeat(20)}`],
    ];
    for (const [path, body] of cases) {
      const answer = await post(path, body);
      assert.ok(answer.status >= 400 && answer.status < 500, `${path} ${body.slice(0, 60)} answered ${answer.status}`);
    }
    assert.doesNotMatch(latchkey.output(), /"level":50/, 'no unhandled error was logged');
  });
});

describe('when the mail server is down', () => {
  test('the person is told to try again, the log and the audit trail say why (without the link), and trying again later works', async () => {
    const email = await newUser('unlucky');
    /**
     * Forms posted while the mail server is down, all at once (each waits out the server's
     * retries): 503 Service Unavailable, the one 5xx that is meant.
     */
    const whileDown = async (forms: Array<[path: string, fields: Record<string, string>]>) => {
      const opened = await Promise.all(forms.map(async ([path, fields]) => {
        const jar = new Jar();
        return { path, fields, jar, csrf: csrfOf((await send(path, { jar })).text) };
      }));
      await mailbox.stop();
      try {
        return await Promise.all(opened.map(async ({ path, fields, jar, csrf }) => {
          const res = await fetch(`${latchkey.issuer}${path}`, { method: 'POST', headers: { 'content-type': FORM, accept: 'text/html', cookie: jar.header() }, body: new URLSearchParams({ csrf, ...fields }).toString() });
          return { status: res.status, text: await res.text() };
        }));
      } finally {
        await mailbox.start();
      }
    };
    const newcomer = unique('nobody-yet');
    const [failed, signupFailed] = await whileDown([['/reset-password', { email }], ['/signup', { email: newcomer, password: 'a password that waits' }]]);
    assert.equal(failed!.status, 503);
    assert.match(failed!.text, /We could not send the e-mail\. Please try again/);
    assert.match(failed!.text, new RegExp(`value="${email}"`), 'the form keeps the address');
    assert.equal(signupFailed!.status, 503);
    assert.match(signupFailed!.text, /We could not send the e-mail/);
    // Nothing half-done: no account waits for a link that never went out, so signing up again is a first sign-up.
    assert.equal((await submit('/signup', { email: newcomer, password: 'a password that waits' })).status, 200);
    assert.equal((await mailbox.next(newcomer)).subject, 'Confirm your e-mail address');

    // Audit events are written in batches, shortly after: wait for this one.
    let audit: any;
    const event = await waitFor('the mail.failed event', async () => {
      audit = await latchkey.operate(['audit', '--type', 'mail.failed']);
      return ((audit.events ?? audit) as Array<{ details: Record<string, unknown> }>).find((e) => e.details.to === email);
    }, { timeoutMs: 10_000, intervalMs: 250 }).catch(() => undefined);
    assert.ok(event, JSON.stringify(audit).slice(0, 500));
    assert.match(String(event!.details.reason), /ECONNECTION|ESOCKET|ECONNREFUSED/);
    assert.equal(event!.details.attempts, 3, 'tried three times');
    const logLines = latchkey.output().split('\n').filter((l) => l.includes('e-mail not sent'));
    assert.ok(logLines.length >= 3, 'each attempt is logged');
    for (const line of logLines) assert.doesNotMatch(line, /token=|reset-password\/choose/, 'no link in the log');

    const retried = await submit('/reset-password', { email });
    assert.equal(retried.status, 200);
    assert.ok((await mailbox.next(email, { subject: /Reset your password/ })).link);
  });
});

describe('without SMTP_URL (a laptop)', () => {
  test('each e-mail is written to DATA_DIR/outbox as an .eml file (0600) and the server logs its link', async () => {
    const local = await startLatchkey({ SIGNUP: 'invite' });
    try {
      const sendLocal = sender(local.issuer);
      const outbox = path.join(local.env.DATA_DIR!, 'outbox');
      const email = unique('local');
      // Run by the server (embedded database) or by the command itself (DATABASE_URL): either way the file is there.
      const invited = await local.operate(['user', 'invite', '--email', email]);
      assert.equal(invited.sent_by, 'outbox');
      assert.equal(path.dirname(invited.outbox_file), outbox);
      assert.equal(statSync(invited.outbox_file).mode & 0o777, 0o600);
      const eml = readFileSync(invited.outbox_file, 'utf8');
      assert.match(eml, new RegExp(`^To: ${email}`, 'm'));
      const link = /http:\/\/\S+\/invite\?token=[A-Za-z0-9_-]{43}/.exec(eml.replace(/=\r?\n/g, '').replace(/=3D/g, '='))?.[0] ?? assert.fail(eml);
      assert.ok(link.startsWith(`${local.issuer}/invite?token=`));
      const jar = new Jar();
      const page = await sendLocal(pathOf(link), { jar });
      assert.equal(page.status, 200);
      const done = await sendLocal('/invite', { method: 'POST', jar, headers: { 'content-type': FORM }, body: new URLSearchParams({ csrf: csrfOf(page.text), token: tokenOf(link), password: 'works without a mail server' }).toString() });
      assert.equal(heading(done.text), 'Your account is ready');

      // What the server sends itself, it also logs with its link.
      const form = await sendLocal('/reset-password', { jar });
      await sendLocal('/reset-password', { method: 'POST', jar, headers: { 'content-type': FORM }, body: new URLSearchParams({ csrf: csrfOf(form.text), email }).toString() });
      // The log is written asynchronously (src/logger.ts): wait for the line.
      const loggedLine = () => local.output().split('\n').find((l) => l.includes('written to the outbox') && l.includes('"template":"reset-password"'));
      const line = await waitFor('the outbox line in the log', loggedLine, { timeoutMs: 5000 }).catch(() => undefined);
      const logged = /"link":"([^"]+)"/.exec(line ?? '')?.[1] ?? assert.fail(`no outbox line in the log:\n${local.output().slice(-2000)}`);
      assert.ok(logged.startsWith(`${local.issuer}/reset-password/choose?token=`), line);
      assert.equal((await sendLocal(pathOf(logged))).status, 200);
      assert.equal(readdirSync(outbox).filter((f) => f.endsWith('.eml')).length, 2);
      // SIGNUP=invite: no open sign-up page.
      assert.equal((await sendLocal('/signup')).status, 404);
    } finally {
      await local.stop();
    }
  });
});
