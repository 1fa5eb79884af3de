// test-once: the pages in Chromium; npm test fails if a statement they run never ran on PostgreSQL (test/support/sql-coverage.ts)
/**
 * "Change e-mail" on the account page and the password-changed notice (issue 13), against a real
 * SMTP server started here (test/support/mailbox.ts): Chromium follows the link from the mail it
 * received, in a browser that must sign in first and is brought back to the link. Plain HTTP
 * covers what a person would not do: an address in use (the same page), a replaced, reused,
 * expired or forged link, another account following it, no CSRF token, NUL bytes and huge
 * fields, the mail server down. Screenshots for docs/end-users.md go to docs/images/account-email-*.png.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { startAppServer } from '../support/flow.ts';
import { csrfOf, FORM, Jar, passwordSignIn, sender } from '../support/http-session.ts';
import { repoRoot, startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { startMailbox, type Mailbox } from '../support/mailbox.ts';
import { AuthenticatorApp, secretFromPage } from '../support/totp.ts';
import { createTestUser, TEST_PASSWORD, uniqueEmail as unique } from '../support/users.ts';
import { waitFor } from '../support/wait.ts';

let mailbox: Mailbox;
let latchkey: Latchkey;
let app: Awaited<ReturnType<typeof startAppServer>>;
let browser: Browser;
let web: { client_id: string; client_secret: string };
let send: ReturnType<typeof sender>;

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(repoRoot, 'docs/images', `account-email-${name}.png`), fullPage: true });
const heading = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];
const mainOf = (html: string) => /<main[^>]*>([\s\S]*)<\/main>/.exec(html)?.[1] ?? html;
const CONFIRM = '/account/email/confirm';

/** Password sign-in over HTTP: the jar then holds a browser session the account page accepts; undefined when refused. */
async function signIn(email: string, password = TEST_PASSWORD): Promise<Jar | undefined> {
  const answer = await passwordSignIn(send, { client_id: web.client_id, redirect_uri: app.redirectUri }, { email, password });
  return answer.status === 303 ? answer.jar : undefined;
}

const post = (jar: Jar, path: string, fields: Record<string, string>) =>
  send(path, { method: 'POST', jar, headers: { 'content-type': FORM, accept: 'text/html' }, body: new URLSearchParams(fields).toString() });

/** Confirms it is you with the password (strong, for an account without a second factor), on the way to /account/email. */
async function confirmIdentity(jar: Jar, password = TEST_PASSWORD) {
  const page = await send('/account/email', { jar });
  assert.equal(page.status, 200);
  const answer = await post(jar, '/account/reauth', { csrf: csrfOf(page.text), password, need: 'strong', return: '/account/email' });
  assert.equal(answer.status, 303, answer.text);
}

/** Asks for a change to `newEmail` over HTTP (confirming it is you first); returns the answer. */
async function requestChange(jar: Jar, newEmail: string, options: { reauth?: boolean } = {}) {
  if (options.reauth !== false) await confirmIdentity(jar);
  const form = await send('/account/email', { jar });
  return post(jar, '/account/email', { csrf: csrfOf(form.text), email: newEmail });
}

/** The signed-in account's address, as the account page shows it. */
async function addressOf(jar: Jar) {
  const page = await send('/account', { jar });
  return /id="account-email">([^<]*)</.exec(page.text)?.[1];
}

const tokenOf = (link: string) => new URL(link).searchParams.get('token')!;
const pathOf = (link: string) => { const u = new URL(link); return u.pathname + u.search; };

/** Runs SQL on the server's database (PGlite: the server is paused meanwhile, it owns the files). */
async function sql(text: string, params: unknown[] = []) {
  if (latchkey.env.DATABASE_URL) {
    const client = new pg.Client({ connectionString: latchkey.env.DATABASE_URL });
    await client.connect();
    try {
      return (await client.query(text, params)).rows;
    } finally {
      await client.end();
    }
  }
  await latchkey.pause();
  const db = await PGlite.create(path.join(latchkey.env.DATA_DIR!, 'pglite'));
  try {
    return (await db.query<Record<string, unknown>>(text, params)).rows;
  } finally {
    await db.close();
    await latchkey.resume();
  }
}

type AuditEvent = { type: string; details?: Record<string, unknown> };

