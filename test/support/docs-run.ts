/**
 * Runs documentation as a reader would (issue 15, "Docs that run"; test/e2e/docs-run.test.ts).
 *
 * Every fenced block in README.md and docs/*.md whose language is sh, bash, shell, console,
 * python or ts is accounted for. The line right before a block (blank lines aside) may hold
 * directives, `;`-separated, in an HTML comment the rendered page does not show:
 *
 *   <!-- docs-test: skip — why it cannot run -->          not run; the reason is required
 *   <!-- docs-test: background -->                         a server start: run in the background,
 *                                                          then wait until ISSUER/readyz answers
 *   <!-- docs-test: run -->                                a Python block that runs (python3)
 *   <!-- docs-test: browser signs in as E-MAIL with 'PASSWORD' -->
 *                                                          while the block runs, every
 *                                                          authorization URL it prints is followed
 *                                                          as a user would: sign in, allow, and on
 *                                                          to the app's redirect URI
 *   <!-- docs-test: save-as flow.ts -->                    the reader saves the block as this file
 *                                                          (in the directory the commands run in);
 *                                                          a later block runs it
 *   <!-- docs-test: ts-prelude declare const X: string; -->
 *                                                          declarations a TypeScript fragment
 *                                                          takes from its surroundings
 *
 * Shell blocks run in one bash session per document (`set -euo pipefail`, variables carry
 * from block to block) in a scratch directory that looks like the repository root (a link to
 * each of its entries), so files the docs write land there. `http://localhost:3000`, the
 * issuer the docs assume, means the test's own server. TypeScript blocks are type-checked.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type Lang = 'shell' | 'console' | 'python' | 'ts';

export interface DocBlock {
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: Lang;
  code: string;
  skip?: string;
  background?: boolean;
  run?: boolean;
  browser?: { email: string; password: string };
  tsPrelude?: string;
  saveAs?: string;
}

const LANGS: Record<string, Lang> = { sh: 'shell', bash: 'shell', shell: 'shell', console: 'console', python: 'python', py: 'python', ts: 'ts', typescript: 'ts' };

/** The fenced blocks of one Markdown file with their directives; throws on a malformed directive. */
export function parseDoc(doc: string, text: string): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open;
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== fence) end++;
    const body = lines.slice(i + 1, end).map((l) => (l.startsWith(indent!) ? l.slice(indent!.length) : l.trimStart()));
    const lang = LANGS[info!.toLowerCase()];
    const opening = i;
    i = end;
    if (!lang) continue;
    const block: DocBlock = { doc, line: opening + 1, lang, code: body.join('\n') + '\n' };
    let before = opening - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const directive = before >= 0 ? /^\s*<!--\s*docs-test:\s*([\s\S]*?)\s*-->\s*$/.exec(lines[before]!) : null;
    if (directive) {
      // A skip's reason and a ts-prelude (always last) are free text, semicolons included;
      // other directives are `;`-separated.
      const text = directive[1]!;
      const preludeAt = text.search(/(^|;)\s*ts-prelude\s/);
      const head = preludeAt < 0 ? text : text.slice(0, preludeAt);
      const parts = /^skip\b/.test(text) ? [text] : head.split(';').map((p) => p.trim()).filter(Boolean);
      if (preludeAt >= 0) parts.push(text.slice(preludeAt).replace(/^;?\s*/, ''));
      for (const part of parts) {
        const where = `${doc}:${opening + 1}`;
        let m: RegExpExecArray | null;
        if ((m = /^skip(?:\s*[—–:-]\s*(.*))?$/s.exec(part))) {
          const reason = m[1]?.trim() ?? '';
          assert.ok(reason.length >= 10, `${where}: "docs-test: skip" needs a reason ("skip — why it cannot run")`);
          block.skip = reason;
        } else if (part === 'background') block.background = true;
        else if (part === 'run') block.run = true;
        else if ((m = /^browser signs in as (\S+) with '([^']+)'$/.exec(part))) block.browser = { email: m[1]!, password: m[2]! };
        else if ((m = /^ts-prelude\s+([\s\S]+)$/.exec(part))) block.tsPrelude = m[1]!;
        else if ((m = /^save-as ([\w.-]+)$/.exec(part))) block.saveAs = m[1]!;
        else assert.fail(`${where}: unknown docs-test directive "${part}"`);
      }
    }
    blocks.push(block);
  }
  return blocks;
}

/** Lines of opening fences without a language (a command could hide there, never run). */
export function unlabeledFences(text: string): number[] {
  const lines = text.split('\n');
  const found: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    if (!open[3]) found.push(i + 1);
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== open[2]) end++;
    i = end;
  }
  return found;
}

