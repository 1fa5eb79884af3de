/**
 * Keys that cannot brick a deployment or break an API (issue 11, items 14 and 11).
 *
 * - One database, one encryption key: a CLI or a server holding another key (ENCRYPTION_KEY
 *   set to something else, or no key at all on a machine without DATA_DIR/encryption.key)
 *   refuses before writing anything, says which key is wrong and where it came from, exits
 *   non-zero — and the deployment goes on as before. Before this, `keys rotate` with a stray
 *   key exited 0, retired the good keys and every later start died.
 * - A rotated-in signing key is published before it signs: after `keys rotate` the JWKS holds
 *   both keys at once, tokens stay signed by the old kid until KEY_PUBLISH_DELAY_SECONDS have
 *   passed (also across a restart: the time is in the database), then by the new kid; the
 *   kit's verifier, which cached the JWKS before the rotation, never refuses a token (the delay
 *   outlasts its jwksCooldownSeconds, set short here so the test waits 20 s, not 35).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { verifyAccessToken } from '../../src/resource-server/index.ts';
import { authorizeWithCookies } from '../support/cookie-flow.ts';
import { freePort, repoRoot, testServerArgs, testServerEnv, startLatchkey, type Latchkey } from '../support/latchkey.ts';

const API = 'https://keys.example.com/api';
const REDIRECT = 'https://app.example.com/callback';
import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const FORM = 'application/x-www-form-urlencoded';
/** How soon the kit may refetch the JWKS for an unknown kid (its jwksCooldownSeconds; 30 by default). */
const KIT_COOLDOWN = 3;
/**
 * Longer than the kit's cooldown (else it would refuse the new key's first tokens), and long
 * enough for the server to restart in between on a loaded machine (20 s fell short once, with
 * five test files at a time).
 */
const PUBLISH_DELAY = 30;

/** Runs `latchkey …` or `latchkey serve` with the instance's environment plus `extra`; output and exit code. */
function run(latchkey: Latchkey, args: string[], extra: Record<string, string | undefined>, timeoutMs = 60_000) {
  const env = { ...latchkey.env, ...extra };
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  const serve = args[0] === 'serve';
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, serve ? testServerArgs : ['src/cli/bin.js', ...args], { cwd: repoRoot, env: serve ? { ...env, ...testServerEnv } : env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function jwksKids(latchkey: Latchkey): Promise<string[]> {
  const { keys } = (await (await fetch(`${latchkey.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
  return keys.map((k) => k.kid).sort();
}

const otherKey = () => randomBytes(32).toString('base64');

/** One server for both parts: the refusals below change nothing, and the publication delay matters only to the rotation. */
let latchkey: Latchkey;
before(async () => {
  latchkey = await startLatchkey({ KEY_PUBLISH_DELAY_SECONDS: String(PUBLISH_DELAY) });
});
after(async () => latchkey?.stop());

describe('a process holding another encryption key refuses before writing anything', () => {
  const scratch: string[] = [];
  after(() => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  test('keys rotate, or a server, with another ENCRYPTION_KEY: exit non-zero, the key named, the keys unchanged; the right key still starts', async () => {
    const before = await jwksKids(latchkey);
    // The embedded database is reached through the running server (its key); the CLI opens it
    // itself only when the server is down, and a second server only then reaches the database.
    if (!latchkey.env.DATABASE_URL) await latchkey.pause();
    const port = String(await freePort());
    let rotate: Awaited<ReturnType<typeof run>>;
    let serve: Awaited<ReturnType<typeof run>>;
    try {
      rotate = await run(latchkey, ['keys', 'rotate'], { ENCRYPTION_KEY: otherKey() });
      serve = await run(latchkey, ['serve'], { ENCRYPTION_KEY: otherKey(), PORT: port, ISSUER: `http://127.0.0.1:${port}` });
    } finally {
      if (!latchkey.env.DATABASE_URL) await latchkey.resume();
    }
    for (const result of [rotate, serve]) {
      assert.notEqual(result.code, 0, result.output);
      assert.match(result.output, /ENCRYPTION_KEY \(from the environment or \.env\) is not the key this database's secrets are encrypted with/);
    }
    assert.match(rotate.output, /this key's fingerprint is [0-9a-f]{8}, the database's is [0-9a-f]{8}/);
    assert.doesNotMatch(rotate.output, /unexpected error/);
    assert.doesNotMatch(serve.output, /Unsupported state or unable to authenticate data/);
    // (the embedded database: resumed above with the right key)
    if (latchkey.env.DATABASE_URL) await latchkey.restart();
    assert.equal((await fetch(`${latchkey.issuer}/jwks`)).status, 200, 'the deployment is intact');
    assert.deepEqual(await jwksKids(latchkey), before, 'no key added or retired');
  });

  test('no ENCRYPTION_KEY and no key file: refused, and no stray key file is created', async () => {
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'latchkey-stray-'));
    scratch.push(elsewhere);
    const before = await jwksKids(latchkey);
    if (latchkey.env.DATABASE_URL) {
      // A CLI on another machine: same PostgreSQL database, its own empty DATA_DIR.
      const result = await run(latchkey, ['keys', 'rotate'], { DATA_DIR: elsewhere, ENCRYPTION_KEY: undefined });
      assert.notEqual(result.code, 0, result.output);
      assert.match(result.output, /ENCRYPTION_KEY is not set and .*encryption\.key does not exist, but this database already holds secrets/);
      assert.deepEqual(readdirSync(elsewhere), [], 'no key file generated');
      assert.deepEqual(await jwksKids(latchkey), before);
    } else {
      // The embedded database: its key file is what opens it; a key given instead is checked (above).
      assert.ok(existsSync(path.join(latchkey.env.DATA_DIR!, 'encryption.key')));
    }
  });
});

