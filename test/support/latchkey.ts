/**
 * Starts the real Latchkey server as a child process, on a free port with a fresh database:
 * an embedded PGlite in a temporary DATA_DIR, or — when TEST_DATABASE_URL is set — a fresh
 * database on that PostgreSQL server. Also runs the real `latchkey` CLI against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../../scripts/build.js';
import { callControlSocket } from '../../src/admin/control-socket.ts';
import { operationOf } from '../../src/cli/commands.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createDatabase, dropDatabase } from './postgres.ts';
import { traceDirOfThisFile } from './sql-coverage.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sqlTraceDir = traceDirOfThisFile();
const nodeBinary = process.execPath;

// The tests run what users run: the server compiled into dist/, started with the Node options of
// `npm start` (package.json), and the `latchkey` command (src/cli/bin.js). Compiled again here if
// the sources changed since the last build, so a stale dist/ is never what gets tested.
await ensureBuilt();
/**
 * `npm start`'s command line: the environment assignments before `node` (e.g. MALLOC_ARENA_MAX=2)
 * and the arguments after it (e.g. ['--max-semi-space-size=16', 'dist/cli/main.js', 'serve']).
 */
const startCommand = (() => {
  const start: string = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).scripts.start;
  const words = start.trim().split(/\s+/);
  const assignments = words.slice(0, words.indexOf('node'));
  const args = words.slice(words.indexOf('node') + 1);
  if (!words.includes('node') || !args.includes('dist/cli/main.js') || !assignments.every((a) => /^[A-Z_][A-Z0-9_]*=\S*$/.test(a))) {
    throw new Error(`unexpected start script in package.json: ${start}`);
  }
  return { env: Object.fromEntries(assignments.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)])) as Record<string, string>, args };
})();
export const serverArgs: string[] = startCommand.args;
/** `npm start`'s environment assignments, exactly: the benchmark (test/bench/run.ts) starts the server with them. */
export const serverEnv: Record<string, string> = startCommand.env;

/**
 * Pure: an environment without glibc's transparent-huge-page tunable (`glibc.malloc.hugetlb` in
 * GLIBC_TUNABLES), every other assignment and tunable kept.
 */
function withoutHugePageTunable(env: Record<string, string>): Record<string, string> {
  const { GLIBC_TUNABLES: tunables, ...rest } = env;
  const kept = (tunables ?? '').split(':').filter((t) => t && !t.startsWith('glibc.malloc.hugetlb='));
  return kept.length ? { ...rest, GLIBC_TUNABLES: kept.join(':') } : rest;
}

/**
 * The test servers' environment: `npm start`'s without `glibc.malloc.hugetlb=1`. That tunable
 * pays off in a long-running server (argon2's 19 MiB per hash in ~10 page faults instead of
 * ~4,900: ~14 ms less CPU per sign-in, docs/operations.md "Memory") but puts every malloc arena
 * in huge pages, which a short-lived server pays for while it warms up: measured on this 2-core
 * machine, ~1 s more CPU per start and twice the CPU per test file's server (9.4 → 4.6 s over
 * four files, most of it in the kernel clearing 2 MiB pages). What the server does is the same.
 */
export const testServerEnv: Record<string, string> = withoutHugePageTunable(serverEnv);

/**
 * The test servers' Node arguments: `npm start`'s, with WebAssembly compiled by V8's baseline
 * compiler only (`--liftoff-only`). The embedded PostgreSQL is WebAssembly; a server that runs
 * for days earns back the optimizing compiler's work, a test's server (10 s to a few minutes)
 * does not: measured, four files' servers 18.8 → 12.6 s of CPU, the fuzz's server (23,000
 * requests) 17.1 → 14.9 s. The benchmark keeps `npm start`'s arguments (`serverArgs`).
 */
export const testServerArgs: string[] = ['--liftoff-only', ...serverArgs];
const cliBin = 'src/cli/bin.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export const backend = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';

/** How long a stopped server may take to exit before it is killed (see waitExit). */
const STOP_GRACE_MS = 30_000;

