/**
 * The CLI never creates an embedded database by accident (issue 15): a command run with a
 * DATA_DIR that holds no database (a mistyped path, the wrong working directory) is refused
 * with exit 2 and what to do, and creates nothing; `--init` creates it. Every database command
 * says on stderr, in one line, which DATA_DIR (or DATABASE_URL, without its password) and
 * ISSUER it used. `latchkey serve` still creates the database on first start (the README's
 * `npm install && npm start`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { describeTarget } from '../../src/cli/database-target.ts';
import { repoRoot, startLatchkey } from '../support/latchkey.ts';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'latchkey-init-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string>, stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['src/cli/bin.js', ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', ISSUER: 'http://127.0.0.1:3999', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    proc.stdin.end(stdin);
  });
}

/**
 * The first two tests run the CLI on an embedded database of their own whatever the backend under
 * test: in the PostgreSQL pass they would be the PGlite pass's run again.
 */
const embeddedOnly = { skip: process.env.TEST_DATABASE_URL ? 'the PostgreSQL pass: this runs on an embedded database either way (PGlite pass)' : false };

/** stderr without the compiler's note (another engineer's source change can trigger a rebuild). */
const linesOf = (stderr: string) => stderr.split('\n').filter((l) => l && !/^latchkey: compiled \d+ files/.test(l));

test('no database in DATA_DIR: refused with exit 2 and what to do, nothing created; --init creates it', embeddedOnly, async () => {
  const dataDir = path.join(scratch, 'typo', 'data');
  // With --json, stderr is one JSON error and nothing else.
  const [refused, refusedJson] = await Promise.all([cli(['api', 'list'], { DATA_DIR: dataDir }), cli(['api', 'list', '--json'], { DATA_DIR: dataDir })]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.equal(refused.stdout, '');
  assert.deepEqual(linesOf(refused.stderr), [
    `latchkey: DATA_DIR=${dataDir} (embedded database), ISSUER=http://127.0.0.1:3999`,
    `latchkey: there is no database in DATA_DIR=${dataDir}; set DATA_DIR (or DATABASE_URL) to the server's, run \`latchkey serve\` once to create it, or pass --init to create a new one here`,
  ]);
  assert.equal(existsSync(path.join(scratch, 'typo')), false, 'nothing was created');
  assert.equal(refusedJson.code, 2);
  assert.match(JSON.parse(linesOf(refusedJson.stderr).join('\n')).error, /there is no database in DATA_DIR=.*--init/);

  const created = await cli(['user', 'create', '--email', 'alice@example.com', '--password-stdin', '--init', '--json'], { DATA_DIR: dataDir }, 'correct horse battery staple');
  assert.equal(created.code, 0, created.stderr);
  assert.equal(JSON.parse(created.stdout).email, 'alice@example.com');
  assert.ok(existsSync(path.join(dataDir, 'pglite')));

  // From now on the database is there: no --init needed, and it holds what was written.
  const again = await cli(['user', 'create', '--email', 'alice@example.com', '--password-stdin'], { DATA_DIR: dataDir }, 'correct horse battery staple');
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already/i);
  assert.match(linesOf(again.stderr)[0]!, new RegExp(`^latchkey: DATA_DIR=${dataDir} \\(embedded database\\), ISSUER=`));
});

test('--init is listed in --help of database commands, not of serve or perform', embeddedOnly, async () => {
  const [userCreate, serve, perform] = await Promise.all([cli(['user', 'create', '--help'], {}), cli(['serve', '--help'], {}), cli(['perform', 'client-credentials', '--help'], {})]);
  assert.match(userCreate.stdout, /--init/);
  assert.doesNotMatch(serve.stdout, /--init/);
  assert.doesNotMatch(perform.stdout, /--init/);
});

test('the target line never shows a DATABASE_URL password', () => {
  const line = describeTarget({ databaseUrl: 'postgresql://latchkey:s3cret-pw@db.internal:5432/latchkey?sslmode=require', dataDir: '/x', issuer: 'https://login.example.com' });
  assert.equal(line, 'DATABASE_URL=postgresql://latchkey@db.internal:5432/latchkey, ISSUER=https://login.example.com');
});

test('serve creates the database on first start, in a DATA_DIR that does not exist yet', async () => {
  const dataDir = path.join(scratch, 'first-start', 'data');
  const latchkey = await startLatchkey({ DATA_DIR: dataDir });
  try {
    if (!latchkey.env.DATABASE_URL) assert.ok(existsSync(path.join(dataDir, 'pglite')));
    const listed = await latchkey.cli(['api', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout.trim(), '(none)');
    const target = latchkey.env.DATABASE_URL ? /^latchkey: DATABASE_URL=postgres(ql)?:\/\/[^:@]*@?[^@]*, ISSUER=/m : new RegExp(`^latchkey: DATA_DIR=${dataDir} \\(embedded database\\), ISSUER=${latchkey.issuer}$`, 'm');
    assert.match(listed.stderr, target);
  } finally {
    await latchkey.stop();
  }
});
