/**
 * Security operations (issue 6): password guessing is throttled and locks the (account, IP)
 * pair with a growing delay while the victim elsewhere still signs in; a token-endpoint flood
 * gets 429s and a burst of invalid_client suspends the client until an admin lifts it; every
 * event lands in the audit log (CLI and admin API, paged) and no secret appears there or in the
 * server log; /metrics is protected and its counters move; /healthz and /readyz; headers on
 * pages; CSRF refused; a fast-check fuzz pass over the OAuth endpoints and forms.
 * The server trusts X-Forwarded-For here so each scenario can play its own IP address.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import * as oidc from 'openid-client';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { Jar, basic } from '../support/http-session.ts';
import { waitFor } from '../support/wait.ts';

const REDIRECT_URI = 'https://notebook.example.com/callback';
const VICTIM = 'victim@example.com';
import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const METRICS_TOKEN = randomBytes(24).toString('base64url');
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const FORM = 'application/x-www-form-urlencoded';

let latchkey: Latchkey;
let web: { client_id: string; client_secret: string };
/** Every secret the test used, for the final scan. */
const secrets: string[] = [PASSWORD, METRICS_TOKEN, ADMIN_TOKEN];

before(async () => {
  latchkey = await startLatchkey({
    TRUST_PROXY: 'true',
    METRICS_TOKEN,
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    LOCKOUT_ACCOUNT_IP_FAILURES: '3/900',
    // Long enough that the second (doubled) lock outlasts two CLI round trips on a busy machine;
    // the test waits out the first.
    LOCKOUT_BASE_SECONDS: '3',
    LOCKOUT_MAX_SECONDS: '60',
    RATE_LIMIT_TOKEN_IP: '15/60',
    RATE_LIMIT_SIGNIN_ACCOUNT: '100/60',
    LOCKOUT_CLIENT_FAILURES: '6/300',
  });
  await latchkey.operate(['user', 'create', '--email', VICTIM, '--password-stdin'], { stdin: PASSWORD });
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', REDIRECT_URI, '--scope', 'openid email']);
  secrets.push(web.client_secret);
});

after(async () => {
  await latchkey?.stop();
});

