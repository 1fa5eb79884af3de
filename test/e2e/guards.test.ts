/**
 * Issue 11, guards that cannot be walked around (items 1, 4, 6, 7, 13): every registered route
 * answers its other spellings (case, trailing slash, double slash, needless escapes) with a
 * refusal; lock-outs and suspensions hold against those spellings; a stranger's wrong secrets
 * lock out the stranger, not the client; re-authentication shares sign-in's lock-out; junk URLs
 * do not grow the metrics; the client address is counted from the right of X-Forwarded-For;
 * /readyz tells details only to the metrics token; an account-wide lock lets the owner through
 * with a second factor. The server trusts one proxy so each scenario can play its own address.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { generate } from 'otplib';
import { loadConfig } from '../../src/config/config.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { mountedRouters, serverRouteTable } from '../../src/server.ts';
import type { Services } from '../../src/context.ts';
import type { ProviderHolder } from '../../src/oidc/provider-holder.ts';
import type { CredentialAttempts } from '../../src/security/credential-attempts.ts';
import type { RateLimits } from '../../src/security/rate-limits.ts';
import { basic, csrfOf, FORM, Jar, postForm, sender, startSignIn, type SignIn } from '../support/http-session.ts';
import { eachAtOnce } from '../support/concurrency.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { waitFor } from '../support/wait.ts';

const REDIRECT_URI = 'https://notebook.example.com/callback';
import { createTestUser, TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const METRICS_TOKEN = randomBytes(24).toString('base64url');
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const REFUSED = /No such path/;

let latchkey: Latchkey;
let send: ReturnType<typeof sender>;
let web: { client_id: string; client_secret: string };
const client = () => ({ client_id: web.client_id, redirect_uri: REDIRECT_URI });

before(async () => {
  latchkey = await startLatchkey({
    TRUST_PROXY: '1',
    METRICS_TOKEN,
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    LOCKOUT_ACCOUNT_IP_FAILURES: '3/900',
    LOCKOUT_ACCOUNT_FAILURES: '6/900',
    LOCKOUT_CLIENT_FAILURES: '6/300',
    LOCKOUT_BASE_SECONDS: '600',
    RATE_LIMIT_SIGNIN_ACCOUNT: '1000/60',
    RATE_LIMIT_SIGNIN_IP: '1000/60',
    MFA_REQUIRED: 'admin',
  });
  send = sender(latchkey.issuer);
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', REDIRECT_URI, '--scope', 'openid email']);
});

after(async () => {
  await latchkey?.stop();
});

const newUser = async (label: string, roles: string[] = []) => (await createTestUser(latchkey, label, { roles })).email;

const login = (s: SignIn, ip: string, email: string, password: string, step = 'login') =>
  postForm(send, s, `${s.interaction}/${step}`, { email, password }, ip);

/** Every route the server registers, built the way the server builds them (src/server.ts). */
function allRoutes() {
  const config = loadConfig({ ADMIN_API_TOKEN: ADMIN_TOKEN, METRICS_TOKEN });
  const services = { config } as unknown as Services;
  const mounted = mountedRouters({ services, holder: {} as ProviderHolder, csrfSecret: 'x'.repeat(32), attempts: {} as CredentialAttempts, limits: {} as RateLimits, metrics: new Metrics() });
  return serverRouteTable(mounted);
}

/** Pure: the other spellings of a concrete path an attacker would try. */
function variants(path: string): string[] {
  if (path === '/') return ['//'];
  const segments = path.split('/');
  const literal = segments.findIndex((s, i) => i > 0 && /^[a-z]/.test(s));
  const out = [`${path}/`, `/${path}`, path.replace(/\/([^/]+)$/, '//$1')];
  if (literal > 0) {
    const word = segments[literal]!;
    const upper = [...segments];
    upper[literal] = word.toUpperCase();
    out.push(upper.join('/'));
    const escaped = [...segments];
    escaped[literal] = `%${word.charCodeAt(0).toString(16).toUpperCase()}${word.slice(1)}`;
    out.push(escaped.join('/'));
  }
  const last = segments.length - 1;
  if (last !== literal && /^[a-z]/.test(segments[last]!)) {
    const upper = [...segments];
    upper[last] = segments[last]!.charAt(0).toUpperCase() + segments[last]!.slice(1);
    out.push(upper.join('/'));
  }
  return out;
}

