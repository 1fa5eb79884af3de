/**
 * A copy of the database is no set of working credentials (issue 11, item 8). Full flows —
 * PAR, sign-in and consent through cookies (interactions, session), the code exchange, an
 * opaque access token, refresh rotation, DCR with its initial and registration access tokens —
 * then every table of the database is read and must hold none of the tokens, codes, session and
 * interaction ids, request_uris, secrets or passwords the test saw. A refresh token's stored key
 * is refused as a refresh token. DATA_DIR and everything in it end up owner-only, even when they
 * were made readable to others before a start.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { authorizeWithCookies, cookieBrowser } from '../support/cookie-flow.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';

const OPAQUE = 'https://ledger.example.com/api';
const REDIRECT = 'https://app.example.com/callback';
import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const FORM = 'application/x-www-form-urlencoded';

let latchkey: Latchkey;
let web: { client_id: string; client_secret: string };
const email = 'owner@example.com';
/** Every bearer value and secret the test saw, by what it is. */
const seen = new Map<string, string>();
const saw = (what: string, value: string | null | undefined) => {
  assert.ok(value && value.length >= 16, `${what} looks like a real value`);
  seen.set(value, what);
};

before(async () => {
  latchkey = await startLatchkey();
  await latchkey.operate(['api', 'create', '--name', 'Ledger', '--audience', OPAQUE, '--scope', 'ledger:read=read', '--token-format', 'opaque']);
  web = await latchkey.operate(['client', 'create', '--name', 'Ledger app', '--type', 'web', '--redirect-uri', REDIRECT, '--scope', 'openid offline_access ledger:read']);
  await latchkey.operate(['user', 'create', '--email', email, '--password-stdin'], { stdin: PASSWORD });
  saw('client secret', web.client_secret);
  saw('password', PASSWORD);
});
after(async () => latchkey?.stop());

const basic = () => `Basic ${Buffer.from(`${encodeURIComponent(web.client_id)}:${encodeURIComponent(web.client_secret)}`).toString('base64')}`;