/** README.md and docs/*.md, in that order, as the test runs them. */
export function documentedBlocks(repoRoot: string): Array<{ doc: string; blocks: DocBlock[]; unlabeled: number[] }> {
  const docs = ['README.md', ...readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  return docs.map((doc) => {
    const text = readFileSync(path.join(repoRoot, doc), 'utf8');
    return { doc, blocks: parseDoc(doc, text), unlabeled: unlabeledFences(text) };
  });
}

/** The commands of a ```console block: lines after `$ ` (with their `\` continuations); the rest is output. */
export function consoleCommands(code: string): string {
  const out: string[] = [];
  let continuing = false;
  for (const line of code.split('\n')) {
    if (continuing || line.startsWith('$ ')) {
      out.push(continuing ? line : line.slice(2));
      continuing = line.endsWith('\\');
    }
  }
  return out.join('\n') + '\n';
}

/**
 * A directory that looks like the repository root to a reader's commands (`npm run`, `npm start`,
 * `sh examples/…`): a symbolic link to each top-level entry, except the git metadata and local
 * state (data/, tmp/, .env), so what the docs write stays out of the working tree.
 */
export function scratchCheckout(repoRoot: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(repoRoot)) {
    if (['.git', 'data', 'tmp', '.env'].includes(name)) continue;
    symlinkSync(path.join(repoRoot, name), path.join(dir, name));
  }
  return dir;
}

