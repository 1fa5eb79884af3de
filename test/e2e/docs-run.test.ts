/**
 * Docs that run (issue 15): every shell block of README.md and docs/*.md runs as written, in
 * document order, one bash session per document (`set -euo pipefail`), against a fresh server
 * started as the reader starts it (`npm start`, or the document's own server block) with its
 * own DATA_DIR, PORT and ISSUER (and its own database on PostgreSQL). Python blocks marked
 * `run` run with Debian's python3 (authlib, requests, PyJWT) in the same session; TypeScript
 * blocks are type-checked. A block that cannot run says why in a `docs-test: skip — …` comment
 * (test/support/docs-run.ts has the directives). Where a block prints an authorization URL and
 * its directive names a user, the test plays that user's browser.
 *
 * The reader's environment: the machine's PATH (no node_modules/.bin), a directory that looks
 * like the repository root, and `http://localhost:3000` (the issuer the docs assume) meaning the
 * test's server. Each block has a bounded time; nothing waits a fixed time. Documents run two at a
 * time, never two whose blocks listen on the same fixed port (an app's redirect URI).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { actAsBrowser, BashSession, consoleCommands, DocumentScheduler, documentedBlocks, fixedLoopbackPorts, parseDoc, readerPath, scratchCheckout, typeCheckFiles, waitUntil, type DocBlock } from '../support/docs-run.ts';
import { freePort, repoRoot } from '../support/latchkey.ts';
import { createDatabase, dropDatabase } from '../support/postgres.ts';

const BLOCK_TIMEOUT_MS = 240_000;
const SERVER_START_TIMEOUT_MS = 180_000;
const PYTHON = '/usr/bin/python3';

// DOCS_TEST_ONLY=README.md (comma-separated) narrows the run while a doc is being fixed;
// DOCS_TEST_VERBOSE=1 shows what each block printed.
const only = process.env.DOCS_TEST_ONLY?.split(',').filter(Boolean);
const docs = documentedBlocks(repoRoot).filter((d) => !only || only.includes(d.doc));
const runsInShell = (b: DocBlock) => !b.skip && b.lang !== 'ts' && !b.saveAs;
const where = (b: DocBlock) => `${b.doc}:${b.line}`;

test('the documentation has blocks to run, and every skipped one says why', () => {
  const all = docs.flatMap((d) => d.blocks);
  if (!only) assert.ok(all.filter(runsInShell).length >= 10, 'the docs test finds the documentation’s shell blocks');
  for (const d of docs) assert.deepEqual(d.unlabeled, [], `${d.doc}: fenced blocks at these lines name no language (sh, text, json …), so nothing knows whether to run them`);
  for (const b of all) {
    if (b.lang === 'python') assert.ok(b.run || b.skip || b.saveAs, `${where(b)}: a Python block is marked "docs-test: run" or "save-as", or skipped with a reason`);
    assert.ok(!(b.skip && (b.background || b.run || b.browser)), `${where(b)}: skip goes alone`);
    assert.ok(!b.background || b.lang === 'shell', `${where(b)}: only a shell block starts a server`);
  }
});

describe('the docs test itself', () => {
  test('directives: a skip needs its reason, an unknown directive is refused, the rest are read', () => {
    assert.throws(() => parseDoc('x.md', '<!-- docs-test: skip -->\n```sh\nls\n```\n'), /needs a reason/);
    assert.throws(() => parseDoc('x.md', '<!-- docs-test: sometimes -->\n```sh\nls\n```\n'), /unknown docs-test directive/);
    const [python, ts, plain] = parseDoc(
      'x.md',
      "Text\n\n<!-- docs-test: run; browser signs in as a@example.com with 'p w' -->\n\n```python\nprint(1)\n```\n" +
        '<!-- docs-test: ts-prelude declare const a: string; declare const b: number; -->\n```ts\na;\n```\n```json\n{}\n```\n  ```sh\n  ls\n  ```\n',
    );
    assert.deepEqual([python!.lang, python!.line, python!.run, python!.browser], ['python', 5, true, { email: 'a@example.com', password: 'p w' }]);
    assert.equal(ts!.tsPrelude, 'declare const a: string; declare const b: number;');
    assert.deepEqual([plain!.lang, plain!.code, plain!.skip], ['shell', 'ls\n', undefined], 'an indented block, json ignored');
    assert.equal(consoleCommands('$ echo a \\\n  b\noutput\n$ ls\n'), 'echo a \\\n  b\nls\n');
  });

  test('documents run two at a time, never two that listen on the same fixed port', async () => {
    const blocksOf = (code: string) => parseDoc('x.md', `\`\`\`sh\n${code}\n\`\`\`\n`);
    assert.deepEqual(fixedLoopbackPorts(blocksOf('latchkey client create --redirect-uri http://127.0.0.1:8080/callback; curl http://localhost:3000/jwks')), [8080]);
    assert.deepEqual(fixedLoopbackPorts(blocksOf('curl http://localhost:3000/jwks')), []);
    const scheduler = new DocumentScheduler(2);
    const running = new Map<string, number[]>();
    const overlaps: string[] = [];
    let most = 0;
    const doc = (name: string, ports: number[]) =>
      scheduler.run(ports, async () => {
        for (const [other, theirs] of running) if (theirs.some((p) => ports.includes(p))) overlaps.push(`${name} with ${other}`);
        running.set(name, ports);
        most = Math.max(most, running.size);
        for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve)); // long enough for the others to try
        running.delete(name);
      });
    await Promise.all([doc('a', [8080]), doc('b', [8080]), doc('c', []), doc('d', [8080]), doc('e', []), doc('f', [])]);
    assert.deepEqual(overlaps, []);
    assert.equal(most, 2);
  });

  test('a session keeps variables from block to block, and a failing command or an unset variable fails its block', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-docs-self-'));
    const sessions: BashSession[] = [];
    const session = () => {
      const s = new BashSession(dir, { PATH: readerPath() }, path.join(dir, `fifo-${sessions.length}`));
      sessions.push(s);
      return s;
    };
    try {
      const one = session();
      assert.equal((await one.run('GREETING=hello', 10_000)).trim(), '');
      assert.equal((await one.run('echo "$GREETING"', 10_000)).trim(), 'hello');
      await assert.rejects(one.run('false\necho not reached', 10_000), /bash exited with 1/);
      await assert.rejects(session().run('echo "$NOT_SET"', 10_000), /bash exited with 1/);
      await assert.rejects(session().run('false | cat', 10_000), /bash exited with 1/);
    } finally {
      for (const s of sessions) await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Two documents at a time: one document's commands run one after another (npm, node, its server),
// so a single document leaves the second core mostly idle. Each still has its own server and database.
const scheduler = new DocumentScheduler(2);

describe('each document, with a fresh server of its own', { concurrency: true }, () => {
  for (const { doc, blocks } of docs) {
    if (!blocks.some(runsInShell)) continue;
    test(`${doc}: every shell and Python block runs as written`, { timeout: 20 * 60_000 }, (t) => scheduler.run(fixedLoopbackPorts(blocks), async () => {
      const work = mkdtempSync(path.join(os.tmpdir(), 'latchkey-docs-'));
      const checkout = scratchCheckout(repoRoot, path.join(work, 'checkout'));
      const port = await freePort();
      const issuer = `http://127.0.0.1:${port}`;
      const databaseUrl = process.env.TEST_DATABASE_URL ? await createDatabase(process.env.TEST_DATABASE_URL, `lk_docs_${randomBytes(5).toString('hex')}`) : undefined;
      const env: NodeJS.ProcessEnv = {
        PATH: readerPath(),
        HOME: process.env.HOME,
        LANG: 'C.UTF-8',
        DATA_DIR: path.join(work, 'data'),
        PORT: String(port),
        HOST: '127.0.0.1',
        ISSUER: issuer,
        ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      };
      const session = new BashSession(checkout, env, path.join(work, 'script.fifo'));
      const asWritten = (code: string) => code.replaceAll('http://localhost:3000', issuer);
      let server: { pid: number; log: string } | undefined;
      const startsOwnServer = blocks.some((b) => b.background && !b.skip);

      const startServer = async (code: string, line: string) => {
        const log = path.join(work, `server-${line.replace(/\W+/g, '_')}.log`);
        const pid = await session.background(code, log, 30_000);
        server = { pid, log };
        const alive = () => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        };
        const ready = await waitUntil(async () => {
          if (!alive()) return true;
          return fetch(`${issuer}/readyz`).then((r) => r.ok, () => false);
        }, SERVER_START_TIMEOUT_MS);
        const output = () => readFileSync(log, 'utf8');
        assert.ok(ready && alive(), `${line}: the server did not become ready at ${issuer}/readyz:\n${output()}`);
      };

      try {
        for (const block of blocks) {
          const id = where(block);
          if (block.skip) {
            t.diagnostic(`${id} ${block.lang}: skipped — ${block.skip}`);
            continue;
          }
          const code = asWritten(block.lang === 'console' ? consoleCommands(block.code) : block.code);
          if (block.saveAs) {
            writeFileSync(path.join(checkout, block.saveAs), code);
            t.diagnostic(`${id} ${block.lang}: saved as ${block.saveAs}, as the reader is told to${block.lang === 'ts' ? ' (and type-checked below)' : ''}`);
            continue;
          }
          if (block.lang === 'ts') continue; // type-checked below
          if (block.background) {
            await startServer(code, id);
            t.diagnostic(`${id} ${block.lang}: ran in the background; the server answered /readyz`);
            continue;
          }
          // A document that starts its own server runs the blocks before that without one.
          if (!server && !startsOwnServer) await startServer('npm start', `${id} (the server the document assumes, started with npm start)`);

          let command = code;
          if (block.lang === 'python') {
            const file = path.join(work, `block-${block.line}.py`);
            writeFileSync(file, code);
            command = `${PYTHON} '${file}'`;
          }
          // The user's browser, where the block prints an authorization URL to open.
          const followed = new Set<string>();
          const browsing: Promise<unknown>[] = [];
          let browserFailed: (error: unknown) => void = () => {};
          const browserFailure = new Promise<never>((_, reject) => (browserFailed = reject));
          browserFailure.catch(() => {});
          // Only a URL already followed by a space or line end: output arrives in chunks, and half a URL is not one.
          const authUrl = new RegExp(`${issuer.replace(/[.]/g, '\\.')}/auth\\?[^\\s'"<>]+(?=[\\s'"<>])`, 'g');
          const watch = block.browser
            ? (output: string) => {
                for (const [url] of output.matchAll(authUrl)) {
                  if (followed.has(url)) continue;
                  followed.add(url);
                  browsing.push(actAsBrowser(url, issuer, block.browser!).catch((error) => browserFailed(error)));
                }
              }
            : undefined;
          try {
            const output = await Promise.race([session.run(command, BLOCK_TIMEOUT_MS, watch), browserFailure]);
            await Promise.all(browsing);
            if (process.env.DOCS_TEST_VERBOSE) t.diagnostic(`${id} printed:\n${output}`);
          } catch (error) {
            throw new Error(`${id} (${block.lang}) failed as written:\n${block.code}\n${(error as Error).message}${server ? `\n--- server log (tail) ---\n${readFileSync(server.log, 'utf8').slice(-3000)}` : ''}`);
          }
          if (block.browser) assert.ok(followed.size > 0, `${id}: the block printed no authorization URL for the browser to open`);
          t.diagnostic(`${id} ${block.lang}: ran${block.browser ? ` (browser signed in as ${block.browser.email})` : ''}`);
        }
      } finally {
        await session.close();
        if (databaseUrl) await dropDatabase(databaseUrl).catch(() => {});
        rmSync(work, { recursive: true, force: true });
      }
    }));
  }
});

describe('TypeScript blocks', () => {
  const tsBlocks = docs.flatMap((d) => d.blocks).filter((b) => b.lang === 'ts');
  // A static check: in the PostgreSQL pass it would be the PGlite pass's run again.
  const checkedInPglitePass = process.env.TEST_DATABASE_URL ? 'the PostgreSQL pass: type-checked in the PGlite pass' : false;
  if (tsBlocks.length) test('every TypeScript block type-checks (strict), with the declarations its directive names', { timeout: 5 * 60_000, skip: checkedInPglitePass }, async (t) => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'latchkey-docs-ts-'));
    try {
      const checked = tsBlocks.filter((b) => !b.skip);
      for (const b of tsBlocks.filter((b) => b.skip)) t.diagnostic(`${where(b)} ts: skipped — ${b.skip}`);
      const { files, tsconfig } = typeCheckFiles(repoRoot, work, checked);
      const result = await new Promise<{ code: number; output: string }>((resolve) => {
        const tsc = spawn(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', tsconfig, '--pretty', 'false'], { cwd: work });
        let output = '';
        tsc.stdout.on('data', (d) => (output += d));
        tsc.stderr.on('data', (d) => (output += d));
        tsc.on('close', (code) => resolve({ code: code ?? -1, output }));
      });
      // Name the doc and line of each error instead of the generated file.
      const explained = result.output.replace(/^(\S+?\.ts)\((\d+),(\d+)\)/gm, (all, file: string, line: string) => {
        const block = files.get(path.basename(file));
        return block ? `${block.doc}:${block.line + Number(line) - 1} (block at line ${block.line})` : all;
      });
      assert.equal(result.code, 0, `TypeScript blocks do not type-check:\n${explained}`);
      for (const b of checked) t.diagnostic(`${where(b)} ts: type-checked`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
