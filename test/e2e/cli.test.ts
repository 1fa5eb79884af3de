/**
 * The `latchkey` command against a running server (src/cli/commands.ts): users, APIs, clients and
 * key rotation take effect in the running server without a restart; bad input exits 2 with a
 * clear message and stores nothing; every command has --help. Then the server is stopped and
 * the CLI opens the database itself (PGlite directly, or PostgreSQL), and the restarted server
 * sees what it wrote. A running server executes CLI commands over its control socket; on
 * PostgreSQL a CLI that finds none (another host) writes to the database, and the server hears NOTIFY.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { discover, oauthErrorOf } from '../support/flow.ts';
import { backend, startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { waitFor } from '../support/wait.ts';

const NOTES = 'https://notes.example.com/api';
const WEB_REDIRECT = 'https://notebook.example.com/callback';
const SPA_REDIRECT = 'http://localhost:5173/callback';
const NATIVE_REDIRECT = 'http://127.0.0.1:65010/callback';
const NATIVE_SCHEME_REDIRECT = 'com.example.notes:/oauth2redirect';
import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';

let latchkey: Latchkey;
/** Every secret the CLI printed: none may ever appear in the server's log. */
const secretsShown: string[] = [];

before(async () => {
  latchkey = await startLatchkey();
});

after(async () => {
  await latchkey?.stop();
});

interface ClientRow {
  client_id: string;
  name: string;
  type: string;
  suspended: boolean;
}
const listClients = () => latchkey.cliJson<ClientRow[]>(['client', 'list']);

