/**
 * The production recipe of docs/operations.md, run as written (issue 15): Debian's nginx, as a
 * non-root process on 127.0.0.1 with a self-signed certificate, in front of two Latchkey
 * instances on one PostgreSQL in production mode (TRUST_PROXY=1, shared ENCRYPTION_KEY,
 * COOKIE_KEYS, ISSUER). The nginx configuration is the `nginx` block of docs/operations.md;
 * only its certificate paths and ports are swapped, and the test fails if one of those
 * swaps stops matching (the docs changed without the test). A user signs in through it with
 * `latchkey perform authorization-code` as the app — the sign-in crosses both instances —
 * and the token is verified; plain HTTP is redirected; a client cannot forge its address.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { authorizeWithCookies, cookieBrowser } from '../support/cookie-flow.ts';
import { freePort, repoRoot, startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { createDatabase, dropDatabase } from '../support/postgres.ts';
import { TEST_PASSWORD } from '../support/users.ts';
import { waitFor } from '../support/wait.ts';

const NGINX = '/usr/sbin/nginx';
const PG = process.env.TEST_DATABASE_URL;
const NOTES = 'https://notes.example.com/api';
const skip = !existsSync(NGINX)
  ? `${NGINX} is not installed (apt-get install nginx; .ci/run does)`
  : !PG
    ? 'PostgreSQL only: two instances share one database, which the embedded PGlite cannot'
    : false;

/** The `nginx` block of docs/operations.md, with each documented value swapped for the test's; every swap must match. */
export function recipeConfig(swaps: Array<[string, string]>): string {
  const doc = readFileSync(path.join(repoRoot, 'docs/operations.md'), 'utf8');
  const blocks = [...doc.matchAll(/```nginx\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.equal(blocks.length, 1, 'docs/operations.md has exactly one nginx block');
  let config = blocks[0]!;
  for (const [from, to] of swaps) {
    assert.ok(config.includes(from), `the documented nginx config no longer contains "${from}"`);
    config = config.split(from).join(to);
  }
  return config;
}

describe('nginx in front of two instances (docs/operations.md)', { skip, timeout: 600_000 }, () => {
  let dir: string;
  let nginx: ChildProcess | undefined;
  let nginxLog = '';
  let databaseUrl: string;
  const instances: Latchkey[] = [];
  let issuer: string;
  let plainOrigin: string;
  let certificate: string;

  before(async () => {
    // Readable by nginx's user; everything nginx writes goes under this directory.
    dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-nginx-'));
    chmodSync(dir, 0o755);
    const [tlsPort, plainPort, ...upstreamPorts] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    issuer = `https://localhost:${tlsPort}`;
    plainOrigin = `http://127.0.0.1:${plainPort}`;
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', path.join(dir, 'privkey.pem'), '-out', path.join(dir, 'fullchain.pem'),
    ], { stdio: 'ignore' });
    certificate = path.join(dir, 'fullchain.pem');
    // This process (fetch) trusts the test certificate, as a browser would after installing it.
    tls.setDefaultCACertificates([...tls.getCACertificates('default'), readFileSync(certificate, 'utf8')]);

    const site = recipeConfig([
      ['server 127.0.0.1:3001 ', `server 127.0.0.1:${upstreamPorts[0]} `],
      ['server 127.0.0.1:3002 ', `server 127.0.0.1:${upstreamPorts[1]} `],
      ['listen 80;', `listen 127.0.0.1:${plainPort};`],
      ['listen 443 ssl;', `listen 127.0.0.1:${tlsPort} ssl;`],
      ['/etc/letsencrypt/live/login.example.com/fullchain.pem', path.join(dir, 'fullchain.pem')],
      ['/etc/letsencrypt/live/login.example.com/privkey.pem', path.join(dir, 'privkey.pem')],
    ]);
    const temp = (name: string) => `${name}_temp_path ${path.join(dir, 'tmp', name)};`;
    // What Debian's /etc/nginx/nginx.conf provides around conf.d, for an unprivileged nginx.
    writeFileSync(
      path.join(dir, 'nginx.conf'),
      [
        'worker_processes 1;',
        `pid ${path.join(dir, 'nginx.pid')};`,
        'error_log stderr warn;',
        'events { worker_connections 256; }',
        'http {',
        `  access_log ${path.join(dir, 'access.log')};`,
        `  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}`,
        site,
        '}',
        '',
      ].join('\n'),
    );
    mkdirSync(path.join(dir, 'tmp'));
    const root = process.getuid?.() === 0;
    const nobody = root ? { uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })) } : undefined;
    if (nobody) for (const name of ['tmp', 'privkey.pem']) chownSync(path.join(dir, name), nobody.uid, nobody.gid);
    if (nobody) chownSync(dir, nobody.uid, nobody.gid);

    databaseUrl = await createDatabase(PG!, `lk_nginx_${randomBytes(4).toString('hex')}`);
    const shared = {
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      ISSUER: issuer,
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      COOKIE_KEYS: randomBytes(32).toString('base64url'),
      TRUST_PROXY: '1',
      SIGNUP: 'closed',
      PASSWORD_RESET: 'off',
    };
    // Both instances at once, and nginx only when both answer on their own ports: nginx takes an
    // instance out of the rotation for fail_timeout (10 s) after requests it could not pass to it,
    // as it would while the instance is still starting. (startLatchkey waits until the issuer,
    // nginx, answers.)
    const starting = upstreamPorts.map((port, i) => startLatchkey({ ...shared, PORT: String(port) }).then((instance) => (instances[i] = instance)));
    const bothReady = Promise.all(upstreamPorts.map(async (port) => {
      const deadline = Date.now() + 120_000;
      while (!(await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false))) {
        assert.ok(Date.now() < deadline, `instance on ${port} never became ready`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }));
    await Promise.race([bothReady, Promise.all(starting)]);
    nginx = spawn(NGINX, ['-e', 'stderr', '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'], ...(nobody ?? {}) });
    nginx.stdout!.on('data', (d) => (nginxLog += d));
    nginx.stderr!.on('data', (d) => (nginxLog += d));
    await Promise.all(starting);
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      await new Promise<void>((resolve) => {
        nginx!.once('close', () => resolve());
        nginx!.kill('SIGTERM');
      });
    }
    for (const instance of instances) await instance?.stop();
    if (databaseUrl) await dropDatabase(databaseUrl).catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('nginx runs unprivileged; /readyz answers through it over TLS; plain HTTP is redirected to https', async () => {
    assert.equal(nginx!.exitCode, null, nginxLog);
    if (process.getuid?.() === 0) {
      // The master answers before it has forked its workers: wait for them (a loaded machine is slow to).
      const processUsers = () => execFileSync('ps', ['-o', 'user=', '--ppid', String(nginx!.pid), '-p', String(nginx!.pid)], { encoding: 'utf8' }).trim().split(/\s+/);
      const workers = await waitFor('the nginx workers', () => {
        const users = processUsers();
        return users.length >= 2 ? users : undefined;
      }).catch(() => processUsers());
      assert.ok(workers.length >= 2 && workers.every((u) => u === 'nobody'), `nginx processes run as: ${workers.join(', ')}`);
    }
    const ready = await fetch(`${issuer}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    assert.equal(discovery.issuer, issuer);
    assert.equal(discovery.token_endpoint, `${issuer}/token`);
    const plain = await fetch(`${plainOrigin}/readyz`, { redirect: 'manual' });
    assert.equal(plain.status, 301);
    assert.equal(plain.headers.get('location'), 'https://127.0.0.1/readyz', 'to the same host and path, on https');
  });

  test('a user signs in through nginx, across both instances; latchkey perform gets and verifies the tokens', async () => {
    const admin = instances[0]!;
    await admin.operate(['user', 'create', '--email', 'alice@example.com', '--password-stdin'], { stdin: TEST_PASSWORD });
    await admin.operate(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write']);
    const callbackPort = await freePort();
    const redirectUri = `http://127.0.0.1:${callbackPort}/callback`;
    const app = await admin.operate(['client', 'create', '--name', 'CLI app', '--type', 'native', '--redirect-uri', redirectUri, '--scope', 'openid notes:read notes:write']);
    // nginx takes an instance out of the rotation for fail_timeout (10 s) after failures — e.g. a
    // request that reached it while it was still starting. Wait until the round robin serves both
    // again, seen in both instances' request logs, before the sign-in whose steps must be split.
    const ready = instances.map((i) => i.output().length);
    const readyzSeen = () => instances.map((instance, i) => instance.output().slice(ready[i]).split('\n').some((l) => l.includes('"route":"/readyz"')));
    const rotationDeadline = Date.now() + 30_000;
    while (!readyzSeen().every(Boolean) && Date.now() < rotationDeadline) {
      await (await fetch(`${issuer}/readyz`)).arrayBuffer();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(readyzSeen().every(Boolean), `the round robin did not reach both instances within 30 s: ${readyzSeen().join(', ')}`);
    const before = instances.map((i) => i.output().length);

    let tellUrl!: (url: string) => void;
    const url = new Promise<string>((resolve) => (tellUrl = resolve));
    const perform = spawn(process.execPath, ['src/cli/bin.js', 'perform', 'authorization-code', '--client-id', app.client_id, '--port', String(callbackPort), '--scope', 'openid notes:read', '--resource', NOTES, '--json'], {
      cwd: repoRoot,
      env: { ...admin.env, NODE_EXTRA_CA_CERTS: certificate },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    perform.stdout.on('data', (d) => (stdout += d));
    perform.stderr.on('data', (d) => {
      stderr += d;
      const line = stderr.split('\n').find((l) => l.startsWith(`${issuer}/auth?`));
      if (line) tellUrl(line);
    });
    const done = new Promise<number>((resolve) => perform.on('close', (code) => resolve(code ?? -1)));
    const authorizationUrl = await Promise.race([url, done.then(() => assert.fail(`perform ended early: ${stderr}`))]);

    const browser = cookieBrowser(issuer);
    let landing: string | undefined;
    await authorizeWithCookies(authorizationUrl, {
      issuer,
      redirectUri,
      login: { email: 'alice@example.com', password: TEST_PASSWORD },
      browser: {
        async request(target, init) {
          const res = await browser.request(target, init);
          const location = res.headers.get('location');
          if (location?.startsWith(redirectUri)) landing = location;
          return res;
        },
      },
    });
    assert.equal((await fetch(landing!)).status, 200);
    assert.equal(await done, 0, stderr);
    const result = JSON.parse(stdout);
    const { payload } = await jwtVerify(result.token_response.access_token, createRemoteJWKSet(new URL(`${issuer}/jwks`)), { issuer, audience: NOTES });
    assert.equal(payload.scope, 'notes:read');
    assert.equal(result.id_token_claims.iss, issuer);

    // Round robin sent the steps of one sign-in to both instances: no sticky sessions needed.
    const served = instances.map((instance, i) => instance.output().slice(before[i]).split('\n').filter((l) => l.includes('/interaction/')).length);
    assert.ok(served.every((n) => n > 0), `interaction requests per instance: ${served.join(', ')}`);
  });

  test('the client address is the one nginx saw: a forged X-Forwarded-For is overwritten', async () => {
    const marker = `/readyz`;
    const before = instances.map((i) => i.output().length);
    for (let i = 0; i < 4; i++) await (await fetch(`${issuer}${marker}`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).arrayBuffer();
    const deadline = Date.now() + 10_000;
    const lines = () => instances.flatMap((instance, i) => instance.output().slice(before[i]).split('\n').filter((l) => l.includes('"route":"/readyz"')));
    while (lines().length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(lines().length, 4, lines().join('\n'));
    for (const line of lines()) assert.equal(JSON.parse(line).ip, '127.0.0.1', line);
  });
});