async function send(path: string, init: RequestInit & { ip?: string; jar?: Jar } = {}) {
  const headers = new Headers(init.headers);
  if (init.ip) headers.set('x-forwarded-for', init.ip);
  if (init.jar) headers.set('cookie', init.jar.header());
  const res = await fetch(new URL(path, latchkey.issuer), { redirect: 'manual', ...init, headers });
  init.jar?.store(res);
  const text = await res.text();
  assert.ok(res.status < 500, `${init.method ?? 'GET'} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return { status: res.status, headers: res.headers, text };
}

/** Starts a sign-in: returns the interaction path, its CSRF token and the cookie jar. */
async function startSignIn(ip: string) {
  const jar = new Jar();
  const verifier = oidc.randomPKCECodeVerifier();
  const params = new URLSearchParams({
    client_id: web.client_id,
    response_type: 'code',
    scope: 'openid email',
    redirect_uri: REDIRECT_URI,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: oidc.randomState(),
  });
  const auth = await send(`/auth?${params}`, { ip, jar });
  assert.equal(auth.status, 303, auth.text);
  const interaction = new URL(auth.headers.get('location')!, latchkey.issuer).pathname;
  const page = await send(interaction, { ip, jar });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
  return { interaction, csrf, jar, page };
}

const login = (s: Awaited<ReturnType<typeof startSignIn>>, ip: string, email: string, password: string) =>
  send(`${s.interaction}/login`, { method: 'POST', ip, jar: s.jar, headers: { 'content-type': FORM }, body: new URLSearchParams({ csrf: s.csrf, email, password }).toString() });

const tokenRequest = (ip: string, secret: string, extra: Record<string, string> = {}) =>
  send('/token', {
    method: 'POST',
    ip,
    headers: { 'content-type': FORM, authorization: basic(web.client_id, secret) },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: 'not-a-code', redirect_uri: REDIRECT_URI, code_verifier: 'x'.repeat(43), ...extra }).toString(),
  });

async function metricsText(): Promise<string> {
  const res = await send('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(res.status, 200);
  return res.text;
}

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (want.every((w) => line.includes(w))) sum += Number(line.split(' ').pop());
  }
  return sum;
}

/** Until the admin API no longer lists a suspension as active: a few seconds past its Retry-After at most. */
const lockEnded = (kind: string, subject: string, retryAfterSeconds: number) =>
  waitFor(`the ${kind} lock on ${subject} to end (Retry-After ${retryAfterSeconds} s)`, async () => {
    const { suspensions } = (await adminApi('GET', '/admin/api/security/suspensions')).body as { suspensions: Array<{ kind: string; subject: string }> };
    return suspensions.some((x) => x.kind === kind && x.subject === subject) ? undefined : true;
  }, { timeoutMs: (retryAfterSeconds + 5) * 1000 });

describe('pages', () => {
  test('signing in to the account page names it for people, never by its internal client id', async () => {
    const jar = new Jar();
    let res = await send('/account', { ip: '10.0.0.9', jar });
    for (let hop = 0; hop < 4 && res.status >= 300 && res.status < 400; hop++) {
      const next = new URL(res.headers.get('location')!, latchkey.issuer);
      res = await send(next.pathname + next.search, { ip: '10.0.0.9', jar });
    }
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.match(res.text, /to continue to <strong>your account<\/strong>/);
    assert.doesNotMatch(res.text, /latchkey-account/);
  });

  test('carry CSP with a fresh nonce, no framing, no caching, no referrer', async () => {
    const a = await startSignIn('10.0.0.1');
    const b = await startSignIn('10.0.0.1');
    const csp = a.page.headers.get('content-security-policy')!;
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self' 'nonce-[A-Za-z0-9+/=]{20,}'/);
    assert.notEqual(csp, b.page.headers.get('content-security-policy'), 'a nonce per request');
    assert.equal(a.page.headers.get('cache-control'), 'no-store');
    assert.equal(a.page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(a.page.headers.get('x-frame-options'), 'DENY');
    const setCookie = (await fetch(new URL('/auth?client_id=x', latchkey.issuer), { redirect: 'manual' })).headers.getSetCookie().join('\n');
    for (const c of setCookie.split('\n').filter(Boolean)) assert.match(c, /httponly/i);
  });

  test('a forged or missing CSRF token is refused and signs nobody in', async () => {
    const s = await startSignIn('10.0.0.2');
    for (const csrf of ['', 'forged', s.csrf.slice(0, -2) + 'AA']) {
      const res = await send(`${s.interaction}/login`, { method: 'POST', ip: '10.0.0.2', jar: s.jar, headers: { 'content-type': FORM }, body: new URLSearchParams({ csrf, email: VICTIM, password: PASSWORD }).toString() });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('location'), null);
    }
  });
});

describe('password guessing', () => {
  test('locks the account for the guessing address with a growing delay; the victim elsewhere signs in; an admin lifts it', async () => {
    const attacker = '203.0.113.7';
    const s = await startSignIn(attacker);
    for (let i = 0; i < 3; i++) assert.equal((await login(s, attacker, VICTIM, `guess-${i}`)).status, 401);
    const locked = await login(s, attacker, VICTIM, 'guess-3');
    assert.equal(locked.status, 429);
    const firstWait = Number(locked.headers.get('retry-after'));
    assert.ok(firstWait >= 2 && firstWait <= 3, `first lock ${firstWait}s`);
    // Even the right password is refused from the locked address while the lock lasts.
    assert.equal((await login(s, attacker, VICTIM, PASSWORD)).status, 429);

    // The victim, from their own address, is not locked out.
    const victim = await startSignIn('198.51.100.20');
    const ok = await login(victim, '198.51.100.20', VICTIM, PASSWORD);
    assert.equal(ok.status, 303, ok.text.slice(0, 200));

    // After the lock, three more failures lock again, for twice as long.
    await lockEnded('account-ip', `${VICTIM}|${attacker}`, firstWait);
    const s2 = await startSignIn(attacker);
    for (let i = 0; i < 3; i++) assert.equal((await login(s2, attacker, VICTIM, `again-${i}`)).status, 401);
    const second = await login(s2, attacker, VICTIM, 'again-3');
    assert.equal(second.status, 429);
    assert.ok(Number(second.headers.get('retry-after')) > firstWait, 'the second lock lasts longer');

    const active = await latchkey.operate(['suspensions', 'list']);
    const lock = active.find((x: { kind: string; subject: string }) => x.kind === 'account-ip' && x.subject === `${VICTIM}|${attacker}`);
    assert.ok(lock, JSON.stringify(active));
    assert.equal(lock.level, 2);
    assert.deepEqual(await latchkey.operate(['suspensions', 'lift', '--id', lock.id]), { lifted: 1 });
    const s3 = await startSignIn(attacker);
    assert.equal((await login(s3, attacker, VICTIM, PASSWORD)).status, 303);
  });
});

describe('token endpoint', () => {
  test('a flood from one address gets 429 with Retry-After and the OAuth JSON shape', async () => {
    const ip = '192.0.2.50';
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      const res = await send('/token/introspection', { method: 'POST', ip, headers: { 'content-type': FORM }, body: 'token=abc' });
      if (res.status === 429) refused = res;
    }
    assert.ok(refused, 'no 429 within 20 requests');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.match(refused.headers.get('content-type')!, /^application\/json/);
    const body = JSON.parse(refused.text);
    assert.equal(body.error, 'temporarily_unavailable');
    assert.equal(typeof body.error_description, 'string');
    assert.ok(metricValue(await metricsText(), 'latchkey_rate_limit_hits_total', { limit: 'token-ip' }) >= 1);
  });

  test('a burst of invalid_client from one address locks that address out for this client, until an admin lifts it', async () => {
    // From one address: the (client, address) pair trips; other addresses are untouched (test/e2e/guards.test.ts).
    const ip = '192.0.2.100';
    for (let i = 0; i < 6; i++) {
      const res = await tokenRequest(ip, `wrong-secret-${i}`);
      assert.equal(JSON.parse(res.text).error, 'invalid_client');
    }
    const refused = await tokenRequest(ip, web.client_secret, { grant_type: 'client_credentials', code: '' });
    assert.equal(refused.status, 429);
    assert.equal(JSON.parse(refused.text).error, 'temporarily_unavailable');

    const subject = `${web.client_id}|${ip}`;
    const list = await adminApi('GET', '/admin/api/security/suspensions');
    assert.ok(list.body.suspensions.find((x: { kind: string; subject: string }) => x.kind === 'client-ip' && x.subject === subject));
    const lifted = await adminApi('POST', '/admin/api/security/suspensions/lift', { kind: 'client-ip', subject });
    assert.deepEqual(lifted.body, { lifted: 1 });
    const after = await tokenRequest(ip, web.client_secret);
    assert.equal(JSON.parse(after.text).error, 'invalid_grant', 'authenticated again: only the fake code is wrong');
  });

  test('an admin suspends an address by hand through the CLI, and lifts it', async () => {
    await latchkey.cliJson(['suspend', '--kind', 'ip', '--subject', '192.0.2.200', '--duration', '10m', '--reason', 'test']);
    const res = await tokenRequest('192.0.2.200', web.client_secret);
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) > 500);
    assert.deepEqual(await latchkey.cliJson(['suspensions', 'lift', '--kind', 'ip', '--subject', '192.0.2.200']), { lifted: 1 });
    assert.equal((await tokenRequest('192.0.2.200', web.client_secret)).status, 400);
  });
});

async function adminApi(method: string, path: string, body?: unknown, token = ADMIN_TOKEN) {
  const res = await send(path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: JSON.parse(res.text) };
}

describe('health and metrics', () => {
  test('/healthz and /readyz answer; /metrics needs its token', async () => {
    assert.equal((await send('/healthz')).status, 200);
    const ready = await send('/readyz');
    assert.equal(ready.status, 200);
    assert.equal(JSON.parse(ready.text).status, 'ready');
    assert.equal((await send('/metrics')).status, 401);
    assert.equal((await send('/metrics', { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
  });

  test('counters move: requests by route, tokens by grant type, sign-in outcomes', async () => {
    // Machine tokens need an API that offers a machine scope; an operator-created client gets it directly.
    await latchkey.operate(['api', 'create', '--name', 'Reports', '--audience', 'https://reports.example.com', '--scope', 'reports:read=read', '--machine-scope', 'reports:read']);
    const service = await latchkey.operate(['client', 'create', '--name', 'Batch', '--type', 'service', '--scope', 'reports:read']);
    secrets.push(service.client_secret);
    const before = await metricsText();
    const res = await send('/token', { method: 'POST', ip: '10.1.1.1', headers: { 'content-type': FORM, authorization: basic(service.client_id, service.client_secret) }, body: 'grant_type=client_credentials&scope=reports:read' });
    assert.equal(res.status, 200, res.text);
    secrets.push(JSON.parse(res.text).access_token);
    const afterText = await metricsText();
    assert.equal(metricValue(afterText, 'latchkey_tokens_issued_total', { grant_type: 'client_credentials' }) - metricValue(before, 'latchkey_tokens_issued_total', { grant_type: 'client_credentials' }), 1);
    assert.ok(metricValue(afterText, 'latchkey_http_requests_total', { route: '/token', status: '200' }) >= 1);
    assert.ok(metricValue(afterText, 'latchkey_signins_total', { outcome: 'failure' }) >= 3);
    assert.ok(metricValue(afterText, 'latchkey_suspensions_total', { kind: 'client-ip' }) >= 1);
    assert.ok(metricValue(afterText, 'latchkey_http_request_duration_seconds_count', { route: '/token' }) >= 1);
  });
});

describe('fuzz', () => {
  test('random and hostile input to the OAuth endpoints and forms: no 5xx, nothing changes', async () => {
    const clientsBefore = await latchkey.operate(['client', 'list']);
    const s = await startSignIn('10.9.9.9');
    const hostile = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('%00', '\u0000', '../../etc/passwd', '<script>alert(1)</script>', "' OR 1=1 --", 'A'.repeat(5000), '{"a":', '\ud800', '%E0%A4%A', 'null', '[]'),
    );
    const params = fc.dictionary(fc.constantFrom('grant_type', 'code', 'client_id', 'client_secret', 'redirect_uri', 'token', 'refresh_token', 'scope', 'resource', 'email', 'password', 'csrf', 'client_assertion', 'request'), hostile, { maxKeys: 6 });
    const target = fc.constantFrom('/token', '/token/introspection', '/token/revocation', '/request', '/reg', `${s.interaction}/login`, `${s.interaction}/confirm`, `${s.interaction}/abort`, '/auth');
    await fc.assert(
      fc.asyncProperty(target, params, fc.constantFrom(FORM, 'application/json', 'text/plain'), fc.boolean(), async (path, p, type, withAuth) => {
        const body = type === 'application/json' ? JSON.stringify(p) : new URLSearchParams(p as Record<string, string>).toString();
        const headers: Record<string, string> = { 'content-type': type };
        if (withAuth) headers.authorization = basic(web.client_id, Buffer.from(String(p.client_secret ?? 'x')).toString());
        const ip = `10.50.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
        const res = path === '/auth' ? await send(`/auth?${new URLSearchParams(p as Record<string, string>)}`, { ip }) : await send(path, { method: 'POST', ip, jar: s.jar, headers, body });
        assert.ok(res.status < 500);
      }),
      { numRuns: 150 },
    );
    assert.deepEqual(await latchkey.operate(['client', 'list']), clientsBefore);
  });
});

