// test-once: the pages in Chromium; npm test fails if a statement they run never ran on PostgreSQL (test/support/sql-coverage.ts)
/**
 * A pending TOTP enrolment belongs to the interaction or session that started it (issue 11,
 * item 5; security rule 35). On 7cc3be5 the unconfirmed secret was shown again at the user's
 * next sign-in: someone with the password signed in, noted the secret and left; once the owner
 * confirmed that same secret, the intruder held a working second factor. Over plain HTTP, as an
 * attacker would: every sign-in gets its own secret, a code from another sign-in's secret
 * confirms nothing, and the same holds on the account page between two sessions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { AuthenticatorApp, secretFromPage } from '../support/totp.ts';
import { createTestUser, TEST_PASSWORD as PASSWORD } from '../support/users.ts';

const REDIRECT_URI = 'https://notebook.example.com/callback';
const FORM = 'application/x-www-form-urlencoded';

let latchkey: Latchkey;
let web: { client_id: string };

before(async () => {
  // The default MFA_REQUIRED=admin,developer: an admin must enrol at first sign-in; a user
  // without a role may add an authenticator app on the account page.
  latchkey = await startLatchkey();
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', REDIRECT_URI, '--scope', 'openid email']);
});

after(async () => {
  await latchkey?.stop();
});

const newUser = async (name: string, roles: string[] = []) => (await createTestUser(latchkey, name, { roles })).email;

/** A code of `secret` the server would accept now (only the secret decides whether it is refused). */
const code = (secret: string) => new AuthenticatorApp(secret).nextCode();