/** Runs a command that must fail with exit code 2 and returns its stderr. */
async function expectExit2(args: string[], stdin?: string): Promise<string> {
  const result = await latchkey.cli(args, { stdin });
  assert.equal(result.code, 2, `latchkey ${args.join(' ')} should exit 2\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout when a command fails');
  assert.ok(result.stderr.trim(), 'a reason on stderr');
  assert.doesNotMatch(result.stderr, /unexpected error|\n\s+at /, 'a clear message, not a stack trace');
  return result.stderr;
}

const pkce = async () => {
  const verifier = oidc.randomPKCECodeVerifier();
  return { verifier, challenge: await oidc.calculatePKCECodeChallenge(verifier) };
};

/** GET /auth without following redirects; returns the status and Location. */
async function authorize(params: Record<string, string>): Promise<{ status: number; location: string | null; cookies: string[] }> {
  const { challenge } = await pkce();
  const url = new URL('/auth', latchkey.issuer);
  for (const [k, v] of Object.entries({ response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256', state: oidc.randomState(), ...params })) {
    url.searchParams.set(k, v);
  }
  const res = await fetch(url, { redirect: 'manual' });
  await res.arrayBuffer();
  assert.ok(res.status < 500, `GET /auth answered ${res.status}`);
  return { status: res.status, location: res.headers.get('location'), cookies: res.headers.getSetCookie() };
}

/** The request was accepted: the user is sent to Latchkey's sign-in (interaction) page, not back with an error. */
async function assertAuthorizationAccepted(params: Record<string, string>) {
  const { status, location } = await authorize(params);
  assert.equal(status, 303, `expected a redirect to the sign-in page, got ${status} ${location}`);
  assert.match(location ?? '', /^\/interaction\/[A-Za-z0-9_-]+$/, `expected the sign-in page, got ${location}`);
}

/**
 * Signs in over plain HTTP, as a browser would: /auth → interaction page (CSRF token from the
 * form) → POST /interaction/:uid/login. Returns the login response status (303 on success,
 * 401 on wrong credentials).
 */
async function signInStatus(clientId: string, redirectUri: string, email: string, password: string): Promise<number> {
  const jar = new Map<string, string>();
  const keep = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const { challenge } = await pkce();
  const url = new URL('/auth', latchkey.issuer);
  url.search = new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }).toString();
  const start = await fetch(url, { redirect: 'manual' });
  keep(start);
  assert.equal(start.status, 303);
  const interaction = new URL(start.headers.get('location')!, latchkey.issuer);
  const page = await fetch(interaction, { headers: { cookie: cookie() }, redirect: 'manual' });
  keep(page);
  assert.equal(page.status, 200);
  const html = await page.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(csrf, 'the login form carries a CSRF token');
  const login = await fetch(new URL(`${interaction.pathname}/login`, latchkey.issuer), {
    method: 'POST',
    headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, email, password }).toString(),
    redirect: 'manual',
  });
  await login.arrayBuffer();
  return login.status;
}

async function jwksKids(): Promise<string[]> {
  const res = await fetch(`${latchkey.issuer}/jwks`);
  assert.equal(res.status, 200);
  const { keys } = (await res.json()) as { keys: Array<{ kid: string; d?: string; p?: string }> };
  for (const key of keys) assert.equal(key.d, undefined, 'the JWKS never publishes private key material');
  return keys.map((k) => k.kid);
}

async function clientCredentialsToken(clientId: string, secret: string, scope = 'notes:read') {
  const config = await discover(latchkey.issuer, clientId, secret);
  return oidc.clientCredentialsGrant(config, { scope, resource: NOTES });
}

describe('user create', () => {
  const email = 'ada@example.com';

  test('--email --password-stdin --json prints {id, email}', async () => {
    const user = await latchkey.cliJson<{ id: string; email: string }>(['user', 'create', '--email', email, '--password-stdin'], { stdin: `${PASSWORD}\n` });
    assert.deepEqual(Object.keys(user).sort(), ['email', 'id']);
    assert.equal(user.email, email);
    assert.match(user.id, /^[0-9a-f-]{36}$/);
  });

  test('a duplicate e-mail (in any letter case) exits 2 with a clear message (JSON on stderr with --json)', async () => {
    const stderr = await expectExit2(['user', 'create', '--email', 'ADA@Example.com', '--password-stdin', '--json'], PASSWORD);
    assert.match(JSON.parse(stderr).error, /a user with this e-mail already exists/);
  });

  test('a short password, a password on the command line or a missing --email exit 2', async () => {
    const [short, onCommandLine, noEmail] = await Promise.all([
      expectExit2(['user', 'create', '--email', 'short@example.com', '--password-stdin'], 'tooShort-42'),
      expectExit2(['user', 'create', '--email', 'cli@example.com', '--password', PASSWORD]),
      expectExit2(['user', 'create', '--password-stdin'], PASSWORD),
    ]);
    assert.match(short, /at least 15 characters/);
    assert.ok(!short.includes('tooShort-42'), 'the password is not echoed');
    assert.match(onCommandLine, /--password/);
    assert.ok(!onCommandLine.includes(PASSWORD));
    assert.match(noEmail, /--email is required/);
  });
});

describe('api create', () => {
  test('--scope name=read --scope name=write prints {id, audience}', async () => {
    const api = await latchkey.cliJson<{ id: string; audience: string }>(['api', 'create', '--name', 'Notes', '--audience', NOTES, '--scope', 'notes:read=read', '--scope', 'notes:write=write', '--machine-scope', 'notes:read']);
    secretsShown.push(...Object.entries(api).filter(([k]) => /secret/.test(k)).map(([, v]) => String(v)));
    assert.equal(api.audience, NOTES);
    assert.ok(api.id);
    const apis = await latchkey.cliJson<Array<{ audience: string; scopes: Array<{ name: string; access: string }> }>>(['api', 'list']);
    assert.deepEqual(
      apis.find((a) => a.audience === NOTES)?.scopes.map((s) => `${s.name}=${s.access}`).sort(),
      ['notes:read=read', 'notes:write=write'],
    );
  });

  test('bad scope syntax exits 2', async () => {
    const create = (scope: string) => expectExit2(['api', 'create', '--name', 'Bad', '--audience', 'https://bad.example.com', '--scope', scope]);
    const [noAccess, badAccess, reserved, taken] = await Promise.all([create('bad:admin'), create('bad:admin=admin'), create('openid=read'), create('notes:read=read')]);
    assert.match(noAccess, /scope "bad:admin" must look like <name>=read or <name>=write/);
    assert.match(badAccess, /must look like/);
    assert.match(reserved, /reserved/);
    assert.match(taken, /unique across APIs/);
  });

  test('a bad audience exits 2, and none of the refused APIs was stored', async () => {
    const create = (audience: string) => expectExit2(['api', 'create', '--name', 'Bad', '--audience', audience, '--scope', 'bad:read=read']);
    const [relative, fragment, duplicate] = await Promise.all([create('notes'), create('https://bad.example.com/#x'), create(NOTES)]);
    assert.match(relative, /absolute URI/);
    assert.match(fragment, /fragment/);
    assert.match(duplicate, /already exists/);
    const apis = await latchkey.cliJson<Array<{ audience: string }>>(['api', 'list']);
    assert.deepEqual(apis.map((a) => a.audience), [NOTES]);
  });
});

const clients: Record<string, { client_id: string; client_secret?: string }> = {};

describe('client create: each type works in the running server at once', () => {

  test('web: gets a secret; PAR with its redirect URI is accepted, then /auth sends the user to sign in', async () => {
    const web = await latchkey.cliJson(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', WEB_REDIRECT, '--scope', 'openid email notes:read notes:write']);
    assert.ok(web.client_id);
    assert.ok(typeof web.client_secret === 'string' && web.client_secret.length >= 32, 'a web app gets a client secret');
    clients.web = web;
    const config = await discover(latchkey.issuer, web.client_id, web.client_secret);
    const { challenge } = await pkce();
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: WEB_REDIRECT,
      scope: 'openid notes:read',
      resource: NOTES,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: oidc.randomState(),
    });
    assert.match(url.searchParams.get('request_uri') ?? '', /^urn:ietf:params:oauth:request_uri:/);
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 303);
    assert.match(res.headers.get('location') ?? '', /^\/interaction\//);
    // And the secret really is checked: a wrong one is refused.
    const wrong = await discover(latchkey.issuer, web.client_id, 'not-the-secret-not-the-secret-0000');
    await assert.rejects(
      oidc.buildAuthorizationUrlWithPAR(wrong, { redirect_uri: WEB_REDIRECT, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }),
      (error) => oauthErrorOf(error).error === 'invalid_client',
    );
  });

  test('spa: no secret; /auth with its redirect URI is accepted', async () => {
    const spa = await latchkey.cliJson(['client', 'create', '--name', 'Notes SPA', '--type', 'spa', '--redirect-uri', SPA_REDIRECT, '--scope', 'openid notes:read']);
    assert.ok(spa.client_id);
    assert.equal(spa.client_secret, undefined, 'a browser app gets no secret');
    clients.spa = spa;
    await assertAuthorizationAccepted({ client_id: spa.client_id, redirect_uri: SPA_REDIRECT });
  });

  test('native: no secret; loopback (any port) and private-use scheme redirect URIs are accepted', async () => {
    const native = await latchkey.cliJson([
      'client', 'create', '--name', 'Notes for Desktop', '--type', 'native',
      '--redirect-uri', NATIVE_REDIRECT, '--redirect-uri', NATIVE_SCHEME_REDIRECT, '--scope', 'openid offline_access notes:read',
    ]);
    assert.ok(native.client_id);
    assert.equal(native.client_secret, undefined, 'a native app gets no secret');
    clients.native = native;
    await assertAuthorizationAccepted({ client_id: native.client_id, redirect_uri: NATIVE_REDIRECT });
    await assertAuthorizationAccepted({ client_id: native.client_id, redirect_uri: NATIVE_SCHEME_REDIRECT });
    // RFC 8252 §7.3 / RFC 9700 §4.1.3: only the port of a loopback redirect URI may vary.
    await assertAuthorizationAccepted({ client_id: native.client_id, redirect_uri: 'http://127.0.0.1:41234/callback' });
    const otherPath = await authorize({ client_id: native.client_id, redirect_uri: 'http://127.0.0.1:65010/elsewhere' });
    assert.equal(otherPath.status, 400);
    assert.equal(otherPath.location, null);
  });

  test('service: a secret and no redirect URI; client_credentials gets an audience-bound token at once', async () => {
    const service = await latchkey.cliJson(['client', 'create', '--name', 'Nightly export', '--type', 'service', '--scope', 'notes:read']);
    assert.ok(service.client_id);
    assert.ok(typeof service.client_secret === 'string' && service.client_secret.length >= 32);
    clients.service = service;
    const tokens = await clientCredentialsToken(service.client_id, service.client_secret);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.aud, NOTES);
    assert.equal(claims.client_id, service.client_id);
    assert.equal(claims.scope, 'notes:read');
    // Only assigned scopes: notes:write was not given to this client, so no token carries it.
    const overreach = await clientCredentialsToken(service.client_id, service.client_secret, 'notes:read notes:write').then(
      (t) => String(decodeJwt(t.access_token).scope ?? ''),
      () => '',
    );
    assert.ok(!overreach.split(' ').includes('notes:write'), `an unassigned scope was granted: "${overreach}"`);
    // A service client cannot take part in the authorization code flow.
    const { status, location } = await authorize({ client_id: service.client_id, redirect_uri: WEB_REDIRECT });
    assert.ok(status === 400 || new URL(location ?? '', latchkey.issuer).searchParams.get('error'), `service client must not start a code flow (${status} ${location})`);
    assert.doesNotMatch(location ?? '', /^\/interaction\//);
  });

  test('client list shows all four, with their types', async () => {
    const rows = await listClients();
    for (const [type, client] of Object.entries(clients)) {
      const row = rows.find((r) => r.client_id === client.client_id);
      assert.ok(row, `${type} client listed`);
      assert.equal(row.type, type);
      assert.equal(row.suspended, false);
      assert.equal((row as unknown as Record<string, unknown>).client_secret, undefined, 'the list never shows secrets');
    }
  });

  test('an invalid redirect URI exits 2 and stores nothing', async () => {
    const before = await listClients();
    // Every rule of redirectUriProblem is covered in test/unit/redirect-uris.test.ts; here the CLI path.
    const attempts: Array<[string[], RegExp]> = [
      [['--type', 'web', '--redirect-uri', 'http://notebook.example.com/callback'], /must use https/],
      [['--type', 'web', '--redirect-uri', 'https://notebook.example.com/callback#top'], /fragment/],
      [['--type', 'web', '--redirect-uri', WEB_REDIRECT, '--redirect-uri', 'javascript:alert(1)'], /javascript/],
      [['--type', 'service', '--redirect-uri', WEB_REDIRECT, '--scope', 'notes:read'], /no redirect URI/],
    ];
    const results = await Promise.all(attempts.map(([extra]) => expectExit2(['client', 'create', '--name', 'Refused', '--scope', 'openid', ...extra])));
    for (const [i, stderr] of results.entries()) assert.match(stderr, attempts[i]![1], attempts[i]![0].join(' '));
    assert.deepEqual(await listClients(), before, 'no client was stored');
  });

  test('an unknown scope exits 2 and stores nothing', async () => {
    const before = await listClients();
    const [unknown, oidcForService] = await Promise.all([
      expectExit2(['client', 'create', '--name', 'Greedy', '--type', 'web', '--redirect-uri', WEB_REDIRECT, '--scope', 'openid notes:read admin:all']),
      expectExit2(['client', 'create', '--name', 'Greedy', '--type', 'service', '--scope', 'openid notes:read']),
    ]);
    assert.match(unknown, /unknown scope\(s\): admin:all/);
    assert.match(oidcForService, /OpenID/);
    assert.deepEqual(await listClients(), before);
  });
});

describe('help and unknown commands', () => {
  const commands = ['serve', 'migrate', 'user create', 'api create', 'api list', 'client create', 'client list', 'keys rotate'];

  test('every command takes --help: exit 0 and a Usage line', async () => {
    const results = await Promise.all(commands.map((c) => latchkey.cli([...c.split(' '), '--help'])));
    for (const [i, result] of results.entries()) {
      assert.equal(result.code, 0, `${commands[i]} --help: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^Usage: latchkey ${commands[i]}`), `${commands[i]} --help prints its usage`);
      assert.match(result.stdout, /--json/);
    }
    const top = await latchkey.cli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout + top.stderr, /Usage: latchkey <command>/);
  });

  test('an unknown command, an unknown option or no command at all exits 2 with the usage', async () => {
    const [unknown, subcommand, option, none] = await Promise.all([
      latchkey.cli(['frobnicate']),
      latchkey.cli(['user', 'delete', '--email', 'ada@example.com']),
      latchkey.cli(['client', 'list', '--all']),
      latchkey.cli([]),
    ]);
    for (const result of [unknown, subcommand, option, none]) {
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /Usage/);
    }
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    assert.match(option.stderr, /--all/);
  });
});

describe('keys rotate', () => {
  test('keys rotate --now: the running server publishes the new keys at once, signs with them and keeps the old ones', async () => {
    const service = clients.service as { client_id: string; client_secret: string };
    assert.ok(service, 'the service client from above');
    const before = await jwksKids();
    assert.ok(before.length >= 2);
    const oldToken = (await clientCredentialsToken(service.client_id, service.client_secret)).access_token;
    assert.ok(before.includes(decodeProtectedHeader(oldToken).kid!));

    const rotation = await latchkey.cliJson<{ added: string[]; retiring: Array<{ kid: string; retiresAt: string }> }>(['keys', 'rotate', '--now']);
    assert.equal(rotation.added.length, 2, 'one new ES256 and one new RS256 key');
    assert.deepEqual(rotation.retiring.map((r) => r.kid).sort(), [...before].sort());
    for (const r of rotation.retiring) assert.ok(Date.parse(r.retiresAt) > Date.now() + 600_000, 'old keys stay published while their tokens live');

    // Asked right away: the command returns once the server it went through has reloaded its keys.
    const after = await jwksKids();
    for (const kid of rotation.added) assert.ok(after.includes(kid), `new key ${kid} published`);
    for (const kid of before) assert.ok(after.includes(kid), `old key ${kid} still published`);

    // New tokens are signed with the new key; the token signed before still verifies.
    const newToken = (await clientCredentialsToken(service.client_id, service.client_secret)).access_token;
    assert.ok(rotation.added.includes(decodeProtectedHeader(newToken).kid!), 'the newest key signs');
    const jwks = createRemoteJWKSet(new URL(`${latchkey.issuer}/jwks`));
    for (const token of [oldToken, newToken]) {
      const { payload } = await jwtVerify(token, jwks, { issuer: latchkey.issuer, audience: NOTES });
      assert.equal(payload.client_id, service.client_id);
    }
  });
});

describe('on PostgreSQL, a CLI without the server\'s socket (another host) works on the database itself', { skip: backend !== 'postgres' && 'the embedded database has one process' }, () => {
  test('keys rotate --now from a DATA_DIR with no socket: the running server hears of it and publishes the new keys', async () => {
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'latchkey-other-host-'));
    try {
      const before = await jwksKids();
      // Another host is given the instances' key (here: the one the server made in its DATA_DIR).
      const key = readFileSync(path.join(latchkey.env.DATA_DIR!, 'encryption.key'), 'utf8').trim();
      const rotation = await latchkey.cliJson<{ added: string[] }>(['keys', 'rotate', '--now'], { env: { DATA_DIR: elsewhere, ENCRYPTION_KEY: key } });
      assert.equal(existsSync(path.join(elsewhere, 'latchkey.sock')), false);
      assert.ok(rotation.added.every((kid) => !before.includes(kid)));
      await waitFor('the new keys published by the running server', async () => {
        const now = await jwksKids();
        return rotation.added.every((kid) => now.includes(kid)) || undefined;
      });
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('with the server stopped, the CLI opens the database itself', () => {
  const email = 'grace@example.com';
  let service: { client_id: string; client_secret: string };
  let web: { client_id: string; client_secret: string };

  test('user create, client create and client list work while the server is down', async () => {
    web = await latchkey.cliJson(['client', 'create', '--name', 'Notebook (offline test)', '--type', 'web', '--redirect-uri', WEB_REDIRECT, '--scope', 'openid notes:read']);
    await latchkey.pause();
    const down = await fetch(`${latchkey.issuer}/.well-known/openid-configuration`).then(() => true, () => false);
    assert.equal(down, false, 'the server is really stopped');

    const user = await latchkey.cliJson(['user', 'create', '--email', email, '--password-stdin'], { stdin: PASSWORD });
    assert.equal(user.email, email);
    service = await latchkey.cliJson(['client', 'create', '--name', 'Created offline', '--type', 'service', '--scope', 'notes:read']);
    assert.ok(service.client_secret);
    const rows = await listClients();
    assert.ok(rows.some((r) => r.client_id === service.client_id));
    // Bad input is still refused the same way without a server.
    assert.match(await expectExit2(['user', 'create', '--email', email, '--password-stdin'], PASSWORD), /already exists/);
  });

  test('the restarted server sees the user and the client created while it was down', async () => {
    await latchkey.resume();
    const tokens = await clientCredentialsToken(service.client_id, service.client_secret);
    assert.equal(decodeJwt(tokens.access_token).client_id, service.client_id);
    assert.equal(await signInStatus(web.client_id, WEB_REDIRECT, email, `${PASSWORD}!`), 401, 'a wrong password is refused');
    assert.equal(await signInStatus(web.client_id, WEB_REDIRECT, email, PASSWORD), 303, 'the user created offline signs in');
  });

  test('no secret or password ever reached the server log', () => {
    const log = latchkey.output();
    assert.ok(log.length > 0);
    assert.ok(!log.includes(PASSWORD));
    const secrets = [...secretsShown, ...Object.values(clients).map((c) => c.client_secret), service.client_secret, web.client_secret].filter((x): x is string => !!x);
    assert.ok(secrets.length >= 4);
    for (const secret of secrets) assert.ok(!log.includes(secret), 'a client secret appeared in the server log');
  });
});