describe('a rotated-in key is published before it signs', () => {
  let client: { client_id: string; client_secret: string };
  let refreshToken: string;
  before(async () => {
    await latchkey.operate(['api', 'create', '--name', 'Keys', '--audience', API, '--scope', 'keys:read=read']);
    client = await latchkey.operate(['client', 'create', '--name', 'Keys app', '--type', 'web', '--redirect-uri', REDIRECT, '--scope', 'openid offline_access keys:read']);
    const email = 'keys@example.com';
    await latchkey.operate(['user', 'create', '--email', email, '--password-stdin'], { stdin: PASSWORD });
    const verifier = randomBytes(32).toString('base64url');
    const start = `/auth?${new URLSearchParams({
      client_id: client.client_id,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid offline_access keys:read',
      resource: API,
      prompt: 'consent',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    })}`;
    const { code } = await authorizeWithCookies(start, { issuer: latchkey.issuer, redirectUri: REDIRECT, login: { email, password: PASSWORD } });
    const tokens = await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, resource: API });
    refreshToken = tokens.refresh_token;
  });

  async function tokenRequest(params: Record<string, string>): Promise<Record<string, string>> {
    const res = await fetch(`${latchkey.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` },
      body: new URLSearchParams(params),
    });
    const body = (await res.json()) as Record<string, string>;
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  }

  /** A fresh access token (and ID token) by refresh; the refresh token rotates. */
  async function freshTokens(): Promise<{ accessKid: string; idKid: string; accessToken: string }> {
    const tokens = await tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, resource: API });
    refreshToken = tokens.refresh_token;
    return { accessToken: tokens.access_token, accessKid: decodeProtectedHeader(tokens.access_token).kid!, idKid: decodeProtectedHeader(tokens.id_token).kid! };
  }

  const verify = (token: string) => verifyAccessToken(token, { issuer: latchkey.issuer, audience: API, statusList: false, jwksCooldownSeconds: KIT_COOLDOWN });

  test('JWKS at once, old kid until the delay (also after a restart), then the new; the kit never refuses', async () => {
    const first = await freshTokens();
    await verify(first.accessToken); // the kit fetches and caches the JWKS now, before the rotation
    const rotation = await latchkey.operate<{ added: string[]; activatesAt: string }>(['keys', 'rotate']);
    const activatesAt = Date.parse(rotation.activatesAt);
    assert.ok(activatesAt >= Date.now() + (PUBLISH_DELAY - 5) * 1000, 'activation KEY_PUBLISH_DELAY_SECONDS away');
    const published = await jwksKids(latchkey);
    const jwksCaching = (await fetch(`${latchkey.issuer}/jwks`)).headers.get('cache-control');
    assert.equal(jwksCaching, `public, max-age=${Math.min(300, PUBLISH_DELAY)}`, 'a verifier following Cache-Control refetches before a new key signs');
    for (const kid of rotation.added) assert.ok(published.includes(kid), 'the new keys are published at once');
    assert.ok(published.includes(first.accessKid) && published.includes(first.idKid), 'the old keys too');

    const rotated = await freshTokens();
    assert.equal(rotated.accessKid, first.accessKid, 'the instance that rotated still signs access tokens with the old key');
    assert.equal(rotated.idKid, first.idKid, 'and ID tokens');
    await verify(rotated.accessToken);
    // An instance (re)started between the rotation and the activation learns the activation time from the database.
    await latchkey.restart();
    let checkedAfterRestart = false;
    let newTokens = 0;
    while (newTokens < 2) {
      const requestedAt = Date.now();
      const tokens = await freshTokens();
      const answeredAt = Date.now();
      if (answeredAt < activatesAt) {
        assert.equal(tokens.accessKid, first.accessKid, 'the old key signs access tokens until the activation');
        assert.equal(tokens.idKid, first.idKid, 'and ID tokens');
        checkedAfterRestart = true;
      } else if (rotation.added.includes(tokens.accessKid)) {
        assert.ok(rotation.added.includes(tokens.idKid), 'the new keys sign ID tokens with access tokens');
        newTokens++;
      } else {
        // Until the server reloads its provider at the activation time: the old keys, for at most
        // 5 s (a loaded machine too), and never again once a new key has signed.
        assert.equal(tokens.accessKid, first.accessKid);
        assert.equal(tokens.idKid, first.idKid);
        assert.ok(requestedAt <= activatesAt + 5000, 'the new key signs access tokens after the activation');
        assert.equal(newTokens, 0, 'once the new key signs, the old one does not again');
      }
      // Every token, old kid or new, passes the kit that cached the JWKS before the rotation.
      const verified = await verify(tokens.accessToken);
      assert.ok(verified.audience.includes(API));
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(checkedAfterRestart, 'a token was signed after the restart and before the activation');
  });
});