/** The audit events of a user of a type, polled until `count` are there (events are written in batches); else those there are, for the assertion to show. */
async function auditEvents(userId: string, type: string, count = 1): Promise<AuditEvent[]> {
  const read = async () => (await latchkey.operate<{ events: AuditEvent[] }>(['audit', '--type', type, '--user', userId])).events;
  return waitFor(`${count} ${type} event(s) of the user`, async () => {
    const events = await read();
    return events.length >= count ? events : undefined;
  }, { timeoutMs: 10_000, intervalMs: 250 }).catch(read);
}

before(async () => {
  mailbox = await startMailbox();
  app = await startAppServer();
  latchkey = await startLatchkey({
    SMTP_URL: mailbox.url,
    MAIL_FROM: 'Latchkey <no-reply@example.com>',
    // Every request here comes from 127.0.0.1.
    RATE_LIMIT_MAIL_IP: '1000/3600',
    RATE_LIMIT_SIGNIN_IP: '1000/60',
    RATE_LIMIT_SIGNIN_ACCOUNT: '1000/60',
    LOCKOUT_ACCOUNT_IP_FAILURES: '1000/60',
    LOCKOUT_IP_FAILURES: '1000/60',
  });
  send = sender(latchkey.issuer);
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', app.redirectUri, '--scope', 'openid email']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await latchkey?.stop();
  await app?.close();
  await mailbox?.close();
});