async function token(params: Record<string, string>) {
  const res = await fetch(`${latchkey.issuer}/token`, { method: 'POST', headers: { 'content-type': FORM, authorization: basic() }, body: new URLSearchParams(params) });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

const browserless = () => cookieBrowser(latchkey.issuer, saw);
const authorize = (start: string, browser = browserless()) =>
  authorizeWithCookies(start, { issuer: latchkey.issuer, redirectUri: REDIRECT, login: { email, password: PASSWORD }, browser, seen: saw });

const plainAuthorization = () =>
  `/auth?${new URLSearchParams({ client_id: web.client_id, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`;

/** Every row of every table, as text. */
async function readEveryTable(): Promise<Record<string, string>> {
  const dump = async (query: (text: string) => Promise<Array<Record<string, unknown>>>) => {
    const tables = await query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'");
    const out: Record<string, string> = {};
    for (const { table_name } of tables) out[String(table_name)] = JSON.stringify(await query(`SELECT row_to_json(t)::text AS r FROM "${table_name}" t`));
    return out;
  };
  if (latchkey.env.DATABASE_URL) {
    const client = new pg.Client({ connectionString: latchkey.env.DATABASE_URL });
    await client.connect();
    try {
      return await dump(async (text) => (await client.query(text)).rows);
    } finally {
      await client.end();
    }
  }
  // The embedded database belongs to the server's process: stop it, read the files, start again.
  await latchkey.pause();
  const db = await PGlite.create(path.join(latchkey.env.DATA_DIR!, 'pglite'));
  try {
    return await dump(async (text) => (await db.query<Record<string, unknown>>(text)).rows);
  } finally {
    await db.close();
    await latchkey.resume();
  }
}

let refreshedToken: string;
let dump: Record<string, string>;

describe('full flows, then the whole database', () => {
  test('PAR, sign-in and consent by cookies, code exchange, opaque access token, refresh', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const par = await fetch(`${latchkey.issuer}/request`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basic() },
      body: new URLSearchParams({
        client_id: web.client_id,
        response_type: 'code',
        redirect_uri: REDIRECT,
        scope: 'openid offline_access ledger:read',
        resource: OPAQUE,
        prompt: 'consent',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: randomBytes(12).toString('base64url'),
      }),
    });
    assert.equal(par.status, 201);
    const { request_uri } = (await par.json()) as { request_uri: string };
    saw('PAR request_uri', request_uri.split(':').pop());

    const { code } = await authorize(`/auth?${new URLSearchParams({ client_id: web.client_id, request_uri })}`);
    saw('authorization code', code);
    const exchanged = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, resource: OPAQUE });
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
    assert.equal(exchanged.body.access_token!.split('.').length, 1, 'an opaque access token');
    saw('opaque access token', exchanged.body.access_token);
    saw('refresh token', exchanged.body.refresh_token);

    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token!, resource: OPAQUE });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    saw('opaque access token (refreshed)', refreshed.body.access_token);
    saw('refresh token (rotated)', refreshed.body.refresh_token);
    refreshedToken = refreshed.body.refresh_token!;

    // The opaque token works at introspection, found by its value.
    const introspected = await fetch(`${latchkey.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basic() },
      body: new URLSearchParams({ token: refreshed.body.access_token! }),
    });
    assert.equal(((await introspected.json()) as { active: boolean }).active, true);
  });

  test('a signed-in browser is recognised by its session cookie (sessions are found by their value)', async () => {
    const browser = browserless();
    const first = await authorize(plainAuthorization(), browser);
    assert.ok(first.sawLogin);
    saw('authorization code (second flow)', first.code);
    const again = await authorize(plainAuthorization(), browser);
    assert.equal(again.sawLogin, false, 'no login form: the session was found');
    saw('authorization code (third flow)', again.code);
  });

  test('DCR: initial access token, registration, registration access token', async () => {
    const iat = (await latchkey.operate(['registration-token', 'create'])).initial_access_token as string;
    saw('initial access token', iat);
    const res = await fetch(`${latchkey.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
      body: JSON.stringify({ client_name: 'Registered', redirect_uris: ['https://registered.example.com/cb'], grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid' }),
    });
    assert.equal(res.status, 201);
    const client = (await res.json()) as { client_secret: string; registration_access_token: string; registration_client_uri: string };
    saw('DCR client secret', client.client_secret);
    saw('registration access token', client.registration_access_token);
    const read = await fetch(client.registration_client_uri, { headers: { authorization: `Bearer ${client.registration_access_token}` } });
    assert.equal(read.status, 200, 'the registration access token works, found by its value');
  });

  test('no table holds any token, code, session or interaction id, request_uri, secret or password seen', async () => {
    dump = await readEveryTable();
    assert.ok(Object.keys(dump).includes('oidc_payload'));
    assert.ok(seen.size >= 12, `the flows produced values to look for (${seen.size})`);
    const found: string[] = [];
    for (const [value, what] of seen) {
      for (const [table, text] of Object.entries(dump)) if (text.includes(value)) found.push(`${what} in ${table}`);
    }
    assert.deepEqual(found, []);
  });

  test('a refresh token copied from the database is refused; the real one still works', async () => {
    const rows = JSON.parse(dump.oidc_payload!) as Array<{ r: string }>;
    const stored = rows.map((row) => JSON.parse(row.r) as { model: string; id: string }).filter((row) => row.model === 'RefreshToken');
    assert.ok(stored.length >= 1);
    for (const row of stored) {
      const res = await token({ grant_type: 'refresh_token', refresh_token: row.id, resource: OPAQUE });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_grant');
    }
    const real = await token({ grant_type: 'refresh_token', refresh_token: refreshedToken, resource: OPAQUE });
    assert.equal(real.status, 200, JSON.stringify(real.body));
  });
});

describe('DATA_DIR', () => {
  const widen = (target: string) => {
    const stat = statSync(target);
    if (stat.isDirectory()) {
      chmodSync(target, 0o755);
      for (const name of readdirSync(target)) if (!name.endsWith('.sock')) widen(path.join(target, name));
    } else chmodSync(target, 0o644);
  };
  const modes = (target: string, out: Array<[string, number]> = []) => {
    const stat = statSync(target);
    out.push([target, stat.mode & 0o777]);
    if (stat.isDirectory()) for (const name of readdirSync(target)) modes(path.join(target, name), out);
    return out;
  };

  test('made readable to others while stopped, it is owner-only again once the server starts', async () => {
    const dataDir = latchkey.env.DATA_DIR!;
    await latchkey.pause();
    widen(dataDir);
    assert.equal(statSync(dataDir).mode & 0o777, 0o755);
    await latchkey.resume();
    const open = modes(dataDir).filter(([, mode]) => (mode & 0o077) !== 0);
    assert.deepEqual(open.map(([file, mode]) => `${path.relative(dataDir, file) || '.'} ${mode.toString(8)}`), []);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.ok(readdirSync(dataDir).includes('encryption.key'));
  });
});