/** The reader's PATH: the machine's, without any node_modules/.bin that `npm test` put first. */
export function readerPath(): string {
  return (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin')
    .split(':')
    .filter((p) => p && !p.includes(`${path.sep}node_modules${path.sep}`) && !p.endsWith(`${path.sep}node_modules`) && !p.includes('node-gyp-bin'))
    .join(':');
}

/**
 * One bash session: blocks are written to it through a named pipe it reads its script from (stdin is
 * /dev/null, so no command can swallow the script), each followed by a marker line. A failing
 * command ends the session (`set -e`), which fails the block.
 */
export class BashSession {
  private proc: ChildProcess;
  private output = '';
  private exited: Promise<number>;
  private exitCode: number | undefined;
  private count = 0;
  private listeners = new Set<() => void>();

  private script: WriteStream;

  /** `fifo`: a path for the named pipe bash reads its script from. */
  constructor(cwd: string, env: NodeJS.ProcessEnv, fifo: string) {
    execFileSync('mkfifo', ['-m', '600', fifo]);
    this.proc = spawn('bash', ['--noprofile', '--norc', fifo], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.script = createWriteStream(fifo);
    const take = (d: Buffer) => {
      this.output += d.toString();
      for (const l of this.listeners) l();
    };
    this.proc.stdout!.on('data', take);
    this.proc.stderr!.on('data', take);
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : -1);
        for (const l of this.listeners) l();
        resolve(this.exitCode);
      }),
    );
    this.write('set -euo pipefail\n');
  }

  private write(text: string) {
    this.script.write(text);
  }

  /** Everything the session printed from `from` on. */
  since(from: number): string {
    return this.output.slice(from);
  }

  get length(): number {
    return this.output.length;
  }

  /** Resolves when `check()` holds (re-checked on output and exit), or rejects after `timeoutMs`. */
  waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        fn();
      };
      const listener = () => {
        try {
          const value = check();
          if (value !== undefined) done(() => resolve(value));
        } catch (error) {
          done(() => reject(error));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`))), timeoutMs);
      this.listeners.add(listener);
      listener();
    });
  }

  /**
   * Runs `code`; resolves with what it printed. `onOutput` sees the block's output as it grows
   * (e.g. to act as the browser). Rejects if the session ends (a command failed) or on timeout.
   */
  async run(code: string, timeoutMs: number, onOutput?: (output: string) => void): Promise<string> {
    const n = ++this.count;
    const marker = `@@docs-test block ${n} done@@`;
    const from = this.output.length;
    this.write(`${code}\nprintf '\\n%s\\n' '${marker}'\n`);
    const watcher = onOutput ? () => onOutput(this.since(from)) : undefined;
    if (watcher) this.listeners.add(watcher);
    try {
      return await this.waitFor(
        () => {
          const out = this.since(from);
          if (out.includes(`\n${marker}\n`)) return out.slice(0, out.indexOf(`\n${marker}\n`));
          if (this.exitCode !== undefined) throw new Error(`the block failed (bash exited with ${this.exitCode}); output:\n${out}`);
          return undefined;
        },
        timeoutMs,
        `the block to finish; output so far:\n${this.since(from)}`,
      );
    } finally {
      if (watcher) this.listeners.delete(watcher);
    }
  }

  /** Starts `code` in the background (its output to `logFile`); resolves with its process id. */
  async background(code: string, logFile: string, timeoutMs: number): Promise<number> {
    const n = ++this.count;
    const from = this.output.length;
    this.write(`{\n${code}\n} > '${logFile}' 2>&1 &\nprintf '\\n@@docs-test background ${n} %s@@\\n' "$!"\n`);
    const pattern = new RegExp(`@@docs-test background ${n} (\\d+)@@`);
    return this.waitFor(() => {
      const m = pattern.exec(this.since(from));
      if (m) return Number(m[1]);
      if (this.exitCode !== undefined) throw new Error(`bash exited with ${this.exitCode}:\n${this.since(from)}`);
      return undefined;
    }, timeoutMs, 'the background start');
  }

  /** Ends the session and everything it started (its own process group). */
  async close(): Promise<void> {
    this.script.end();
    if (this.exitCode === undefined) {
      const exited = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      if (!exited) this.proc.kill('SIGKILL');
    }
    // Background servers started by the docs (`npm start &`) share the session's process group.
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      try {
        process.kill(-this.proc.pid!, signal);
      } catch {
        return; // the group is empty
      }
      if (signal === 'SIGTERM') await waitUntil(() => !groupAlive(this.proc.pid!), 10_000);
    }
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The fixed loopback ports a document's blocks name, other than the issuer's: an app's redirect
 * URI such as http://127.0.0.1:8080/callback, which the app or `latchkey perform` listens on.
 */
export function fixedLoopbackPorts(blocks: DocBlock[], issuerPort = 3000): number[] {
  const ports = new Set<number>();
  for (const block of blocks.filter((b) => !b.skip)) {
    for (const [, port] of block.code.matchAll(/(?:127\.0\.0\.1|localhost|\[::1\]):(\d{2,5})\b/g)) ports.add(Number(port));
  }
  ports.delete(issuerPort);
  return [...ports].sort((a, b) => a - b);
}

/**
 * Runs documents a few at a time, each with its own server, and never two that listen on the
 * same fixed port at once. A document waiting for its turn holds no place, so the others go by.
 */
export class DocumentScheduler {
  private running = 0;
  private readonly portsInUse = new Set<number>();
  private waiting: Array<() => void> = [];

  private readonly atOnce: number;

  constructor(atOnce: number) {
    this.atOnce = atOnce;
  }

  async run<T>(ports: number[], work: () => Promise<T>): Promise<T> {
    while (this.running >= this.atOnce || ports.some((p) => this.portsInUse.has(p))) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running++;
    for (const p of ports) this.portsInUse.add(p);
    try {
      return await work();
    } finally {
      this.running--;
      for (const p of ports) this.portsInUse.delete(p);
      // Everyone waiting looks again, in the order they came.
      for (const wake of this.waiting.splice(0)) wake();
    }
  }
}

/** Polls `check` every 100 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * A user in a browser, without one: follows an authorization URL through Latchkey's sign-in
 * and consent pages (allowing what is preselected) and then to the app's redirect URI, which
 * it requests, as a browser would, so the app (a loopback listener) gets its code.
 */
export async function actAsBrowser(url: string, issuer: string, login: { email: string; password: string }): Promise<string> {
  const jar = new Map<string, string>();
  const request = async (target: string | URL, init: RequestInit = {}) => {
    const res = await fetch(new URL(target, issuer), { ...init, headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') }, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      if (pair!.slice(eq + 1)) jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      else jar.delete(pair!.slice(0, eq));
    }
    return res;
  };
  let res = await request(url);
  for (let step = 0; step < 15; step++) {
    if (res.status >= 300 && res.status < 400) {
      const location = new URL(res.headers.get('location')!, res.url || issuer);
      await res.arrayBuffer();
      if (location.origin !== new URL(issuer).origin) {
        // The app's redirect URI: the browser lands there.
        const landed = await fetch(location, { redirect: 'manual' });
        await landed.arrayBuffer();
        return location.href;
      }
      res = await request(location);
      continue;
    }
    const html = await res.text();
    assert.equal(res.status, 200, `the browser got ${res.status} at ${res.url}: ${html.slice(0, 300)}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    const action = /<form method="post" action="([^"]+\/(login|confirm))"/.exec(html);
    assert.ok(csrf && action, `a sign-in or consent form at ${res.url}`);
    const fields: Record<string, string> = action[2] === 'login' ? { csrf, ...login } : { csrf, decision: 'allow' };
    if (action[2] === 'confirm') for (const [, name, value] of html.matchAll(/name="(access:[^"]+)" value="([^"]+)"/g)) fields[name!] ??= value!;
    res = await request(action[1]!, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams(fields) });
  }
  throw new Error('the authorization never reached the app’s redirect URI');
}

/** Writes each TypeScript block (after its prelude) as a module and type-checks them together. */
export function typeCheckFiles(repoRoot: string, dir: string, blocks: DocBlock[]): { files: Map<string, DocBlock>; tsconfig: string } {
  mkdirSync(dir, { recursive: true });
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'));
  const files = new Map<string, DocBlock>();
  for (const block of blocks) {
    const name = `${block.doc.replace(/[^\w]+/g, '_')}_${block.line}.ts`;
    // Line numbers of errors point into the block: the prelude shares the first line.
    writeFileSync(path.join(dir, name), `${block.tsPrelude ?? ''} export {};\n${block.code}`);
    files.set(name, block);
  }
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  const tsconfig = path.join(dir, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      compilerOptions: {
        target: 'ES2023',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
        lib: ['ES2023', 'DOM'],
        // The kit as an app imports it (package.json "exports"); here, its sources.
        paths: {
          'latchkey/resource-server': [path.join(repoRoot, 'src/resource-server/index.ts')],
          '@latchkey/resource-server': [path.join(repoRoot, 'src/resource-server/index.ts')],
        },
        allowImportingTsExtensions: true,
      },
      files: [...files.keys()],
    }),
  );
  return { files, tsconfig };
}