describe('change e-mail', () => {
  test('Chromium: confirm it is you, new address, link from the mail opened signed out → sign in → confirm; the new address signs in, the old one is refused, the old address is told twice without a link', async () => {
    const user = await createTestUser(latchkey, 'mover');
    const newEmail = unique('moved');
    const ctx = await browser.newContext({ viewport: { width: 720, height: 900 } });
    try {
      const page = await ctx.newPage();
      await page.goto(`${latchkey.issuer}/account`);
      await page.fill('#email', user.email);
      await page.fill('#password', user.password);
      await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
      await Promise.all([page.waitForNavigation(), page.click('#change-email')]);
      assert.equal(await page.locator('h1').innerText(), 'Change your e-mail address');
      assert.equal(await page.locator('#new-email').count(), 0, 'no address form before confirming it is you');
      await page.fill('#reauth-form #password', user.password);
      await Promise.all([page.waitForNavigation(), page.click('#reauth-form button[type=submit]')]);
      await page.fill('#new-email', newEmail);
      await shot(page, 'request');
      await Promise.all([page.waitForNavigation(), page.click('#new-email-form button[type=submit]')]);
      assert.equal(await page.locator('h1').innerText(), 'Check your new address');
      assert.match(await page.locator('#notice').innerText(), new RegExp(`We sent a link to ${newEmail}`));
      await shot(page, 'sent');
    } finally {
      await ctx.close();
    }

    const mail = await mailbox.next(newEmail, { subject: /Confirm your new e-mail address/ });
    assert.ok(mail.link?.startsWith(`${latchkey.issuer}${CONFIRM}?token=`), mail.text);
    assert.ok(mail.text.includes(user.email), 'the mail names the account');
    const notice = await mailbox.next(user.email, { subject: /change of your e-mail address was requested/ });
    assert.ok(notice.text.includes(newEmail));
    const token = tokenOf(mail.link!);
    for (const part of [notice.text, notice.html]) {
      assert.ok(!part.includes(token) && !part.includes(CONFIRM), 'the notice to the old address carries no link that confirms');
    }

    // A browser with no session: sign in first, then back to the link.
    const other = await browser.newContext({ viewport: { width: 720, height: 900 } });
    try {
      const page = await other.newPage();
      await page.goto(mail.link!);
      await page.waitForSelector('form[action$="/login"]');
      await page.fill('#email', user.email);
      await page.fill('#password', user.password);
      await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
      await page.waitForSelector('#confirm-email-form');
      assert.equal(new URL(page.url()).pathname, CONFIRM);
      assert.equal(await page.locator('#new-email').innerText(), newEmail);
      await shot(page, 'confirm');
      await Promise.all([page.waitForNavigation(), page.click('#confirm-email-form button[type=submit]')]);
      assert.equal(await page.locator('h1').innerText(), 'Your e-mail address was changed');
      await shot(page, 'changed');
      await page.goto(`${latchkey.issuer}/account`);
      assert.equal(await page.locator('#account-email').innerText(), newEmail);
    } finally {
      await other.close();
    }

    const changed = await mailbox.next(user.email, { subject: /Your e-mail address was changed/ });
    assert.ok(changed.text.includes(newEmail));
    assert.ok(!changed.text.includes(token) && !changed.html.includes(token));
    assert.ok(await signIn(newEmail), 'the new address signs in');
    assert.equal(await signIn(user.email), undefined, 'the old address is refused');

    // The link worked once.
    const jar = (await signIn(newEmail))!;
    const reused = await send(pathOf(mail.link!), { jar });
    assert.equal(reused.status, 400);
    assert.equal(heading(reused.text), 'This link does not work any more');

    const requested = await auditEvents(user.id, 'email.change_requested');
    assert.equal(requested[0]?.details?.newEmail, newEmail);
    const done = await auditEvents(user.id, 'email.changed');
    assert.deepEqual(done[0]?.details, { from: user.email, to: newEmail });
    const everything = JSON.stringify(await latchkey.operate(['audit', '--user', user.id, '--limit', '100']));
    assert.ok(!everything.includes(token), 'no audit event carries the token');
    assert.ok(!latchkey.output().includes(token), 'the log never shows the token (SMTP mode)');
  });

  test('with an authenticator app, the password alone is not enough: the code is asked for as well', async () => {
    const user = await createTestUser(latchkey, 'twofactor');
    const jar = (await signIn(user.email))!;
    const account = await send('/account', { jar });
    assert.equal((await post(jar, '/account/reauth', { csrf: csrfOf(account.text), password: user.password, need: 'any', return: '/account' })).status, 303);
    const setup = await post(jar, '/account/totp/setup', { csrf: csrfOf(account.text) });
    const authenticator = new AuthenticatorApp(secretFromPage(/id="totp-secret"[^>]*>([A-Z2-7 ]+)</.exec(setup.text)?.[1] ?? assert.fail('no TOTP secret on the page')));
    assert.equal((await post(jar, '/account/totp/confirm', { csrf: csrfOf(account.text), code: await authenticator.nextCode() })).status, 303);

    // The password was proved a moment ago; with a second factor that is not enough to change the address.
    const target = unique('guarded');
    const refused = await requestChange(jar, target, { reauth: false });
    assert.equal(refused.status, 401);
    assert.equal(heading(refused.text), 'Confirm it is you');
    assert.match(refused.text, /Code from your authenticator app/);

    // A code of a time step not used yet (each works once), then the change goes through.
    assert.equal((await post(jar, '/account/reauth', { csrf: csrfOf(account.text), code: await authenticator.nextCode(), need: 'strong', return: '/account/email' })).status, 303);
    const sent = await requestChange(jar, target, { reauth: false });
    assert.equal(heading(sent.text), 'Check your new address');
    assert.match((await mailbox.next(target)).link!, /\/account\/email\/confirm\?token=/);
  });

  test('an address another account uses: the same page, a mail saying it is taken (no link), nothing pending', async () => {
    const owner = await createTestUser(latchkey, 'owner');
    const taker = await createTestUser(latchkey, 'taker');
    const jar = (await signIn(taker.email))!;
    const fresh = unique('fresh');
    const free = await requestChange(jar, fresh);
    const taken = await requestChange(jar, owner.email);
    assert.equal(taken.status, free.status);
    assert.equal(mainOf(taken.text).replaceAll(owner.email, 'X'), mainOf(free.text).replaceAll(fresh, 'X'), 'the page is the same either way');

    const freeLink = (await mailbox.next(fresh, { subject: /Confirm your new e-mail address/ })).link!;
    const mail = await mailbox.next(owner.email, { subject: /already in use/ });
    assert.ok(mail.text.includes(taker.email), 'the mail names the account that asked');
    assert.ok(!mail.text.includes(CONFIRM) && !mail.html.includes(CONFIRM), 'no confirmation link');
    await mailbox.next(taker.email, { subject: /was requested/ });
    await mailbox.next(taker.email, { subject: /was requested/ });
    // The request for the taken address replaced the pending one, as any newer request does.
    const replaced = await send(pathOf(freeLink), { jar });
    assert.equal(replaced.status, 400);
    assert.equal(await addressOf(jar), taker.email);
    const events = await auditEvents(taker.id, 'email.change_requested', 2);
    assert.deepEqual(events.map((e) => e.details?.addressInUse).sort(), [false, true]);
  });

  test('a newer request replaces the pending link; an expired link changes nothing', async () => {
    const user = await createTestUser(latchkey, 'twice');
    const jar = (await signIn(user.email))!;
    const first = unique('first');
    const second = unique('second');
    await requestChange(jar, first);
    await requestChange(jar, second, { reauth: false });
    const firstLink = (await mailbox.next(first)).link!;
    const secondLink = (await mailbox.next(second)).link!;
    assert.equal((await send(pathOf(firstLink), { jar })).status, 400, 'the older link was replaced');
    const open = await send(pathOf(secondLink), { jar });
    assert.equal(open.status, 200);
    assert.equal(heading(open.text), 'Confirm your new e-mail address');

    // Expire it, as 24 hours would (one statement: on PGlite each stops and starts the server).
    const rows = await sql("UPDATE email_change SET expires_at = now() - interval '1 second' WHERE user_id = $1 RETURNING token_hash", [user.id]);
    const expired = await send(pathOf(secondLink), { jar });
    assert.equal(expired.status, 400);
    assert.equal(heading(expired.text), 'This link does not work any more');
    const pressed = await post(jar, CONFIRM, { csrf: csrfOf(open.text), token: tokenOf(secondLink) });
    assert.equal(pressed.status, 400);
    assert.equal(await addressOf(jar), user.email);
    assert.equal(await signIn(second), undefined);
    // Only the hash of the token is stored.
    assert.ok(rows.length > 0 && rows.every((r) => r.token_hash !== tokenOf(secondLink)));
  });

  test('another account following the link: told so, nothing changes, and the link still works for its owner', async () => {
    const owner = await createTestUser(latchkey, 'linkowner');
    const stranger = await createTestUser(latchkey, 'stranger');
    const ownerJar = (await signIn(owner.email))!;
    const newEmail = unique('target');
    await requestChange(ownerJar, newEmail);
    const link = (await mailbox.next(newEmail)).link!;

    const strangerJar = (await signIn(stranger.email))!;
    const opened = await send(pathOf(link), { jar: strangerJar });
    assert.equal(opened.status, 403);
    assert.equal(heading(opened.text), 'This link is for another account');
    assert.ok(!opened.text.includes(owner.email), 'the owner of the link is not named');
    const accountPage = await send('/account', { jar: strangerJar });
    const pressed = await post(strangerJar, CONFIRM, { csrf: csrfOf(accountPage.text), token: tokenOf(link) });
    assert.equal(pressed.status, 403);
    assert.equal(await addressOf(strangerJar), stranger.email);
    assert.equal(await addressOf(ownerJar), owner.email);

    const page = await send(pathOf(link), { jar: ownerJar });
    assert.equal(page.status, 200);
    const done = await post(ownerJar, CONFIRM, { csrf: csrfOf(page.text), token: tokenOf(link) });
    assert.equal(done.status, 200, done.text);
    assert.equal(heading(done.text), 'Your e-mail address was changed');
    assert.equal(await addressOf(ownerJar), newEmail);
  });

  test('refusals: no confirmation, no or a forged CSRF token, forged links, bad addresses, NUL bytes, huge fields — a clear page, never a 5xx, nothing sent', async () => {
    const user = await createTestUser(latchkey, 'careful');
    const jar = (await signIn(user.email))!;
    const target = unique('never');

    // Not confirmed yet: the confirmation page, nothing sent.
    const noReauth = await requestChange(jar, target, { reauth: false });
    assert.equal(noReauth.status, 401);
    assert.equal(heading(noReauth.text), 'Confirm it is you');

    await confirmIdentity(jar);
    const noCsrf = await post(jar, '/account/email', { email: target });
    assert.equal(noCsrf.status, 403);
    const forgedCsrf = await post(jar, '/account/email', { csrf: 'x'.repeat(43), email: target });
    assert.equal(forgedCsrf.status, 403);
    const signedOut = await post(new Jar(), '/account/email', { email: target });
    assert.equal(signedOut.status, 401);

    const csrf = csrfOf((await send('/account/email', { jar })).text);
    for (const [email, expected] of [
      ['not an address', 400],
      [`${'a'.repeat(250)}@example.com`, 400],
      [`${'a'.repeat(65)}@example.com`, 400],
      ['nul\u0000@example.com', 400],
      ['two@example.com, three@example.com', 400],
      ['line@example.com\r\nBcc: x@example.com', 400],
      [user.email.toUpperCase(), 400],
      ['a'.repeat(20_000), 413],
    ] as const) {
      const answer = await post(jar, '/account/email', { csrf, email });
      assert.equal(answer.status, expected, `${JSON.stringify(email.slice(0, 60))}: ${answer.status} ${mainOf(answer.text).slice(0, 200)}`);
    }
    const sameAddress = await post(jar, '/account/email', { csrf, email: ` ${user.email.toUpperCase()} ` });
    assert.match(mainOf(sameAddress.text), /already your e-mail address/);

    // Forged and malformed links, signed in or not.
    for (const query of [`token=${randomBytes(32).toString('base64url')}`, 'token=short', 'token=', '', 'token=a&token=b', `token=${'A'.repeat(5000)}`, 'token=%00%00', 'token=%ZZ']) {
      for (const who of [jar, new Jar()]) {
        const answer = await send(`${CONFIRM}${query ? `?${query}` : ''}`, { jar: who });
        assert.equal(answer.status, 400, `${query}: ${answer.status}`);
      }
    }
    const forgedPress = await post(jar, CONFIRM, { csrf, token: randomBytes(32).toString('base64url') });
    assert.equal(forgedPress.status, 400);
    assert.equal(heading(forgedPress.text), 'This link does not work any more');

    // A real link pressed without the CSRF token changes nothing.
    const realTarget = unique('real');
    await requestChange(jar, realTarget, { reauth: false });
    const link = (await mailbox.next(realTarget)).link!;
    const noCsrfPress = await post(jar, CONFIRM, { token: tokenOf(link) });
    assert.equal(noCsrfPress.status, 403);
    assert.equal(await addressOf(jar), user.email);
    await mailbox.nothingFor(target, 300);
  });

  test('the mail server is down: "we could not send", nothing pending; the address is unchanged', async () => {
    const user = await createTestUser(latchkey, 'downtime');
    const jar = (await signIn(user.email))!;
    await confirmIdentity(jar);
    const csrf = csrfOf((await send('/account/email', { jar })).text);
    await mailbox.stop();
    let answer;
    try {
      // fetch itself: the test's sender fails on any 5xx, and 503 is the answer expected here.
      const res = await fetch(`${latchkey.issuer}/account/email`, { method: 'POST', headers: { 'content-type': FORM, accept: 'text/html', cookie: jar.header() }, body: new URLSearchParams({ csrf, email: unique('lost') }).toString() });
      answer = { status: res.status, text: await res.text() };
    } finally {
      await mailbox.start();
    }
    assert.equal(answer.status, 503);
    assert.match(mainOf(answer.text), /could not send the e-mail/);
    // Once the request's events are written (the failure is one of them), no change request is among them.
    assert.equal((await auditEvents(user.id, 'mail.failed')).length, 1);
    assert.equal((await auditEvents(user.id, 'email.change_requested', 0)).length, 0);
    assert.equal(await addressOf(jar), user.email);
  });
});

