/**
 * Bad input gets a standard OAuth error, never a 500, and changes nothing (security rules 1–5,
 * 14): unknown clients and unregistered redirect URIs get an error page and no redirect (no
 * open redirector); PKCE is required and S256 only; no implicit or password grant; errors
 * delivered to the client carry `iss` (RFC 9207); garbage, oversized and 10 kB inputs at every
 * endpoint get a 4xx. Afterwards the registry is unchanged, the server logged no error, and
 * neither the client secret nor the password appears in its output.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';

const NOTES = 'https://notes.example.com/api';
const REDIRECT_URI = 'https://notebook.example.com/callback';
const EMAIL = 'ada@example.com';
import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const TEN_KB = 'A'.repeat(10 * 1024);
const FORM = 'application/x-www-form-urlencoded';

/** RFC 6749 §4.1.2.1 authorization errors, and §5.2 token errors. */
const AUTHORIZATION_ERRORS = ['invalid_request', 'unauthorized_client', 'access_denied', 'unsupported_response_type', 'invalid_scope', 'temporarily_unavailable'];
const TOKEN_ERRORS = ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope'];

let latchkey: Latchkey;
let web: { client_id: string; client_secret: string };
let clientsBefore: unknown;
let apisBefore: unknown;

before(async () => {
  latchkey = await startLatchkey();
  await Promise.all([
    latchkey.operate(['user', 'create', '--email', EMAIL, '--password-stdin'], { stdin: PASSWORD }),
    latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write']),
  ]);
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', REDIRECT_URI, '--scope', 'openid email notes:read notes:write']);
  [clientsBefore, apisBefore] = await Promise.all([latchkey.operate(['client', 'list']), latchkey.operate(['api', 'list'])]);
});

after(async () => {
  await latchkey?.stop();
});

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

interface Answer {
  status: number;
  location: string | null;
  type: string;
  text: string;
  headers: Headers;
}

async function send(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(new URL(path, latchkey.issuer), { redirect: 'manual', ...init });
  const text = await res.text();
  const answer = { status: res.status, location: res.headers.get('location'), type: res.headers.get('content-type') ?? '', text, headers: res.headers };
  assert.ok(res.status < 500, `${init.method ?? 'GET'} ${path.slice(0, 80)} answered ${res.status}: ${text.slice(0, 300)}`);
  return answer;
}

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  send(path, { method: 'POST', body, headers: { 'content-type': FORM, ...headers } });

const postAsWeb = (path: string, params: Record<string, string>) => post(path, new URLSearchParams(params).toString(), { authorization: basic(web.client_id, web.client_secret) });

/** A 4xx JSON error body `{ error, error_description? }`; returns the error code. */
function jsonError(answer: Answer, expectedStatus?: number): string {
  if (expectedStatus) assert.equal(answer.status, expectedStatus, answer.text);
  assert.ok(answer.status >= 400 && answer.status < 500, `expected a 4xx, got ${answer.status}`);
  assert.match(answer.type, /^application\/json/);
  const body = JSON.parse(answer.text) as { error?: unknown };
  assert.equal(typeof body.error, 'string', `no error code in ${answer.text}`);
  return body.error as string;
}

/** An error page: 400, HTML, and above all no redirect anywhere. */
function errorPage(answer: Answer): string {
  assert.equal(answer.status, 400, `expected an error page, got ${answer.status} → ${answer.location}`);
  assert.equal(answer.location, null, 'no redirect');
  assert.match(answer.type, /^text\/html/);
  return /<code>([a-z_]+)<\/code>/.exec(answer.text)?.[1] ?? '';
}

/** An error sent back to the registered redirect URI; returns its parameters. */
function redirectedError(answer: Answer): URLSearchParams {
  assert.equal(answer.status, 303, `expected a redirect, got ${answer.status}`);
  assert.ok(answer.location?.startsWith(`${REDIRECT_URI}?`) || answer.location?.startsWith(`${REDIRECT_URI}#`), `redirected to ${answer.location}, not the registered URI`);
  const url = new URL(answer.location!);
  const params = new URLSearchParams(url.search || url.hash.slice(1));
  assert.equal(params.get('iss'), latchkey.issuer, 'RFC 9207: the error response carries iss');
  return params;
}

const challenge = await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier());