describe('one spelling per route (item 1)', () => {
  test('every registered route refuses its case, trailing-slash, double-slash and escaped variants', async () => {
    const table = allRoutes();
    assert.ok(table.routes.length > 50, `only ${table.routes.length} routes found`);
    for (const name of ['/token', '/reg', '/interaction/:uid/login', '/account/reauth', '/admin/api/security/audit', '/healthz', '/statuslists/:n']) {
      assert.ok(table.routes.some((r) => r.path === name), `${name} is not in the route table`);
    }
    let tried = 0;
    await eachAtOnce(table.routes, 8, async (route) => {
      const path = route.path.replace(/:[A-Za-z_]+/g, '1x');
      const canonical = await send(path, { method: route.method, headers: { accept: 'application/json' } });
      assert.doesNotMatch(canonical.text, REFUSED, `${route.method} ${path} itself is refused`);
      for (const variant of variants(path)) {
        const res = await send(variant, { method: route.method, headers: { accept: 'application/json' } });
        assert.equal(res.status, 404, `${route.method} ${variant} (of ${route.path}) answered ${res.status}`);
        assert.match(res.text, REFUSED, `${route.method} ${variant}`);
        tried++;
      }
    });
    assert.ok(tried > 200, `${tried} variants tried`);
  });

  test('a locked account cannot sign in through /LOGIN, /login/ or //login, nor be guessed through them', async () => {
    const email = await newUser('locked');
    const ip = '203.0.113.10';
    const s = await startSignIn(send, client(), ip);
    for (let i = 0; i < 3; i++) assert.equal((await login(s, ip, email, `wrong-${i}`)).status, 401);
    assert.equal((await login(s, ip, email, PASSWORD)).status, 429, 'the canonical path is locked');
    for (const step of ['LOGIN', 'login/', 'Login', '%6Cogin']) {
      const res = await login(s, ip, email, PASSWORD, step);
      assert.equal(res.status, 404, `${step}: ${res.status}`);
      assert.equal(res.headers.get('location'), null);
    }
    const other = await startSignIn(send, client(), '203.0.113.11');
    for (let i = 0; i < 40; i++) assert.equal((await login(other, '203.0.113.11', email, `guess-${i}`, 'LOGIN')).status, 404);
    // Double slash inside the interaction path.
    const doubled = await send(other.interaction.replace('/interaction/', '/interaction//') + '/login', {
      method: 'POST', ip: '203.0.113.11', jar: other.jar, headers: { 'content-type': FORM }, body: new URLSearchParams({ csrf: other.csrf, email, password: PASSWORD }).toString(),
    });
    assert.equal(doubled.status, 404);
  });

  test('a suspended address is refused at /token, and /TOKEN, /token/, /REG are no way around it', async () => {
    const ip = '203.0.113.20';
    await latchkey.operate(['suspend', '--kind', 'ip', '--subject', ip, '--duration', '10m']);
    const body = new URLSearchParams({ grant_type: 'client_credentials' }).toString();
    const headers = { 'content-type': FORM, authorization: basic(web.client_id, web.client_secret), accept: 'application/json' };
    assert.equal((await send('/token', { method: 'POST', ip, headers, body })).status, 429);
    for (const path of ['/TOKEN', '/token/', '//token', '/%74oken', '/Token/introspection', '/token/REVOCATION']) {
      assert.equal((await send(path, { method: 'POST', ip, headers, body })).status, 404, path);
    }
    assert.equal((await send('/reg', { method: 'POST', ip, headers: { 'content-type': 'application/json' }, body: '{}' })).status, 429);
    for (const path of ['/REG', '/reg/', '/Reg']) {
      assert.equal((await send(path, { method: 'POST', ip, headers: { 'content-type': 'application/json' }, body: '{}' })).status, 404, path);
    }
  });
});

