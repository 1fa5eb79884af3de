/**
 * One hostile request never costs the audit log another event (issue 11, item 3; security rule
 * 37). Token requests with a NUL in client_id — in the body (the issue's reproduction: on
 * 7cc3be5 its token.failed event made PostgreSQL refuse the whole 250 ms batch) and through
 * HTTP Basic — race a valid code redemption: the valid token.issued is in the audit log
 * afterwards, so are the failures that reached the token endpoint, and the server logged no
 * audit write failure. Body values with a NUL are now refused at the edge (src/http/edge-input.ts);
 * what would still reach the table is made storable by the audit writer, and a batch it cannot
 * write goes row by row — both proven against a real database in test/unit/audit-log.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as oidc from 'openid-client';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { Jar } from '../support/http-session.ts';

const REDIRECT_URI = 'https://notebook.example.com/callback';
const EMAIL = 'audit@example.com';
import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const FORM = 'application/x-www-form-urlencoded';

let latchkey: Latchkey;
let web: { client_id: string; client_secret: string };

before(async () => {
  latchkey = await startLatchkey();
  await latchkey.operate(['user', 'create', '--email', EMAIL, '--password-stdin'], { stdin: PASSWORD });
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', REDIRECT_URI, '--scope', 'openid email']);
});

after(async () => {
  await latchkey?.stop();
});

/** HTTP Basic as RFC 6749 §2.3.1 has it: each part form-urlencoded, so `%00` is a NUL once decoded. */
const basicEncoded = (encodedId: string, encodedSecret: string) => `Basic ${Buffer.from(`${encodedId}:${encodedSecret}`).toString('base64')}`;
const basic = (id: string, secret: string) => basicEncoded(encodeURIComponent(id), encodeURIComponent(secret));

async function send(path: string, init: RequestInit & { jar?: Jar } = {}) {
  const headers = new Headers(init.headers);
  if (init.jar) headers.set('cookie', init.jar.header());
  const res = await fetch(new URL(path, latchkey.issuer), { redirect: 'manual', ...init, headers });
  init.jar?.store(res);
  const text = await res.text();
  assert.ok(res.status < 500, `${init.method ?? 'GET'} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return { status: res.status, location: res.headers.get('location'), text };
}

/** Signs in and consents over plain HTTP (no browser): the authorization code and its verifier. */
async function authorizationCode(): Promise<{ code: string; verifier: string }> {
  const jar = new Jar();
  const verifier = oidc.randomPKCECodeVerifier();
  const query = new URLSearchParams({
    client_id: web.client_id, response_type: 'code', scope: 'openid email', redirect_uri: REDIRECT_URI,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: oidc.randomState(),
  });
  let next = (await send(`/auth?${query}`, { jar })).location!;
  for (let hops = 0; hops < 10; hops++) {
    if (next.startsWith(REDIRECT_URI)) {
      const code = new URL(next).searchParams.get('code');
      assert.ok(code, `no code in ${next}`);
      return { code, verifier };
    }
    const path = new URL(next, latchkey.issuer).pathname + new URL(next, latchkey.issuer).search;
    const page = await send(path, { jar });
    if (page.location) {
      next = page.location;
      continue;
    }
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
    assert.ok(csrf, `no form on ${path}: ${page.text.slice(0, 200)}`);
    const action = /action="[^"]*\/(login|confirm)"/.exec(page.text)?.[1];
    assert.ok(action, `neither sign-in nor consent on ${path}`);
    const fields: Record<string, string> = action === 'login' ? { csrf, email: EMAIL, password: PASSWORD } : { csrf };
    const posted = await send(`${path}/${action}`, { method: 'POST', jar, headers: { 'content-type': FORM }, body: new URLSearchParams(fields).toString() });
    assert.equal(posted.status, 303, posted.text.slice(0, 300));
    next = posted.location!;
  }
  throw new Error('the sign-in did not reach the redirect URI');
}

test('hostile token requests in the same audit batch as a valid one: the valid token.issued and the failures are all recorded', async () => {
  const { code, verifier } = await authorizationCode();
  const redeem = send('/token', {
    method: 'POST',
    headers: { 'content-type': FORM, authorization: basic(web.client_id, web.client_secret) },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }).toString(),
  });
  const tokenRequest = (body: Record<string, string>, authorization?: string) =>
    send('/token', {
      method: 'POST',
      headers: { 'content-type': FORM, ...(authorization ? { authorization } : {}) },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI, code_verifier: verifier, ...body }).toString(),
    });
  const inBody = ['\u0000', 'a\u0000b', `${web.client_id}\u0000`].map((id) => tokenRequest({ client_id: id, client_secret: 'x' }));
  const inBasic = ['%00', 'a%00b', `${encodeURIComponent(web.client_id)}%00`].map((id) => tokenRequest({}, basicEncoded(id, 'x')));
  const [issued, ...hostile] = await Promise.all([redeem, ...inBody, ...inBasic]);
  assert.equal(issued!.status, 200, issued!.text);
  for (const answer of hostile.slice(0, 3)) {
    assert.equal(answer.status, 400, answer.text);
    assert.equal(JSON.parse(answer.text).error, 'invalid_request');
  }
  for (const answer of hostile.slice(3)) assert.ok(answer.status === 400 || answer.status === 401, `Basic with a NUL: ${answer.status} ${answer.text}`);

  // The audit writer flushes every 250 ms; give it a few rounds.
  let events: Array<{ type: string; clientId: string | null; details: { error?: string } }> = [];
  for (let i = 0; i < 20; i++) {
    events = (await latchkey.operate(['audit', '--type', 'token.*', '--limit', '50'])).events;
    if (events.some((e) => e.type === 'token.issued') && events.filter((e) => e.type === 'token.failed').length >= 3) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(events.some((e) => e.type === 'token.issued' && e.clientId === web.client_id), `the valid token.issued is missing: ${JSON.stringify(events)}`);
  const failed = events.filter((e) => e.type === 'token.failed');
  assert.equal(failed.length, 3, `the three Basic requests reached the token endpoint and are recorded: ${JSON.stringify(failed)}`);
  for (const event of failed) assert.ok(!JSON.stringify(event).includes('\\u0000'), 'nothing unstorable was stored');

  const log = latchkey.output();
  assert.doesNotMatch(log, /could not write (audit events|an audit event)/);
  assert.doesNotMatch(log, /unhandled error|oidc-provider server error/);
});