describe('password changed notice', () => {
  test('changing the password on the account page e-mails the owner; with the mail server down the password is changed all the same, and the failure audited', async () => {
    const user = await createTestUser(latchkey, 'notice');
    const changePassword = async (jar: Jar, current: string, next: string) => {
      const page = await send('/account/password', { jar });
      const reauth = await post(jar, '/account/reauth', { csrf: csrfOf(page.text), password: current, need: 'password', return: '/account/password' });
      assert.equal(reauth.status, 303);
      const form = await send('/account/password', { jar });
      return post(jar, '/account/password', { csrf: csrfOf(form.text), new_password: next, new_password_again: next });
    };

    const second = 'another long sentence for the notice';
    const changed = await changePassword((await signIn(user.email))!, user.password, second);
    assert.equal(changed.status, 200);
    assert.equal(heading(changed.text), 'Password changed');
    const mail = await mailbox.next(user.email, { subject: /Your password was changed/ });
    assert.ok(mail.text.includes(user.email));

    const third = 'and a third long sentence while mail is down';
    const jar = (await signIn(user.email, second))!;
    await mailbox.stop();
    let answer;
    try {
      answer = await changePassword(jar, second, third);
    } finally {
      await mailbox.start();
    }
    assert.equal(answer.status, 200);
    assert.equal(heading(answer.text), 'Password changed');
    assert.ok(await signIn(user.email, third), 'the new password works');
    assert.equal(await signIn(user.email, second), undefined);
    const events = await auditEvents(user.id, 'account.password.changed', 2);
    assert.deepEqual(events.map((e) => e.details?.notified), [false, true]);
    const failed = await auditEvents(user.id, 'mail.failed');
    assert.equal(failed[0]?.details?.template, 'password-changed');
  });
});
