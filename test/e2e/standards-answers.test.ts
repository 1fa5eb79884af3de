/**
 * Standard answers clients rely on (issue 15): a challenge with every 401 of the client
 * endpoints (RFC 9110 §11.6.1, RFC 6749 §5.2), unauthorized_client for a grant type the client
 * is not registered for, RFC 7662 introspection of JWT access tokens (revocation through the
 * Token Status List included), invalid_scope for a machine scope the client was not given.
 * Checked with openid-client and raw HTTP here, and with an independent Python client (Debian's
 * authlib, requests and PyJWT: test/interop/standards_answers.py).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { CLOCK_TOLERANCE } from '../../src/config/clock-tolerance.ts';
import { authorizeWithCookies } from '../support/cookie-flow.ts';
import { discover } from '../support/flow.ts';
import { basic, FORM } from '../support/http-session.ts';
import { repoRoot, startLatchkey, type Latchkey } from '../support/latchkey.ts';

const REPORTS = 'https://reports.example.com/api';
const SHORT_LIVED = 'https://ticker.example.com/api';
const REDIRECT = 'http://127.0.0.1:9/callback';
import { createTestUser, TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const PYTHON = '/usr/bin/python3';

interface Credentials {
  client_id: string;
  client_secret: string;
}
interface Api {
  audience: string;
  introspection_client_id: string;
  introspection_client_secret: string;
}

let latchkey: Latchkey;
let reports: Api;
let ticker: Api;
let service: Credentials;
let otherService: Credentials;
let web: Credentials;
/** A 30-second token issued at the start; the last test sees it expire. */
let shortLived: { token: string; exp: number };

const endpoint = (path: string) => `${latchkey.issuer}${path}`;
const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(endpoint(path), { method: 'POST', headers: { 'content-type': FORM, ...headers }, body: new URLSearchParams(form) });
const introspectionOf = (api: Api): Credentials => ({ client_id: api.introspection_client_id, client_secret: api.introspection_client_secret });

