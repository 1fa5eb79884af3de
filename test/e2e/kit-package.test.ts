/**
 * The kit as a real package (issue 15): `npm pack` of packages/resource-server builds plain
 * JavaScript and declarations from src/resource-server; the tarball installed into an empty
 * project (with its dependency, jose, from npm) verifies a Latchkey access token from a plain
 * `.mjs` file under Node 20 and Node 24 — no tsx, no TypeScript loader — refuses a tampered
 * one, and a TypeScript file type-checks against the shipped declarations.
 */
// test-once: the package verifies tokens with the JWKS alone; the database behind the issuer never reaches it
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { basic } from '../support/http-session.ts';
import { repoRoot, startLatchkey, type Latchkey } from '../support/latchkey.ts';

const AUDIENCE = 'https://notes.example.com/api';
const kitDir = path.join(repoRoot, 'packages/resource-server');
/** Node 20: the machine's own node (what a user's project would run on). Node 24: Latchkey's node@24 from npm. */
const NODE_20 = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => existsSync(p) && /^v20\./.test(execFileSync(p, ['--version'], { encoding: 'utf8' })));
const NODE_24 = path.join(repoRoot, 'node_modules/node/bin/node');
/** Runs a command to its end without blocking the event loop (the server and the other steps go on meanwhile). */
function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject).on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The npm users run (not a script shim): the one beside the machine's node. */
const npm = async (args: string[], cwd: string) => {
  const result = await run('npm', args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } });
  assert.equal(result.status, 0, `npm ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result;
};

let latchkey: Latchkey;
let project: string;
let accessToken: string;

/** A running Latchkey, an API and a service app: the token a real deployment would hand out. */
async function mintAccessToken(): Promise<void> {
  latchkey = await startLatchkey();
  await latchkey.operate(['api', 'create', '--name', 'Notes', '--audience', AUDIENCE, '--scope', 'notes:read=read', '--scope', 'notes:write=write', '--machine-scope', 'notes:read']);
  const app = await latchkey.operate(['client', 'create', '--name', 'Exporter', '--type', 'service', '--scope', 'notes:read']);
  const res = await fetch(`${latchkey.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(app.client_id, app.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'notes:read', resource: AUDIENCE }),
  });
  assert.equal(res.status, 200);
  accessToken = (await res.json()).access_token;
}

/** `npm pack` of the kit, installed into an empty project as a user would. */
async function installPackedKit(): Promise<void> {
  project = mkdtempSync(path.join(os.tmpdir(), 'latchkey-kit-user-'));
  const packed = JSON.parse((await npm(['pack', '--json', '--pack-destination', project], kitDir)).stdout);
  const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
  assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('README.md'), files.join(', '));
  assert.ok(!files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no TypeScript sources in the package');
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'notes-api', private: true, type: 'module' }));
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(project, packed[0].filename)], project);
}

// Independent: the server starts while the package is packed and installed.
before(() => Promise.all([mintAccessToken(), installPackedKit()]));

after(async () => {
  await latchkey?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

const verifier = `
import { AccessTokenError, verifyAccessToken } from '@latchkey/resource-server';
const options = { issuer: process.env.ISSUER, audience: process.env.AUDIENCE, scopes: ['notes:read'] };
const token = await verifyAccessToken(process.env.TOKEN, options);
const tampered = process.env.TOKEN.slice(0, -4) + (process.env.TOKEN.endsWith('AAAA') ? 'BBBB' : 'AAAA');
const refusal = await verifyAccessToken(tampered, options).then(() => 'accepted', (e) => e instanceof AccessTokenError ? e.code : String(e));
const wrongApi = await verifyAccessToken(process.env.TOKEN, { ...options, audience: 'https://other.example.com' }).then(() => 'accepted', (e) => e.message);
console.log(JSON.stringify({ node: process.version, kind: token.kind, scopes: token.scopes, audience: token.audience, refusal, wrongApi }));
`;

describe('the installed package', { concurrency: true }, () => {
  for (const [label, node] of [
    ['Node 20', NODE_20],
    ['Node 24', NODE_24],
  ] as const) {
    test(`${label}: a plain .mjs verifies a Latchkey token with the installed package and refuses a tampered one`, { skip: node ? false : `no ${label} binary on this machine` }, async () => {
      const script = `verify-${label.replace(/\W/g, '')}.mjs`;
      writeFileSync(path.join(project, script), verifier);
      const verification = await run(node!, [script], { cwd: project, env: { PATH: process.env.PATH, ISSUER: latchkey.issuer, AUDIENCE, TOKEN: accessToken } });
      assert.equal(verification.status, 0, verification.stderr);
      const result = JSON.parse(verification.stdout);
      assert.match(result.node, label === 'Node 20' ? /^v20\./ : /^v24\./);
      assert.deepEqual(
        { kind: result.kind, scopes: result.scopes, audience: result.audience, refusal: result.refusal, wrongApi: result.wrongApi },
        { kind: 'machine', scopes: ['notes:read'], audience: [AUDIENCE], refusal: 'invalid_token', wrongApi: 'the access token is not meant for this API' },
      );
    });
  }

  test('the declarations type-check a TypeScript consumer (and catch a type error in it)', async () => {
    writeFileSync(
      path.join(project, 'check.ts'),
      [
        "import { verifyAccessToken, type VerifiedAccessToken } from '@latchkey/resource-server';",
        "const token: VerifiedAccessToken = await verifyAccessToken('x', { issuer: 'https://login.example.com', audience: 'https://notes.example.com/api' });",
        "const kind: 'user' | 'machine' = token.kind;",
        'const wrong: number = token.scopes;',
        'export { kind, wrong };',
        '',
      ].join('\n'),
    );
    const check = await run(
      process.execPath,
      [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--target', 'es2022',
        '--typeRoots', path.join(repoRoot, 'node_modules/@types'), '--types', 'node', 'check.ts'],
      { cwd: project },
    );
    const errors = check.stdout.split('\n').filter((l) => /error TS/.test(l));
    assert.equal(errors.length, 1, check.stdout);
    assert.match(errors[0]!, /^check\.ts\(4,7\): error TS2322: Type 'readonly string\[\]' is not assignable to type 'number'/);
    assert.ok(readdirSync(path.join(project, 'node_modules/@latchkey/resource-server/dist')).includes('index.d.ts'));
  });
});