function authorize(overrides: Record<string, string | undefined>): Promise<Answer> {
  const params: Record<string, string | undefined> = {
    client_id: web?.client_id,
    response_type: 'code',
    scope: 'openid notes:read',
    redirect_uri: REDIRECT_URI,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st4te',
    ...overrides,
  };
  const query = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
  return send(`/auth?${query}`);
}

describe('discovery and JWKS advertise the OAuth 2.1 profile only', () => {
  test('S256 only, code only, no implicit or password grant, iss in authorization responses', async () => {
    const meta = JSON.parse((await send('/.well-known/openid-configuration')).text);
    assert.equal(meta.issuer, latchkey.issuer);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    for (const grant of ['implicit', 'password']) assert.ok(!meta.grant_types_supported.includes(grant), `${grant} grant advertised`);
    assert.ok(meta.grant_types_supported.includes('authorization_code'));
    assert.ok(meta.token_endpoint_auth_methods_supported.includes('private_key_jwt'), 'rule 14: private_key_jwt offered');
    for (const mode of meta.response_modes_supported ?? []) assert.ok(['query', 'fragment', 'form_post', 'jwt', 'query.jwt', 'fragment.jwt', 'form_post.jwt'].includes(mode));
    assert.equal(meta.request_uri_parameter_supported, false, 'no fetching of arbitrary request_uri');
  });

  test('the JWKS holds public asymmetric signing keys only', async () => {
    const { keys } = JSON.parse((await send('/jwks')).text) as { keys: Array<Record<string, string>> };
    assert.ok(keys.length >= 2);
    for (const key of keys) {
      assert.ok(['EC', 'RSA', 'OKP'].includes(key.kty!), `unexpected key type ${key.kty}`);
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(key[secret], undefined, `private member "${secret}" published`);
      assert.ok(key.kid);
    }
  });
});