/** RFC 7662 introspection, authenticated with client_secret_basic. */
async function introspect(caller: Credentials, token: string, extra: Record<string, string> = {}) {
  const res = await post('/token/introspection', { token, ...extra }, { authorization: basic(caller.client_id, caller.client_secret) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function machineToken(client: Credentials, parameters: Record<string, string>, options?: oidc.DPoPOptions) {
  const config = await discover(latchkey.issuer, client.client_id, client.client_secret);
  return oidc.clientCredentialsGrant(config, parameters, options);
}

/** The OAuth error openid-client reports for a refused token request. */
async function refusal(call: () => Promise<unknown>): Promise<{ error: string; status: number }> {
  try {
    await call();
  } catch (error) {
    if (error instanceof oidc.ResponseBodyError) return { error: error.error, status: error.status };
    throw error;
  }
  assert.fail('expected the token endpoint to refuse');
}

/** A user's authorization-code flow without a browser: tokens for `resource`, and the code (for a replay). */
async function userTokens(email: string, resource: string, scope: string) {
  const config = await discover(latchkey.issuer, web.client_id, web.client_secret);
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope,
    resource,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const { code } = await authorizeWithCookies(url.href, { issuer: latchkey.issuer, redirectUri: REDIRECT, login: { email, password: PASSWORD } });
  const exchange = () => post('/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, resource }, { authorization: basic(web.client_id, web.client_secret) });
  const res = await exchange();
  assert.equal(res.status, 200, await res.clone().text());
  return { ...((await res.json()) as { access_token: string; id_token?: string }), replay: exchange };
}

const newUser = async (tag: string) => (await createTestUser(latchkey, tag)).email;

before(async () => {
  latchkey = await startLatchkey({ MFA_REQUIRED: 'none' });
  // The APIs first, then the service client and its short-lived token: the sooner it is issued,
  // the less the last test waits for it to expire.
  [reports, ticker] = await Promise.all([
    latchkey.operate(['api', 'create', '--name', 'Reports', '--audience', REPORTS, '--scope', 'reports:read=read', '--scope', 'reports:write=write', '--machine-scope', 'reports:read']),
    latchkey.operate(['api', 'create', '--name', 'Ticker', '--audience', SHORT_LIVED, '--scope', 'ticker:read=read', '--machine-scope', 'ticker:read', '--access-token-ttl', '30']),
  ]);
  service = await latchkey.operate(['client', 'create', '--name', 'Report export', '--type', 'service', '--scope', 'reports:read ticker:read']);
  const short = await machineToken(service, { scope: 'ticker:read' });
  shortLived = { token: short.access_token, exp: decodeJwt(short.access_token).exp! };
  [otherService, web] = await Promise.all([
    latchkey.operate(['client', 'create', '--name', 'Someone else', '--type', 'service', '--scope', 'reports:read']),
    latchkey.operate(['client', 'create', '--name', 'Reports web', '--type', 'web', '--redirect-uri', REDIRECT, '--scope', 'openid reports:read reports:write']),
  ]);
});
after(async () => latchkey?.stop());

describe('every 401 of the client endpoints carries a WWW-Authenticate challenge', () => {
  const wrong = () => ({ client_id: service.client_id, client_secret: 'not-the-secret' });
  const expectChallenge = async (res: Response, what: string) => {
    assert.equal(res.status, 401, what);
    assert.equal(((await res.json()) as { error?: string }).error, 'invalid_client', what);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.equal(challenge, `Basic realm="${latchkey.issuer}", error="invalid_client", error_description="client authentication failed"`, what);
  };

  test('token endpoint: a wrong client_secret_post secret, an unknown public client, a wrong Basic secret', async () => {
    await expectChallenge(await post('/token', { grant_type: 'client_credentials', ...wrong() }), 'client_secret_post');
    await expectChallenge(
      await post('/token', { grant_type: 'authorization_code', client_id: 'no-such-client', code: 'x', code_verifier: 'x'.repeat(43), redirect_uri: REDIRECT }),
      'unknown public client',
    );
    await expectChallenge(await post('/token', { grant_type: 'client_credentials' }, { authorization: basic(service.client_id, 'not-the-secret') }), 'client_secret_basic');
  });

  test('introspection, revocation and PAR endpoints with a wrong client_secret_post secret', async () => {
    await expectChallenge(await post('/token/introspection', { token: 'whatever', ...wrong() }), 'introspection');
    await expectChallenge(await post('/token/revocation', { token: 'whatever', ...wrong() }), 'revocation');
    const par = { response_type: 'code', redirect_uri: REDIRECT, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', scope: 'openid' };
    await expectChallenge(await post('/request', { ...par, client_id: web.client_id, client_secret: 'not-the-secret' }), 'PAR');
  });

  test('openid-client (client_secret_post) sees the challenge', async () => {
    const config = new oidc.Configuration((await discover(latchkey.issuer, service.client_id, 'x')).serverMetadata(), service.client_id, {}, oidc.ClientSecretPost('not-the-secret'));
    oidc.allowInsecureRequests(config);
    const error = await oidc.clientCredentialsGrant(config, {}).then(
      () => assert.fail('a wrong secret got a token'),
      (e: unknown) => e,
    );
    // openid-client surfaces a 401 with a challenge as the challenge itself.
    assert.ok(error instanceof oidc.WWWAuthenticateChallengeError, String(error));
    assert.equal(error.cause[0]?.scheme, 'basic');
    assert.equal(error.cause[0]?.parameters.realm, latchkey.issuer);
    assert.equal(error.cause[0]?.parameters.error, 'invalid_client');
  });
});

describe('a grant type the client is not registered for is unauthorized_client (RFC 6749 §5.2)', () => {
  test('a web app asking for client_credentials, a service app asking for refresh_token or a code exchange; other refusals unchanged', async () => {
    assert.deepEqual(await refusal(() => machineToken(web, {})), { error: 'unauthorized_client', status: 400 });
    const serviceConfig = await discover(latchkey.issuer, service.client_id, service.client_secret);
    assert.deepEqual(await refusal(() => oidc.refreshTokenGrant(serviceConfig, 'whatever')), { error: 'unauthorized_client', status: 400 });
    const res = await post('/token', { grant_type: 'authorization_code', code: 'x', code_verifier: 'x'.repeat(43), redirect_uri: REDIRECT }, { authorization: basic(service.client_id, service.client_secret) });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: 'unauthorized_client', error_description: 'requested grant type is not allowed for this client' });
    // A grant type no client may use is still unsupported_grant_type; a wrong secret still invalid_client.
    const password = await post('/token', { grant_type: 'password', username: 'a', password: 'b' }, { authorization: basic(web.client_id, web.client_secret) });
    assert.equal(((await password.json()) as { error: string }).error, 'unsupported_grant_type');
    const wrongSecret = await post('/token', { grant_type: 'client_credentials' }, { authorization: basic(web.client_id, 'not-the-secret') });
    assert.equal(((await wrongSecret.json()) as { error: string }).error, 'invalid_client');
  });
});

describe('client_credentials with a scope the client was not given is invalid_scope', () => {
  test('scope=bogus:scope, a scope of another API, a user-only scope', async () => {
    assert.deepEqual(await refusal(() => machineToken(service, { scope: 'bogus:scope' })), { error: 'invalid_scope', status: 400 });
    assert.deepEqual(await refusal(() => machineToken(service, { scope: 'reports:write' })), { error: 'invalid_scope', status: 400 });
    assert.deepEqual(await refusal(() => machineToken(otherService, { scope: 'ticker:read' })), { error: 'invalid_scope', status: 400 });
    const granted = await machineToken(service, { scope: 'reports:read' });
    assert.equal(granted.scope, 'reports:read');
  });
});

describe('JWT access tokens introspect like opaque ones (RFC 7662)', () => {
  test("the API and the token's own client get active: true and the token's claims", async () => {
    const { access_token: token } = await machineToken(service, { scope: 'reports:read' });
    const claims = decodeJwt(token);
    for (const caller of [introspectionOf(reports), service]) {
      const { status, body } = await introspect(caller, token);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.active, true, caller.client_id);
      for (const claim of ['scope', 'client_id', 'sub', 'aud', 'exp', 'iat', 'iss', 'jti']) assert.deepEqual(body[claim], claims[claim], claim);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.scope, 'reports:read');
      assert.equal(body.aud, REPORTS);
    }
    // With a hint, and through openid-client's introspection helper.
    assert.equal((await introspect(introspectionOf(reports), token, { token_type_hint: 'access_token' })).body.active, true);
    const apiConfig = await discover(latchkey.issuer, reports.introspection_client_id, reports.introspection_client_secret);
    const viaClient = await oidc.tokenIntrospection(apiConfig, token);
    assert.equal(viaClient.active, true);
    assert.equal(viaClient.sub, service.client_id);
  });

  test('anyone else, a forged or tampered token, an ID token or a token of another issuer: active: false', async () => {
    const { access_token: token } = await machineToken(service, { scope: 'reports:read' });
    assert.deepEqual((await introspect(introspectionOf(ticker), token)).body, { active: false }, 'another API');
    assert.deepEqual((await introspect(otherService, token)).body, { active: false }, 'another client');

    const [header, payload, signature] = token.split('.');
    const widened = Buffer.from(JSON.stringify({ ...decodeJwt(token), scope: 'reports:read reports:write' })).toString('base64url');
    assert.deepEqual((await introspect(introspectionOf(reports), `${header}.${widened}.${signature}`)).body, { active: false }, 'tampered');

    // Same header (kid included) and claims, signed with a key that is not Latchkey's.
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT(decodeJwt(token)).setProtectedHeader(decodeProtectedHeader(token) as { alg: string }).sign(privateKey);
    assert.deepEqual((await introspect(introspectionOf(reports), forged)).body, { active: false }, 'signed with another key');
    assert.deepEqual((await introspect(introspectionOf(reports), `${header}.${payload}`)).body, { active: false }, 'no signature');

    const email = await newUser('idtoken');
    const { id_token: idToken } = await userTokens(email, REPORTS, 'openid reports:read');
    assert.ok(idToken);
    assert.deepEqual((await introspect(web, idToken)).body, { active: false }, 'an ID token is no access token');
  });

  test('a DPoP-bound token introspects with token_type DPoP and cnf.jkt', async () => {
    const key = await oidc.randomDPoPKeyPair('ES256');
    const config = await discover(latchkey.issuer, service.client_id, service.client_secret);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'reports:read' }, { DPoP: oidc.getDPoPHandle(config, key) });
    const { body } = await introspect(introspectionOf(reports), tokens.access_token);
    assert.equal(body.active, true);
    assert.equal(body.token_type, 'DPoP');
    assert.deepEqual(body.cnf, decodeJwt(tokens.access_token).cnf);
    assert.ok((body.cnf as { jkt?: string }).jkt);
  });

  test("a user's token: active with the user as sub; inactive once the grant is gone (code replay) or the user disabled", async () => {
    const email = await newUser('grant');
    const first = await userTokens(email, REPORTS, 'openid reports:read');
    const { body } = await introspect(introspectionOf(reports), first.access_token);
    assert.equal(body.active, true);
    // The API is told the user's account id, not the app's pairwise subject the token names (docs/protect-your-api.md).
    assert.notEqual(body.sub, decodeJwt(first.access_token).sub);
    assert.match(String(body.sub), /^[0-9a-f-]{36}$/);
    assert.equal((await introspect(web, first.access_token)).body.sub, decodeJwt(first.access_token).sub, 'the app itself sees its own subject');
    assert.notEqual(body.sub, web.client_id);
    assert.equal(body.client_id, web.client_id);
    // Replaying the code revokes the grant, and with it (status list) the JWT already issued.
    assert.equal((await first.replay()).status, 400);
    assert.deepEqual((await introspect(introspectionOf(reports), first.access_token)).body, { active: false }, 'grant revoked');

    const disabled = await newUser('disabled');
    const second = await userTokens(disabled, REPORTS, 'openid reports:read');
    assert.equal((await introspect(web, second.access_token)).body.active, true);
    await latchkey.operate(['user', 'disable', '--email', disabled]);
    assert.deepEqual((await introspect(web, second.access_token)).body, { active: false }, 'user disabled');
  });

  test('inactive while its client is suspended, active again when lifted, inactive once the client is deleted', async () => {
    const doomed = await latchkey.operate<Credentials>(['client', 'create', '--name', 'Doomed export', '--type', 'service', '--scope', 'reports:read']);
    const { access_token: token } = await machineToken(doomed, { scope: 'reports:read' });
    assert.equal((await introspect(introspectionOf(reports), token)).body.active, true);
    await latchkey.operate(['client', 'suspend', doomed.client_id]);
    assert.deepEqual((await introspect(introspectionOf(reports), token)).body, { active: false }, 'suspended');
    await latchkey.operate(['client', 'unsuspend', doomed.client_id]);
    assert.equal((await introspect(introspectionOf(reports), token)).body.active, true, 'unsuspended');
    await latchkey.operate(['client', 'delete', doomed.client_id]);
    assert.deepEqual((await introspect(introspectionOf(reports), token)).body, { active: false }, 'deleted');
  });

  test('only for an authenticated caller: a wrong secret is invalid_client, an unauthenticated request learns nothing', async () => {
    const { access_token: token } = await machineToken(service, { scope: 'reports:read' });
    assert.equal((await introspect(introspectionOf(reports), token)).body.active, true, 'the right secret');
    const wrong = await introspect({ client_id: reports.introspection_client_id, client_secret: 'not-the-secret' }, token);
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
    const anonymous = await post('/token/introspection', { token });
    assert.equal(anonymous.status, 400);
    assert.deepEqual(await anonymous.json(), { error: 'invalid_request', error_description: 'no client authentication mechanism provided' });
    // Two tokens in one request are refused as for opaque ones.
    const dupes = await fetch(endpoint('/token/introspection'), {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basic(service.client_id, service.client_secret) },
      body: `token=${token}&token=${token}`,
    });
    assert.equal(dupes.status, 400);
    // JWTs still cannot be revoked one by one (their grant or client can): unchanged.
    const revoke = await post('/token/revocation', { token }, { authorization: basic(service.client_id, service.client_secret) });
    assert.equal(((await revoke.json()) as { error?: string }).error, 'unsupported_token_type');
  });
  // How fast a JWT introspects against an opaque token is a figure of `npm run bench`
  // ("introspection (JWT)"), not a timed test: a shared machine's load would decide it.
});

