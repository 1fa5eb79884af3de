/**
 * `latchkey perform` (issue 15): a first token without writing code. The real CLI against a
 * running server: client-credentials with the secret on stdin or in LATCHKEY_CLIENT_SECRET,
 * authorization-code with the printed URL followed by a script that signs in and consents over
 * plain HTTP (as a browser would) and lands on the CLI's loopback callback. The printed claims
 * are checked against the token itself (verified here with jose); refusals exit 1 or 2 with a
 * clear message, and no secret is ever printed or put on a command line.
 */
// test-once: `latchkey perform` is an OAuth client over HTTP that never opens the database; the token paths it calls run on PostgreSQL in the other files
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { cookieBrowser, authorizeWithCookies } from '../support/cookie-flow.ts';
import { freePort, repoRoot, startLatchkey, type Latchkey } from '../support/latchkey.ts';

const NOTES = 'https://notes.example.com';
import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';
let latchkey: Latchkey;
let service: { client_id: string; client_secret: string };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `latchkey …` with extra environment; `onStderr` sees the error output as it comes. */
function latchkeyCli(args: string[], options: { env?: Record<string, string>; stdin?: string; onStderr?: (all: string) => void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['src/cli/bin.js', ...args], { cwd: repoRoot, env: { ...latchkey.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => {
      stderr += d;
      options.onStderr?.(stderr);
    });
    proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    proc.stdin.end(options.stdin ?? '');
  });
}

/** A failure: the exit code, nothing on stdout, a one-line reason without a stack trace. */
function assertRefused(run: Run, code: number, reason: RegExp) {
  assert.equal(run.code, code, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, reason);
  assert.doesNotMatch(run.stderr, /unexpected error|\n\s+at /);
}

async function verified(token: string, audience: string) {
  const keys = createRemoteJWKSet(new URL(`${latchkey.issuer}/jwks`));
  return (await jwtVerify(token, keys, { issuer: latchkey.issuer, audience })).payload;
}