describe('authorization endpoint', () => {
  test('the well-formed request used below is accepted (control)', async () => {
    const answer = await authorize({});
    assert.equal(answer.status, 303);
    assert.match(answer.location ?? '', /^\/interaction\//);
  });

  test('an unknown client_id gets a 400 HTML page and no redirect, even with a redirect_uri', async () => {
    assert.equal(errorPage(await authorize({ client_id: 'no-such-client', redirect_uri: 'https://evil.example.com/steal' })), 'invalid_client');
    const reflected = await authorize({ client_id: '<script>alert(1)</script>' });
    errorPage(reflected);
    assert.ok(!reflected.text.includes('<script>alert(1)'), 'input is not reflected unescaped');
  });

  test('a registered client with an unregistered redirect_uri gets a 400 page, never a redirect (no open redirector)', async () => {
    const variants = [
      'https://evil.example.com/callback',
      'https://notebook.example.com/callback/',
      'https://notebook.example.com/callback?next=https://evil.example.com',
      'https://notebook.example.com/callback/../evil',
      'http://notebook.example.com/callback',
      'https://notebook.example.com:8443/callback',
      'https://notebook.example.com.evil.example/callback',
      'https://NOTEBOOK.example.com/callback',
      `https://notebook.example.com/callback?${TEN_KB}`,
    ];
    for (const redirect_uri of variants) {
      assert.equal(errorPage(await authorize({ redirect_uri })), 'invalid_redirect_uri', redirect_uri);
    }
    // A missing redirect_uri is not filled in from the registration either (OAuth 2.1).
    errorPage(await authorize({ redirect_uri: undefined }));
  });

  test('a missing code_challenge is invalid_request, delivered to the registered redirect URI with iss', async () => {
    const params = redirectedError(await authorize({ code_challenge: undefined, code_challenge_method: undefined }));
    assert.equal(params.get('error'), 'invalid_request');
    assert.equal(params.get('state'), 'st4te');
    assert.equal(redirectedError(await authorize({ code_challenge: undefined })).get('error'), 'invalid_request');
  });

  test('code_challenge_method=plain (or a malformed challenge) is invalid_request', async () => {
    assert.equal(redirectedError(await authorize({ code_challenge_method: 'plain' })).get('error'), 'invalid_request');
    assert.equal(redirectedError(await authorize({ code_challenge_method: 'plain', code_challenge: 'x'.repeat(43) })).get('error'), 'invalid_request');
    assert.equal(redirectedError(await authorize({ code_challenge: 'too-short' })).get('error'), 'invalid_request');
    assert.equal(redirectedError(await authorize({ code_challenge: TEN_KB })).get('error'), 'invalid_request');
  });

  test('response_type=token (implicit) and hybrid types are refused with an RFC 6749 error', async () => {
    for (const response_type of ['token', 'id_token token', 'code token', 'code id_token', 'none', 'bogus']) {
      const answer = await authorize({ response_type });
      const error = answer.location ? redirectedError(answer).get('error') : errorPage(answer);
      assert.ok(AUTHORIZATION_ERRORS.includes(error ?? ''), `${response_type}: "${error}" is not an RFC 6749 authorization error`);
      assert.equal(error, 'unsupported_response_type', response_type);
      assert.doesNotMatch(answer.location ?? '', /access_token=|id_token=|code=/, 'no token or code leaked');
    }
  });

  test('10 kB parameter values: refused with 4xx, or a standard error at the redirect URI; never a 5xx', async () => {
    assert.equal(errorPage(await authorize({ client_id: TEN_KB })), 'invalid_client');
    assert.equal(errorPage(await authorize({ redirect_uri: `${REDIRECT_URI}/${TEN_KB}` })), 'invalid_redirect_uri');
    assert.equal(redirectedError(await authorize({ resource: `https://notes.example.com/${TEN_KB}` })).get('error'), 'invalid_target');
    // Free-form values the client gets back (state, nonce) are not limited by OAuth; they must
    // simply not break anything. Their size is bounded by the request-line limit below.
    for (const free of [{ state: TEN_KB }, { nonce: TEN_KB }, { scope: `openid ${TEN_KB}` }]) {
      const answer = await authorize(free);
      assert.ok(answer.status === 303 || (answer.status >= 400 && answer.status < 500), `${Object.keys(free)[0]}: ${answer.status}`);
    }
    const huge = await authorize({ state: 'S'.repeat(64 * 1024) });
    assert.ok(huge.status >= 400 && huge.status < 500, `a 64 kB query: ${huge.status}`);
    assert.equal(huge.location, null);
  });
});

describe('token endpoint', () => {
  const redeem = (extra: Record<string, string>) =>
    postAsWeb('/token', { grant_type: 'authorization_code', code: 'no-such-code', redirect_uri: REDIRECT_URI, code_verifier: oidc.randomPKCECodeVerifier(), ...extra });

  test('grant_type=password and other unsupported grants → unsupported_grant_type', async () => {
    assert.equal(jsonError(await postAsWeb('/token', { grant_type: 'password', username: EMAIL, password: PASSWORD }), 400), 'unsupported_grant_type');
    assert.equal(jsonError(await postAsWeb('/token', { grant_type: 'implicit' }), 400), 'unsupported_grant_type');
    assert.equal(jsonError(await postAsWeb('/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x' }), 400), 'unsupported_grant_type');
  });

  test('a wrong client secret → 401 invalid_client (Basic and POST body alike)', async () => {
    const body = new URLSearchParams({ grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI, code_verifier: oidc.randomPKCECodeVerifier() }).toString();
    assert.equal(jsonError(await post('/token', body, { authorization: basic(web.client_id, `${web.client_secret}x`) }), 401), 'invalid_client');
    assert.equal(jsonError(await post('/token', `${body}&client_id=${web.client_id}&client_secret=wrong-${web.client_secret}`), 401), 'invalid_client');
    assert.equal(jsonError(await post('/token', body, { authorization: basic('no-such-client', web.client_secret) }), 401), 'invalid_client');
    assert.equal(jsonError(await post('/token', body)), 'invalid_request', 'no client authentication at all');
  });

  test('an unknown code → invalid_grant', async () => {
    assert.equal(jsonError(await redeem({}), 400), 'invalid_grant');
  });

  test('garbage bodies → 4xx with a JSON error', async () => {
    const auth = { authorization: basic(web.client_id, web.client_secret) };
    assert.equal(jsonError(await post('/token', '{"grant_type": "authorization_code", ', { ...auth, 'content-type': 'application/json' }), 400), 'invalid_request');
    assert.equal(jsonError(await post('/token', '%%%', auth), 400), 'invalid_request');
    assert.ok(TOKEN_ERRORS.includes(jsonError(await post('/token', 'grant_type=%E0%A4%A&code=%ZZ', auth))));
    assert.equal(jsonError(await post('/token', '\u0000\u0001\u0002', { ...auth, 'content-type': 'application/octet-stream' })), 'invalid_request');
    assert.equal(jsonError(await post('/token', 'grant_type=authorization_code', { authorization: 'Basic %%%' })), 'invalid_request');
  });

  test('a 200 kB body → 4xx with a JSON error, at every endpoint that reads one', async () => {
    const body = `grant_type=authorization_code&code=${'c'.repeat(200 * 1024)}`;
    for (const path of ['/token', '/token/introspection', '/token/revocation', '/request']) {
      assert.equal(jsonError(await post(path, body, { authorization: basic(web.client_id, web.client_secret) })), 'invalid_request', path);
    }
  });

  test('10 kB parameter values → 4xx', async () => {
    assert.equal(jsonError(await redeem({ code: TEN_KB }), 400), 'invalid_grant');
    assert.equal(jsonError(await redeem({ code_verifier: TEN_KB })), 'invalid_grant');
    assert.equal(jsonError(await redeem({ redirect_uri: `${REDIRECT_URI}?${TEN_KB}` })), 'invalid_grant');
    assert.equal(jsonError(await postAsWeb('/token', { grant_type: 'refresh_token', refresh_token: TEN_KB })), 'invalid_grant');
    assert.equal(jsonError(await postAsWeb('/token', { grant_type: TEN_KB })), 'unsupported_grant_type');
    assert.equal(jsonError(await post('/token', new URLSearchParams({ grant_type: 'authorization_code', code: 'x', client_id: TEN_KB }).toString()), 401), 'invalid_client');
    const error = jsonError(await postAsWeb('/token', { grant_type: 'client_credentials', scope: TEN_KB }));
    assert.ok(TOKEN_ERRORS.includes(error) || error === 'invalid_target', error);
  });
});