describe('audit log', () => {
  test('records each event type, pages through the CLI and the admin API, and holds no secret (nor does the log)', async () => {
    const all: Array<{ type: string; id: string }> = [];
    let cursor: string | undefined;
    do {
      const page = await latchkey.cliJson(['audit', '--limit', '25', ...(cursor ? ['--cursor', cursor] : [])]);
      all.push(...page.events);
      cursor = page.next;
    } while (cursor);
    const types = new Set(all.map((e) => e.type));
    for (const type of ['signin.failure', 'signin.success', 'signin.locked', 'suspension.created', 'suspension.lifted', 'token.issued', 'token.failed', 'admin.user.create', 'admin.client.create', 'admin.suspensions.add']) {
      assert.ok(types.has(type), `no ${type} in ${[...types].join(', ')}`);
    }
    assert.equal(new Set(all.map((e) => e.id)).size, all.length, 'pages do not overlap');

    const failures = await latchkey.cliJson(['audit', '--type', 'signin.failure', '--since', '1h']);
    assert.ok(failures.events.length >= 6);
    assert.ok(failures.events.every((e: { type: string; ip: string; requestId: string }) => e.type === 'signin.failure' && e.ip && e.requestId));
    const byClient = await adminApi('GET', `/admin/api/security/audit?client=${encodeURIComponent(web.client_id)}&type=token.*&limit=5`);
    assert.equal(byClient.status, 200);
    assert.ok(byClient.body.events.length >= 1 && byClient.body.events.every((e: { clientId: string }) => e.clientId === web.client_id));
    assert.equal((await adminApi('GET', '/admin/api/security/audit', undefined, 'not-the-admin-token-not-the-admin-token')).status, 401);

    const dump = JSON.stringify(all) + JSON.stringify(byClient.body);
    const log = latchkey.output();
    for (const secret of secrets) {
      assert.ok(!dump.includes(secret), 'a secret is in the audit log');
      assert.ok(!log.includes(secret), 'a secret is in the server log');
    }
    for (const guess of ['guess-0', 'again-1', 'wrong-secret-3']) {
      assert.ok(!dump.includes(guess) && !log.includes(guess), `a guessed credential (${guess}) was recorded`);
    }
  });
});