describe('strangers cannot lock a client out (item 4)', () => {
  test("wrong secrets from two addresses lock those addresses out; the client's right secret still works", async () => {
    const tokenRequest = (ip: string, secret: string) =>
      send('/token', {
        method: 'POST',
        ip,
        headers: { 'content-type': FORM, authorization: basic(web.client_id, secret) },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'not-a-code', redirect_uri: REDIRECT_URI, code_verifier: 'x'.repeat(43) }).toString(),
      });
    for (const ip of ['198.51.100.61', '198.51.100.62']) {
      for (let i = 0; i < 6; i++) assert.equal(JSON.parse((await tokenRequest(ip, `wrong-${i}`)).text).error, 'invalid_client');
      // Even the right secret is refused from an address that guessed: it was locked out.
      assert.equal((await tokenRequest(ip, web.client_secret)).status, 429);
    }
    const real = await tokenRequest('198.51.100.99', web.client_secret);
    assert.equal(JSON.parse(real.text).error, 'invalid_grant', `authenticated: only the fake code is wrong (${real.text})`);
    const list = await latchkey.operate(['suspensions', 'list']);
    assert.ok(!list.some((s: { kind: string; subject: string }) => s.kind === 'client' && s.subject === web.client_id), 'the client itself is not suspended');
    assert.ok(list.some((s: { kind: string; subject: string }) => s.kind === 'client-ip' && s.subject === `${web.client_id}|198.51.100.61`));
  });

  test("an operator's manual client suspension still refuses the client everywhere, and lifts", async () => {
    const service = await latchkey.operate(['client', 'create', '--name', 'Batch', '--type', 'web', '--redirect-uri', REDIRECT_URI, '--scope', 'openid']);
    await latchkey.operate(['suspend', '--kind', 'client', '--subject', service.client_id, '--duration', '10m']);
    const res = await send('/token', { method: 'POST', ip: '198.51.100.70', headers: { 'content-type': FORM, authorization: basic(service.client_id, service.client_secret) }, body: 'grant_type=authorization_code&code=x' });
    assert.equal(res.status, 401);
    assert.match(JSON.parse(res.text).error_description, /temporarily suspended/);
    assert.deepEqual(await latchkey.operate(['suspensions', 'lift', '--kind', 'client', '--subject', service.client_id]), { lifted: 1 });
  });
});

/** Signs in to the account page by hand: /account → the authorization endpoint → login → back. */
async function accountSession(email: string, ip: string): Promise<{ jar: Jar; csrf: string }> {
  const jar = new Jar();
  let res = await send('/account', { ip, jar });
  for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops++) {
    const location = new URL(res.headers.get('location')!, latchkey.issuer);
    if (location.pathname.startsWith('/interaction/') && !location.pathname.slice('/interaction/'.length).includes('/')) {
      const page = await send(location.pathname, { ip, jar });
      res = await postForm(send, { jar, csrf: csrfOf(page.text) }, `${location.pathname}/login`, { email, password: PASSWORD }, ip);
      continue;
    }
    res = await send(`${location.pathname}${location.search}`, { ip, jar });
  }
  assert.equal(res.status, 200, `account page: ${res.status} ${res.text.slice(0, 200)}`);
  return { jar, csrf: csrfOf(res.text) };
}

describe('one limiter for every credential check (item 6)', () => {
  test('wrong passwords at /account/reauth lock out like sign-in, and the right one is then refused too', async () => {
    const email = await newUser('reauth');
    const ip = '192.0.2.31';
    const session = await accountSession(email, ip);
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await postForm(send, session, '/account/reauth', { password: `wrong-${i}` }, ip)).status);
    assert.deepEqual(statuses.slice(0, 3), [401, 401, 401]);
    assert.ok(statuses.slice(3).every((s) => s === 429), statuses.join(','));
    assert.equal((await postForm(send, session, '/account/reauth', { password: PASSWORD }, ip)).status, 429);
    // Audit events are written in batches, shortly after (src/security/audit-log.ts): wait for this one, fail if it never comes.
    const lockedOut = (events: Array<{ details: { subject?: string } }>) => events.some((e) => e.details.subject === `${email}|${ip}`);
    const found = await waitFor('the suspension.created event of the lock-out', async () =>
      lockedOut((await latchkey.operate(['audit', '--type', 'suspension.created', '--limit', '50'])).events) || undefined,
    ).catch(() => false);
    assert.ok(found, 'the lock-out is the same account-and-address suspension as sign-in');
  });
});

async function metricsText(): Promise<string> {
  const res = await send('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(res.status, 200);
  return res.text;
}

describe('metrics labels from a closed list (item 7)', () => {
  test('junk URLs all count as route "other" and add no series', async () => {
    const junk = Array.from({ length: 300 }, () => randomBytes(6).toString('hex'));
    await eachAtOnce(junk, 8, (j) => send(`/interaction/x/${j}`));
    await eachAtOnce(junk.slice(0, 50), 8, (j) => send(`/${j}?q=${j}`));
    const text = await metricsText();
    for (const j of junk) assert.ok(!text.includes(j), `a junk path made a label: ${j}`);
    const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]));
    const table = allRoutes();
    for (const route of routes) assert.ok(route === 'other' || table.routes.some((r) => r.path === route), `label ${route} is not a registered route`);
    assert.ok(routes.has('other'));
  });
});