describe('an independent Python client (authlib, requests, PyJWT)', () => {
  const missing = spawnSync(PYTHON, ['-c', 'import authlib, requests, jwt'], { encoding: 'utf8' });
  const skip = missing.status === 0 ? false : `${PYTHON} lacks authlib/requests/PyJWT: apt-get install -y python3-authlib python3-requests python3-jwt (.ci/run installs them)`;

  test('sees the four standard answers', { skip }, async () => {
    const setup = { issuer: latchkey.issuer, service, web, api: reports, machine_scope: 'reports:read' };
    const child = spawn(PYTHON, [path.join(repoRoot, 'test/interop/standards_answers.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end(JSON.stringify(setup));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const results = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { check: string; ok: boolean; detail: string });
    for (const r of results) console.log(`# python: ${r.ok ? 'ok  ' : 'FAIL'} ${r.check}${r.ok ? '' : ` — ${r.detail}`}`);
    assert.equal(code, 0, `python client failed:\n${stdout}\n${stderr}`);
    assert.equal(results.length, 12, stdout);
    for (const name of ['401 challenge: token, client_secret_post', 'unauthorized_client: web app asks for client_credentials', 'JWT introspection: active with the token\'s claims', 'invalid_scope: client_credentials with scope=bogus:scope']) {
      assert.ok(results.some((r) => r.check === name && r.ok), name);
    }
  });
});

// Last, so that the 30 seconds its token must live pass while the tests above run.
describe('JWT access tokens introspect like opaque ones (RFC 7662): expiry', () => {
  test('an expired JWT is inactive (30-second token issued at the start)', async () => {
    const { body } = await introspect(introspectionOf(ticker), shortLived.token);
    assert.equal(body.active, true, 'still valid before its exp');
    // Inactive once exp is more than the issuer's clock tolerance behind (5 s): wait until then.
    const wait = (shortLived.exp + CLOCK_TOLERANCE + 1) * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    assert.deepEqual((await introspect(introspectionOf(ticker), shortLived.token)).body, { active: false });
  });
});