before(async () => {
  latchkey = await startLatchkey({ MFA_REQUIRED: 'none' });
  await Promise.all([
    latchkey.cliJson(['user', 'create', '--email', 'alice@example.com', '--password-stdin'], { stdin: PASSWORD }),
    latchkey.cliJson(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write', '--machine-scope', 'notes:read']),
  ]);
  service = await latchkey.cliJson(['client', 'create', '--name', 'Nightly export', '--type', 'service', '--scope', 'notes:read']);
});
after(async () => latchkey?.stop());

describe('latchkey perform client-credentials', () => {
  test('secret on stdin, --json: the token response and the verified claims of the JWT access token', async () => {
    const run = await latchkeyCli(['perform', 'client-credentials', '--client-id', service.client_id, '--client-secret-stdin', '--scope', 'notes:read', '--resource', NOTES, '--json'], {
      stdin: `${service.client_secret}\n`,
    });
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.token_response.token_type, 'Bearer');
    assert.equal(result.verified_with, `${latchkey.issuer}/jwks`);
    const claims = await verified(result.token_response.access_token, NOTES);
    assert.deepEqual(result.access_token_claims, claims, 'the printed claims are the token’s own');
    assert.equal(claims.scope, 'notes:read');
    assert.equal(claims.client_id, service.client_id);
    assert.ok(!run.stdout.includes(service.client_secret) && !run.stderr.includes(service.client_secret), 'the secret is never printed');
  });

  test('secret from LATCHKEY_CLIENT_SECRET, readable output, the API inferred from the scope', async () => {
    const run = await latchkeyCli(['perform', 'client-credentials', '--client-id', service.client_id, '--scope', 'notes:read'], { env: { LATCHKEY_CLIENT_SECRET: service.client_secret } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Token response:\n\{/);
    assert.match(run.stdout, /Access token claims \(signature verified with http:\/\/127\.0\.0\.1:\d+\/jwks\):\n\{/);
    const token = /"access_token": "([^"]+)"/.exec(run.stdout)![1]!;
    assert.equal((await verified(token, NOTES)).scope, 'notes:read');
  });

  test('a wrong secret exits 1 naming invalid_client; no secret, or a scope not offered, exits 2', async () => {
    const [wrong, none, scope, flag] = await Promise.all([
      latchkeyCli(['perform', 'client-credentials', '--client-id', service.client_id, '--client-secret-stdin', '--scope', 'notes:read'], { stdin: 'not-the-secret' }),
      latchkeyCli(['perform', 'client-credentials', '--client-id', service.client_id]),
      latchkeyCli(['perform', 'client-credentials', '--client-id', service.client_id, '--scope', 'notes:write'], { env: { LATCHKEY_CLIENT_SECRET: service.client_secret } }),
      // A secret given as a flag value (visible in `ps` and shell history) is not accepted.
      latchkeyCli(['perform', 'client-credentials', '--client-id', service.client_id, '--client-secret', service.client_secret]),
    ]);
    assertRefused(wrong, 1, /^latchkey: the token endpoint refused the request \(invalid_client.*check --client-id and the client secret/m);
    assertRefused(none, 2, /client secret is required: pipe it to --client-secret-stdin or set LATCHKEY_CLIENT_SECRET/);
    assertRefused(scope, 2, /invalid_scope/);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /Unknown option '--client-secret'/);
  });
});

describe('latchkey perform authorization-code', () => {
  /** Starts the command and resolves with the URL it tells the user to open. */
  function startPerform(args: string[], env: Record<string, string>) {
    let tellUrl!: (url: string) => void;
    const url = new Promise<string>((resolve) => (tellUrl = resolve));
    const done = latchkeyCli(['perform', 'authorization-code', ...args], {
      env,
      onStderr: (all) => {
        const line = all.split('\n').find((l) => l.startsWith(`${latchkey.issuer}/auth?`));
        if (line) tellUrl(line);
      },
    });
    return { url: Promise.race([url, done.then((r) => assert.fail(`perform ended before printing a URL: ${r.stderr}`))]), done };
  }

  /** The user's part: sign in and consent on Latchkey's forms, then the browser lands on the callback. */
  async function userFollows(url: string, redirectUri: string): Promise<number> {
    const browser = cookieBrowser(latchkey.issuer);
    let landing: string | undefined;
    await authorizeWithCookies(url, {
      issuer: latchkey.issuer,
      redirectUri,
      login: { email: 'alice@example.com', password: PASSWORD },
      browser: {
        async request(target, init) {
          const res = await browser.request(target, init);
          const location = res.headers.get('location');
          if (location?.startsWith(redirectUri)) landing = location;
          return res;
        },
      },
    });
    const callback = await fetch(landing!);
    assert.match(await callback.text(), /You can close this window/);
    return callback.status;
  }

  test('web app: prints the URL, the user signs in and allows, the code is exchanged with PKCE; ID and access token verified', async () => {
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/callback`;
    const web = await latchkey.cliJson(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', redirectUri, '--scope', 'openid offline_access notes:read notes:write']);
    const perform = startPerform(
      ['--client-id', web.client_id, '--port', String(port), '--scope', 'openid offline_access notes:read notes:write', '--resource', NOTES, '--prompt', 'consent', '--json'],
      { LATCHKEY_CLIENT_SECRET: web.client_secret },
    );
    const url = new URL(await perform.url);
    assert.equal(url.searchParams.get('redirect_uri'), redirectUri);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.match(url.searchParams.get('code_challenge') ?? '', /^[\w-]{43}$/);
    assert.ok(url.searchParams.get('state') && url.searchParams.get('nonce'));
    assert.equal(url.searchParams.get('prompt'), 'consent');
    assert.equal(url.searchParams.get('resource'), NOTES);

    // Someone else's request to the callback (without the state) is turned away, and the command keeps waiting.
    const stray = await fetch(`${redirectUri}?code=planted&state=guess`);
    assert.equal(stray.status, 400);
    await stray.arrayBuffer();

    assert.equal(await userFollows(url.href, redirectUri), 200);
    const run = await perform.done;
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.ok(result.token_response.refresh_token, 'offline_access with prompt=consent brings a refresh token');
    const access = await verified(result.token_response.access_token, NOTES);
    assert.deepEqual(result.access_token_claims, access);
    assert.match(String(access.scope), /notes:read/);
    const id = await verified(result.token_response.id_token, web.client_id);
    assert.deepEqual(result.id_token_claims, id);
    assert.equal(id.nonce, url.searchParams.get('nonce'));
    assert.ok(!run.stdout.includes(web.client_secret) && !run.stderr.includes(web.client_secret));
  });

  test('a wrong secret: the user signs in, the exchange is refused, exit 1 naming invalid_client', async () => {
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/callback`;
    const web = await latchkey.cliJson(['client', 'create', '--name', 'Wrong secret', '--type', 'web', '--redirect-uri', redirectUri, '--scope', 'openid']);
    const perform = startPerform(['--client-id', web.client_id, '--port', String(port)], { LATCHKEY_CLIENT_SECRET: 'wrong' });
    await userFollows(await perform.url, redirectUri);
    assertRefused(await perform.done, 1, /invalid_client/);
  });

  test('the callback port in use exits 2 with what to do', async () => {
    const port = await freePort();
    const holder = (await import('node:net')).createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const run = await latchkeyCli(['perform', 'authorization-code', '--client-id', 'x', '--port', String(port)]);
      assertRefused(run, 2, new RegExp(`port ${port} on 127.0.0.1 is in use`));
    } finally {
      holder.close();
    }
  });
});