describe('introspection, revocation and PAR', () => {
  test('introspecting a garbage or 10 kB token as a legitimate client → 200 {active: false}', async () => {
    for (const token of ['garbage', TEN_KB, `${TEN_KB}.${TEN_KB}`]) {
      const answer = await postAsWeb('/token/introspection', { token });
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.text), { active: false });
    }
    // A JWT-shaped token that is not one of ours is inactive too (RFC 7662; issue 15).
    const jwtShaped = await postAsWeb('/token/introspection', { token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' });
    assert.equal(jwtShaped.status, 200);
    assert.deepEqual(JSON.parse(jwtShaped.text), { active: false });
  });

  test('revoking a garbage or 10 kB token → 200 (RFC 7009 §2.2)', async () => {
    for (const token of ['garbage', TEN_KB]) {
      const answer = await postAsWeb('/token/revocation', { token, token_type_hint: 'access_token' });
      assert.equal(answer.status, 200);
    }
    assert.ok([200, 400].includes((await postAsWeb('/token/revocation', { token: 'x', token_type_hint: TEN_KB })).status));
  });

  test('both demand client authentication (rule 14)', async () => {
    for (const path of ['/token/introspection', '/token/revocation', '/request']) {
      const error = jsonError(await post(path, 'token=garbage'));
      assert.ok(['invalid_request', 'invalid_client'].includes(error), `${path}: ${error}`);
      assert.equal(jsonError(await post(path, 'token=garbage', { authorization: basic(web.client_id, 'wrong') }), 401), 'invalid_client');
    }
  });

  test('garbage bodies → 4xx JSON', async () => {
    const auth = { authorization: basic(web.client_id, web.client_secret) };
    for (const path of ['/token/introspection', '/token/revocation']) {
      assert.equal(jsonError(await post(path, '%%%', auth), 400), 'invalid_request', path);
      assert.equal(jsonError(await post(path, '{', { ...auth, 'content-type': 'application/json' }), 400), 'invalid_request', path);
    }
  });

  test('PAR with a 10 kB or unregistered redirect_uri → 4xx', async () => {
    const par = (extra: Record<string, string>) =>
      postAsWeb('/request', { client_id: web.client_id, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: 'S256', ...extra });
    assert.equal((await par({})).status, 201, 'control: a good PAR request is accepted');
    // oidc-provider answers a PAR redirect_uri mismatch with invalid_request (RFC 9126 §2.3).
    for (const redirect_uri of [`${REDIRECT_URI}?${TEN_KB}`, 'https://evil.example.com/']) {
      const answer = await par({ redirect_uri });
      assert.ok(['invalid_request', 'invalid_redirect_uri'].includes(jsonError(answer, 400)));
      assert.match(JSON.parse(answer.text).error_description, /redirect_uri/);
    }
    assert.equal(jsonError(await par({ code_challenge_method: 'plain' })), 'invalid_request');
  });
});