describe('addresses, readiness, account-wide locks (item 13)', () => {
  test('the client address is the rightmost X-Forwarded-For entry the trusted proxy added', async () => {
    const suspended = '203.0.113.40';
    await latchkey.operate(['suspend', '--kind', 'ip', '--subject', suspended, '--duration', '10m']);
    const post = (xff: string) => send('/token', { method: 'POST', headers: { 'x-forwarded-for': xff, 'content-type': FORM }, body: 'grant_type=client_credentials&client_id=nobody' });
    assert.equal((await post(`198.51.100.1, ${suspended}`)).status, 429, 'the proxy saw the suspended address');
    assert.notEqual((await post(`${suspended}, 198.51.100.1`)).status, 429, 'a client-written leftmost entry is not trusted');
  });

  test('/readyz says ready to anyone, and which database only to the metrics token', async () => {
    const anyone = JSON.parse((await send('/readyz')).text);
    assert.deepEqual(anyone, { status: 'ready' });
    const operator = JSON.parse((await send('/readyz', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text);
    assert.equal(operator.status, 'ready');
    assert.ok(['pglite', 'postgres'].includes(operator.database), JSON.stringify(operator));
  });

  test('an account locked by failures from many addresses: the owner gets through with a second factor, a password alone does not', async () => {
    // An owner with an authenticator app (enrolled at first sign-in: MFA_REQUIRED=admin).
    const owner = await newUser('owner', ['admin']);
    const first = await startSignIn(send, client(), '192.0.2.50');
    const enrolPage = await login(first, '192.0.2.50', owner, PASSWORD);
    assert.equal(enrolPage.status, 303);
    const enrol = await send(first.interaction, { ip: '192.0.2.50', jar: first.jar });
    const secret = /id="totp-secret"[^>]*>\s*([A-Z2-7 ]+)</.exec(enrol.text)?.[1]?.replace(/ /g, '');
    assert.ok(secret, 'the enrolment page shows the secret');
    const confirmed = await postForm(send, first, `${first.interaction}/mfa/enroll/totp`, { code: await generate({ secret }) }, '192.0.2.50');
    assert.equal(confirmed.status, 303, confirmed.text.slice(0, 300));

    const plain = await newUser('plain');
    for (const email of [owner, plain]) {
      // Six failures, one from each of six addresses: the per-address locks never trip, the account-wide one does.
      for (let i = 0; i < 6; i++) {
        const s = await startSignIn(send, client(), `192.0.2.${60 + i}`);
        assert.equal((await login(s, `192.0.2.${60 + i}`, email, `spray-${i}`)).status, 401);
      }
    }
    const plainTry = await startSignIn(send, client(), '192.0.2.90');
    assert.equal((await login(plainTry, '192.0.2.90', plain, PASSWORD)).status, 429, 'a password alone does not sign in during the lock');
    const wrongTry = await startSignIn(send, client(), '192.0.2.91');
    assert.equal((await login(wrongTry, '192.0.2.91', plain, 'wrong')).status, 429, 'a wrong password gets the same answer');

    // An operator can end the lock for the owner who cannot use a second factor.
    const unlocked = await latchkey.operate(['user', 'unlock', '--email', plain]);
    assert.ok(unlocked.suspensions_lifted >= 1, JSON.stringify(unlocked));
    const afterUnlock = await startSignIn(send, client(), '192.0.2.93');
    assert.equal((await login(afterUnlock, '192.0.2.93', plain, PASSWORD)).status, 303);

    const ownerTry = await startSignIn(send, client(), '192.0.2.92');
    const afterPassword = await login(ownerTry, '192.0.2.92', owner, PASSWORD);
    assert.equal(afterPassword.status, 303, 'the password leads on to the second factor');
    const mfaPage = await send(ownerTry.interaction, { ip: '192.0.2.92', jar: ownerTry.jar });
    assert.match(mfaPage.text, /mfa\/totp/);
    const signedIn = await postForm(send, { jar: ownerTry.jar, csrf: csrfOf(mfaPage.text) }, `${ownerTry.interaction}/mfa/totp`, { code: await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }) }, '192.0.2.92');
    assert.equal(signedIn.status, 303, signedIn.text.slice(0, 300));
    assert.match(signedIn.headers.get('location')!, /\/auth\//);
  });
});
