/**
 * Logs (issue 15): readable lines on a terminal — the listening URL and the next step first —
 * and JSON when standard output is not a terminal or LOG_FORMAT=json. The terminal is a real
 * pseudo-terminal (util-linux `script`), the server the real one, started as `npm start` does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { prettyLine } from '../../src/logger.ts';
import { createDatabase, dropDatabase } from '../support/postgres.ts';
import { freePort, repoRoot, testServerArgs, testServerEnv, startLatchkey } from '../support/latchkey.ts';
import { waitFor } from '../support/wait.ts';

const SCRIPT = '/usr/bin/script';
const scratch = mkdtempSync(path.join(os.tmpdir(), 'latchkey-logs-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Lines that are not the compiler's note (another engineer's change can trigger a rebuild). */
const logLines = (output: string) => output.replace(/\r/g, '').split('\n').filter((l) => l.trim() && !/^latchkey: compiled \d+ files/.test(l));

/** Runs the server on a pseudo-terminal until `until(output)`, then a request, then stops it. */
async function serveOnTerminal(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const databaseUrl = process.env.TEST_DATABASE_URL ? await createDatabase(process.env.TEST_DATABASE_URL, `lk_${randomBytes(6).toString('hex')}`) : undefined;
  const issuer = `http://127.0.0.1:${port}`;
  const command = ['exec', process.execPath, ...testServerArgs].map((w) => `'${w}'`).join(' ');
  const child = spawn(SCRIPT, ['-qfec', command, '/dev/null'], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TERM: 'dumb',
      NO_COLOR: '1',
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: issuer,
      DATA_DIR: path.join(scratch, `data-${port}`),
      ...testServerEnv,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  try {
    const deadline = Date.now() + 120_000;
    while (!(await fetch(`${issuer}/readyz`).then((r) => r.ok, () => false))) {
      if (child.exitCode !== null || Date.now() > deadline) assert.fail(`the server did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // One request, then wait for its log line (the request log is written when the response ends).
    await (await fetch(`${issuer}/.well-known/openid-configuration`)).arrayBuffer();
    while (!output.includes('openid-configuration') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return output;
  } finally {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('close', () => resolve());
      child.kill('SIGTERM');
    });
    if (databaseUrl) await dropDatabase(databaseUrl).catch(() => {});
  }
}

// Each server has its own port and DATA_DIR: the three start side by side.
describe('the server as started', { concurrency: true }, () => {
  test('on a terminal: readable lines, the listening URL and the next step first, no JSON', { skip: existsSync(SCRIPT) ? false : `${SCRIPT} (util-linux) is not installed` }, async () => {
    const output = await serveOnTerminal({});
    const lines = logLines(output);
    assert.match(lines[0]!, /^\d\d:\d\d:\d\d INFO  Latchkey is listening on http:\/\/127\.0\.0\.1:\d+  issuer=http:\/\/127\.0\.0\.1:\d+ port=\d+ database=(pglite|postgres)/, output);
    assert.match(lines[1]!, /^ {15}next: add a user and an app with the latchkey command, then get a token \(README, "From nothing to a token"\); users sign in at http:\/\/127\.0\.0\.1:\d+\/account$/);
    assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d INFO  GET \/\.well-known\/openid-configuration 200 \d+ms/.test(l)), output);
    assert.ok(!lines.some((l) => l.trimStart().startsWith('{')), `no JSON on a terminal:\n${output}`);
    // What was logged while starting (a fresh PostgreSQL database is migrated) follows, not precedes, it.
    if (process.env.TEST_DATABASE_URL) assert.ok(lines.slice(2).some((l) => /INFO  database migrated/.test(l)), output);
  });

  test('LOG_FORMAT=json on a terminal: JSON lines', { skip: existsSync(SCRIPT) ? false : `${SCRIPT} (util-linux) is not installed` }, async () => {
    const lines = logLines(await serveOnTerminal({ LOG_FORMAT: 'json' }));
    const entries = lines.map((l) => JSON.parse(l));
    const listening = entries.find((e) => e.msg === 'Latchkey is listening');
    assert.match(listening.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(listening.level, 30);
  });

  test('not a terminal (a pipe): JSON lines, the listening one with url, issuer and next', async () => {
    const latchkey = await startLatchkey();
    try {
      // The server answered; its line may still be on its way through the pipe.
      await waitFor('the "Latchkey is listening" line', () => (latchkey.output().includes('"msg":"Latchkey is listening"') ? true : undefined));
      const entries = logLines(latchkey.output()).map((l) => JSON.parse(l));
      const listening = entries.find((e) => e.msg === 'Latchkey is listening');
      assert.equal(listening.issuer, latchkey.issuer);
      assert.equal(listening.url, latchkey.issuer);
      assert.match(listening.next, /From nothing to a token/);
    } finally {
      await latchkey.stop();
    }
  });
});

test('a pretty line keeps redaction and puts an error stack under the line', () => {
  const line = prettyLine(JSON.stringify({ level: 50, time: Date.UTC(2026, 0, 1), msg: 'purge failed', password: '[redacted]', err: { message: 'boom', stack: 'Error: boom\n    at purge (x.ts:1:1)' } }));
  const [first, ...stack] = line.trimEnd().split('\n');
  assert.match(first!, /^\d\d:\d\d:\d\d ERROR purge failed  password=\[redacted\]$/);
  assert.deepEqual(stack, [`${' '.repeat(15)}Error: boom`, `${' '.repeat(15)}    at purge (x.ts:1:1)`]);
  assert.equal(prettyLine('not json'), 'not json\n');
});