export interface Latchkey {
  issuer: string;
  env: NodeJS.ProcessEnv;
  /** Everything the server printed so far (stdout + stderr). */
  output(): string;
  /** Process id of the running server (it changes on restart), e.g. to read /proc/<pid>/status. */
  pid(): number | undefined;
  /** `options.env` adds to or overrides the server's environment for this command only. */
  cli(args: string[], options?: { stdin?: string; env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs a CLI command with --json and returns the parsed result, failing loudly otherwise. */
  cliJson<T = any>(args: string[], options?: { stdin?: string; env?: Record<string, string> }): Promise<T>;
  /**
   * For set-up, where the `latchkey` command itself is not what is tested: the same command line,
   * parsed and turned into its operation by the CLI's own code (src/cli/commands.ts operationOf),
   * sent to the server's control socket from this process, as the command would send it, without
   * starting a process per command (about 0.2 s of CPU each). The result is what cliJson would
   * return. A command that does its work in its own process, an `options.env` override, or a
   * server that does not answer on the socket: the real command runs (cliJson).
   */
  operate<T = any>(args: string[], options?: { stdin?: string; env?: Record<string, string> }): Promise<T>;
  stop(): Promise<void>;
  /** Stops the process with SIGKILL (a crash), keeping its data for a restart. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the process gracefully (SIGTERM), keeping its data, so the CLI can work on a stopped server. */
  pause(): Promise<void>;
  /** Starts the process again after pause() or kill(), on the same port, data and database. */
  resume(): Promise<void>;
}

/**
 * `options.hostname` sets the ISSUER's host (default 127.0.0.1); WebAuthn tests use
 * 'localhost' because browsers refuse an IP address as the relying party ID.
 */
export async function startLatchkey(extraEnv: Record<string, string> = {}, options: { hostname?: string } = {}): Promise<Latchkey> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-test-'));
  const port = await freePort();
  const databaseUrl = process.env.TEST_DATABASE_URL
    ? await createDatabase(process.env.TEST_DATABASE_URL, `lk_${randomBytes(6).toString('hex')}`)
    : undefined;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://${options.hostname ?? '127.0.0.1'}:${port}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ...testServerEnv,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    // test/run.ts compares the SQL its two passes ran (src/storage/sql-trace.ts), file by file.
    ...(sqlTraceDir ? { SQL_TRACE_DIR: sqlTraceDir } : {}),
    ...extraEnv,
  };
  let child: ChildProcess | undefined;
  let log = '';

  // This process's own port, not the ISSUER: behind a load balancer (scale-out.test.ts) the ISSUER
  // may be answered by another instance while this one is still starting.
  const issuerPath = new URL(env.ISSUER!).pathname.replace(/\/$/, '');
  const readinessUrl = `http://${env.HOST}:${env.PORT}${issuerPath}/.well-known/openid-configuration`;

  const launch = async () => {
    child = spawn(nodeBinary, testServerArgs, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    // Generous on a loaded 2-core machine; a server that never answers is killed, so the test
    // process can end (a live child would keep it waiting forever).
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`latchkey exited with ${child.exitCode}:\n${log}`);
      const ok = await fetch(readinessUrl).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`latchkey did not start within 120 s:\n${log}`);
  };

  // A SIGTERM'd Node process has been seen to hang in exit for good (the main thread and a V8
  // compiler thread waiting on each other, nodejs/node#54918): after STOP_GRACE_MS it is killed,
  // and says so, so one stuck process cannot hang the whole suite. A test that depends on a clean
  // stop (what the server writes on SIGTERM) then fails on its own assertions.
  const waitExit = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return resolve();
      const timer = setTimeout(() => {
        process.stderr.write(`latchkey (pid ${running.pid}) did not exit ${STOP_GRACE_MS / 1000} s after ${signal}: killed\n`);
        running.kill('SIGKILL');
      }, STOP_GRACE_MS);
      running.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      running.kill(signal);
    });

  await launch();

  const cli: Latchkey['cli'] = (args, options = {}) =>
    new Promise((resolve) => {
      const proc = spawn(nodeBinary, [cliBin, ...args], { cwd: repoRoot, env: { ...env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d) => (stdout += d));
      proc.stderr.on('data', (d) => (stderr += d));
      proc.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      proc.stdin.end(options.stdin ?? '');
    });

  const cliJson: Latchkey['cliJson'] = async (args, options) => {
    const result = await cli([...args, '--json'], options);
    if (result.code !== 0) throw new Error(`latchkey ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
    return JSON.parse(result.stdout);
  };

  // What the command would read from this environment to find and address the socket; undefined:
  // a setting it refuses (then the command runs, and reports it).
  const socketTarget = (() => {
    try {
      return loadConfig(env);
    } catch {
      return undefined;
    }
  })();

  const operate: Latchkey['operate'] = async (args, options = {}) => {
    const planned = options.env ? undefined : await operationOf(args, () => options.stdin ?? '');
    if (!planned || !socketTarget) return cliJson(args, options);
    const answer = await callControlSocket(socketTarget, planned.operation, planned.input);
    if (!answer) return cliJson(args, options);
    if (answer.error !== undefined) throw new Error(`latchkey ${args.join(' ')} failed (${answer.kind}): ${answer.error}`);
    return answer.result as any;
  };

  return {
    issuer: env.ISSUER!,
    env,
    output: () => log,
    pid: () => child?.pid,
    cli,
    cliJson,
    operate,
    async stop() {
      await waitExit('SIGTERM');
      if (databaseUrl) await dropDatabase(databaseUrl).catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
    async kill() {
      await waitExit('SIGKILL');
    },
    async restart() {
      await waitExit('SIGTERM');
      await launch();
    },
    async pause() {
      await waitExit('SIGTERM');
    },
    async resume() {
      if (child && child.exitCode === null && child.signalCode === null) throw new Error('latchkey is still running; pause() it first');
      await launch();
    },
  };
}