class Browser {
  cookies = new Map<string, string>();
  async send(path: string, init: RequestInit = {}) {
    const res = await fetch(new URL(path, latchkey.issuer), {
      redirect: 'manual',
      ...init,
      headers: { ...(init.headers as Record<string, string>), cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '), accept: 'text/html' },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
    const text = await res.text();
    assert.ok(res.status < 500, `${init.method ?? 'GET'} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return { status: res.status, location: res.headers.get('location'), text, path: new URL(path, latchkey.issuer).pathname };
  }
  post(path: string, fields: Record<string, string>) {
    return this.send(path, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams(fields).toString() });
  }
  /** Follows same-origin redirects; stops at a page or at the app's redirect URI. */
  async follow(first: Awaited<ReturnType<Browser['send']>>) {
    let answer = first;
    while (answer.location && !answer.location.startsWith(REDIRECT_URI)) {
      const url = new URL(answer.location, latchkey.issuer);
      answer = await this.send(url.pathname + url.search);
    }
    return answer;
  }
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? assert.fail('no CSRF token on the page');
const secretOf = (html: string) => secretFromPage(/id="totp-secret"[^>]*>([A-Z2-7 ]+)</.exec(html)?.[1] ?? assert.fail(`no TOTP secret on the page: ${html.slice(0, 400)}`));

/** Starts a sign-in at the app and types the password: the page that follows (here: enrolment). */
async function signInWithPassword(email: string) {
  const browser = new Browser();
  const query = new URLSearchParams({
    client_id: web.client_id, response_type: 'code', scope: 'openid email', redirect_uri: REDIRECT_URI,
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  });
  const login = await browser.follow(await browser.send(`/auth?${query}`));
  const interaction = login.path;
  const afterPassword = await browser.follow(await browser.post(`${interaction}/login`, { csrf: csrfOf(login.text), email, password: PASSWORD }));
  return { browser, interaction, page: afterPassword };
}

describe('enrolment at sign-in belongs to the interaction', () => {
  test('a planted secret: the next sign-in shows a new one, and a code from the planted one confirms nothing', async () => {
    const email = await newUser('admin', ['admin']);

    // The intruder knows the password: signs in, notes the secret, leaves.
    const intruder = await signInWithPassword(email);
    const planted = secretOf(intruder.page.text);

    // The owner signs in later: a different secret.
    const owner = await signInWithPassword(email);
    const shown = secretOf(owner.page.text);
    assert.notEqual(shown, planted, 'the unconfirmed secret of another sign-in is never shown again');

    // A code from the planted secret does not confirm the owner's enrolment…
    const refused = await owner.browser.post(`${owner.interaction}/mfa/enroll/totp`, { csrf: csrfOf(owner.page.text), code: await code(planted) });
    assert.equal(refused.status, 400);
    assert.equal(secretOf(refused.text), shown, 'after a wrong code, this sign-in keeps its own secret');

    // …nor the intruder's own (abandoned) interaction, once the owner has a factor.
    const confirmed = await owner.browser.post(`${owner.interaction}/mfa/enroll/totp`, { csrf: csrfOf(owner.page.text), code: await code(shown) });
    assert.equal(confirmed.status, 303, confirmed.text.slice(0, 300));
    const late = await intruder.browser.post(`${intruder.interaction}/mfa/enroll/totp`, { csrf: csrfOf(intruder.page.text), code: await code(planted) });
    assert.ok(late.status >= 400 && late.status < 500, `the intruder confirmed a second secret: ${late.status}`);

    // The next sign-in asks for a code of the owner's secret; the planted one is refused.
    const next = await signInWithPassword(email);
    assert.doesNotMatch(next.page.text, /id="totp-secret"/, 'enrolled: the code step, no secret');
    const wrong = await next.browser.post(`${next.interaction}/mfa/totp`, { csrf: csrfOf(next.page.text), code: await code(planted) });
    assert.equal(wrong.status, 401, 'the planted secret is not a factor of this account');
  });

  test('reloading the enrolment page in the same sign-in keeps its secret', async () => {
    const email = await newUser('developer', ['developer']);
    const signIn = await signInWithPassword(email);
    const again = await signIn.browser.send(signIn.interaction);
    assert.equal(secretOf(again.text), secretOf(signIn.page.text));
  });
});

describe('enrolment on the account page belongs to the session', () => {
  /** Signs in to the account page and re-authenticates: the session's browser and its CSRF token. */
  async function accountSession(email: string) {
    const browser = new Browser();
    const login = await browser.follow(await browser.send('/account'));
    const account = await browser.follow(await browser.post(`${login.path}/login`, { csrf: csrfOf(login.text), email, password: PASSWORD }));
    assert.equal(account.path, '/account', `signed in to the account page: ${account.path}`);
    const csrf = csrfOf(account.text);
    const reauth = await browser.post('/account/reauth', { csrf, password: PASSWORD });
    assert.equal(reauth.status, 303, reauth.text.slice(0, 300));
    return { browser, csrf };
  }

  test("another session's secret is never shown, and its codes confirm nothing", async () => {
    const email = await newUser('plain');
    const intruder = await accountSession(email);
    const planted = secretOf((await intruder.browser.post('/account/totp/setup', { csrf: intruder.csrf })).text);

    const owner = await accountSession(email);
    const setup = await owner.browser.post('/account/totp/setup', { csrf: owner.csrf });
    const shown = secretOf(setup.text);
    assert.notEqual(shown, planted);
    const refused = await owner.browser.post('/account/totp/confirm', { csrf: owner.csrf, code: await code(planted) });
    assert.equal(refused.status, 400);
    assert.equal(secretOf(refused.text), shown);

    const confirmed = await owner.browser.post('/account/totp/confirm', { csrf: owner.csrf, code: await code(shown) });
    assert.ok(confirmed.status === 200 || confirmed.status === 303, `confirmed: ${confirmed.status}`);
    const late = await intruder.browser.post('/account/totp/confirm', { csrf: intruder.csrf, code: await code(planted) });
    assert.doesNotMatch(late.text, /Recovery codes/, 'the intruder did not replace the active factor');
    const again = await owner.browser.post('/account/totp/setup', { csrf: owner.csrf });
    assert.equal(again.status, 303, 'a factor is active: no new enrolment');
  });
});