/** Starts a real authorization request and opens the sign-in page: the interaction path, cookies and CSRF token. */
async function openLoginPage(): Promise<{ path: string; cookie: string; csrf: string }> {
  const start = await authorize({});
  assert.equal(start.status, 303);
  const cookie = start.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const page = await send(start.location!, { headers: { cookie } });
  assert.equal(page.status, 200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1];
  assert.ok(csrf);
  return { path: start.location!, cookie, csrf };
}

describe('interaction (sign-in) form', () => {
  test('10 kB field values → 4xx, and the password is never echoed back', async () => {
    const { path, cookie, csrf } = await openLoginPage();
    const login = (fields: Record<string, string>) => post(`${path}/login`, new URLSearchParams(fields).toString(), { cookie });
    const longEmail = await login({ csrf, email: TEN_KB, password: PASSWORD });
    assert.equal(longEmail.status, 401);
    assert.ok(!longEmail.text.includes(PASSWORD));
    assert.ok(!longEmail.text.includes(TEN_KB), 'the 10 kB e-mail is not reflected whole');
    const longPassword = await login({ csrf, email: EMAIL, password: TEN_KB });
    assert.equal(longPassword.status, 401);
    assert.match(longPassword.text, /Incorrect e-mail address or password/);
    assert.equal((await login({ csrf: TEN_KB, email: EMAIL, password: PASSWORD })).status, 403);
    assert.equal((await login({ csrf, email: EMAIL, password: PASSWORD, extra: TEN_KB })).status < 500, true);
  });

  test('garbage and oversized bodies → 4xx; a foreign interaction id → 400', async () => {
    const { path, cookie } = await openLoginPage();
    // A broken percent-escape is refused at the edge, before the CSRF check.
    assert.equal((await post(`${path}/login`, '%%%', { cookie })).status, 400);
    assert.equal((await post(`${path}/login`, 'csrf=a&email=%00', { cookie })).status, 400);
    assert.equal((await post(`${path}/login`, '{', { cookie, 'content-type': 'application/json' })).status, 403);
    const tooLarge = await post(`${path}/login`, `password=${'p'.repeat(200 * 1024)}`, { cookie });
    assert.equal(tooLarge.status, 413);
    // Refused before it is read, then read and dropped (up to 1 MiB) so the client gets the 413
    // rather than a broken pipe; a body left unread would close the connection instead.
    assert.ok(tooLarge.headers.get('connection') !== 'keep-alive' || tooLarge.status === 413);
    // Another interaction's cookie with a forged path: the CSRF token (bound to the path's uid) fails.
    assert.equal((await post(`/interaction/${TEN_KB}/login`, `csrf=x&email=${EMAIL}`, { cookie })).status, 403);
    assert.equal((await post(`/interaction/${TEN_KB}/login`, `csrf=x&email=${EMAIL}`)).status, 400);
    assert.equal((await send(`/interaction/${TEN_KB}`)).status, 400);
    // The page still works afterwards, and the right password still signs in (303 onwards).
    const fresh = await openLoginPage();
    const ok = await post(`${fresh.path}/login`, new URLSearchParams({ csrf: fresh.csrf, email: EMAIL, password: PASSWORD }).toString(), { cookie: fresh.cookie });
    assert.equal(ok.status, 303);
  });
});

describe('hostile text is refused at the edge with a 4xx (issue 11, item 10)', () => {
  const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

  test('NUL, control characters and broken escapes in /auth parameters: 400 invalid_request, JSON for API clients, a page for browsers', async () => {
    for (const name of ['state', 'nonce', 'login_hint', 'ui_locales', 'acr_values', 'claims_locales', 'client_id', 'redirect_uri', 'scope']) {
      const answer = await authorize({ [name]: 'a\u0000b' });
      assert.equal(jsonError(answer, 400), 'invalid_request', name);
      assert.match(JSON.parse(answer.text).error_description, new RegExp(`"${name}" contains a control character`));
      assert.equal(answer.location, null, 'refused, never redirected');
    }
    assert.equal(jsonError(await authorize({ state: 'a\u0007b' }), 400), 'invalid_request');
    assert.equal(jsonError(await send(`/auth?client_id=${web.client_id}&state=%E0%A4%A`), 400), 'invalid_request');
    assert.equal(jsonError(await send(`/auth?client_id=${web.client_id}&state=%ED%A0%80`), 400), 'invalid_request', 'an encoded lone surrogate is not UTF-8');
    assert.equal(errorPage(await send(`/auth?client_id=${web.client_id}&state=a%00b`, { headers: HTML })), 'invalid_request');
  });

  test('a NUL or broken escape in a path: 400 on every router and on oidc-provider', async () => {
    for (const path of ['/developer/apps/x%00y', '/admin/api/clients/a%00b', '/interaction/a%00b', '/account/%00', '/token%00', '/jwks/%ZZ', '/.well-known/openid-configuration%00']) {
      assert.equal(jsonError(await send(path), 400), 'invalid_request', path);
    }
    assert.equal(errorPage(await send('/developer/apps/x%00y', { headers: HTML })), 'invalid_request');
  });

  test('oidc-provider bodies with a NUL or a lone surrogate: 400 invalid_request before anything is stored', async () => {
    const auth = { authorization: basic(web.client_id, web.client_secret) };
    const par = new URLSearchParams({ response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: 'S256', state: 'a\u0000b' });
    assert.equal(jsonError(await post('/request', par.toString(), auth), 400), 'invalid_request', 'PAR would have stored it and /auth answered 500');
    for (const body of ['grant_type=authorization_code&code=%00', 'grant_type=refresh_token&refresh_token=a%00', 'client_id=%00&grant_type=client_credentials']) {
      assert.equal(jsonError(await post('/token', body, auth), 400), 'invalid_request', body);
    }
    for (const path of ['/token/introspection', '/token/revocation']) assert.equal(jsonError(await post(path, 'token=a%00b', auth), 400), 'invalid_request', path);
    const json = { 'content-type': 'application/json' };
    assert.equal(jsonError(await post('/reg', JSON.stringify({ redirect_uris: [REDIRECT_URI], client_name: 'a\u0000b' }), json), 400), 'invalid_request');
    assert.equal(jsonError(await post('/reg', '{"redirect_uris":["https://a.example.com/cb"],"client_name":"\\ud800"}', json), 400), 'invalid_request', 'a lone surrogate');
    assert.equal(jsonError(await post('/reg', JSON.stringify({ ['a\u0000']: 1 }), json), 400), 'invalid_request', 'a member name');
    assert.equal(jsonError(await post('/token', Buffer.from([0x67, 0x3d, 0xff, 0xfe]) as unknown as string, auth), 400), 'invalid_request', 'raw bytes that are not UTF-8');
  });

  test('forms over 16 KiB to every interaction step: 413 (was 500 on confirm, abort and mfa/continue)', async () => {
    const { path, cookie, csrf } = await openLoginPage();
    for (const step of ['login', 'confirm', 'abort', 'mfa/continue', 'mfa/totp', 'mfa/recovery', 'mfa/enroll/totp']) {
      const answer = await post(`${path}/${step}`, `csrf=${csrf}&pad=${'x'.repeat(20 * 1024)}`, { cookie });
      assert.equal(answer.status, 413, step);
    }
    const huge = await post(`${path}/confirm`, `csrf=${csrf}&pad=${'x'.repeat(200 * 1024)}`, { cookie });
    assert.equal(huge.status, 413);
    assert.equal(jsonError(await post('/token', `grant_type=x&pad=${'x'.repeat(100 * 1024)}`), 413), 'invalid_request', 'over the edge limit: 413 before oidc-provider');
  });
});

describe('afterwards', () => {
  test('nothing changed: the same clients and APIs', async () => {
    const [clients, apis] = await Promise.all([latchkey.operate(['client', 'list']), latchkey.operate(['api', 'list'])]);
    assert.deepEqual(clients, clientsBefore);
    assert.deepEqual(apis, apisBefore);
  });

  test('the server logged no error, and neither the client secret nor the password', () => {
    const log = latchkey.output();
    assert.match(log, /Latchkey is listening/);
    const errors = log.split('\n').filter((line) => /"level":(50|60)/.test(line));
    assert.deepEqual(errors, [], 'no 5xx or unhandled error was logged');
    assert.ok(!log.includes(web.client_secret), 'client secret in the server output');
    assert.ok(!log.includes(PASSWORD), 'password in the server output');
  });
});
