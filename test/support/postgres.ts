/**
 * A throwaway PostgreSQL server for tests: initdb into a fresh /tmp directory, listen on
 * 127.0.0.1 only (on a free port, unix sockets inside that directory), trust authentication
 * for the superuser `latchkey`. PostgreSQL refuses to run as root, so under root the
 * binaries run as `nobody` (via su) in a directory handed over to that user.
 *
 *   const pg = await startPostgres();           // postgres://latchkey@127.0.0.1:<port>/latchkey_test
 *   const url = await createDatabase(pg.url, 'migrator_test');
 *   …
 *   await pg.stop();
 *
 * Binaries: /usr/local/bin, else `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PostgresServer {
  /** postgres://latchkey@127.0.0.1:<port>/latchkey_test */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

const SUPERUSER = 'latchkey';
const UNPRIVILEGED_USER = 'nobody';

function findBinDir(): string {
  const candidates: string[] = ['/usr/local/bin'];
  const fromPgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (fromPgConfig.status === 0 && fromPgConfig.stdout.trim()) candidates.push(fromPgConfig.stdout.trim());
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  }
  const found = candidates.find((dir) => existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'pg_ctl')));
  if (!found) throw new Error(`no PostgreSQL server binaries (initdb, pg_ctl) in ${candidates.join(', ')}; apt-get install -y postgresql`);
  return found;
}

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface Runner {
  /** Runs a PostgreSQL binary (as `nobody` when we are root); throws with its output on failure. */
  run(binary: string, args: string[], cwd: string): void;
  chown(target: string): void;
}

function runner(): Runner {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    return {
      run(binary, args, cwd) {
        const result = spawnSync(binary, args, { cwd, encoding: 'utf8' });
        if (result.status !== 0) throw new Error(`${path.basename(binary)} failed (${result.status}): ${result.stderr || result.stdout}`);
      },
      chown() {},
    };
  }
  const uid = Number(execFileSync('id', ['-u', UNPRIVILEGED_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', UNPRIVILEGED_USER], { encoding: 'utf8' }).trim());
  return {
    run(binary, args, cwd) {
      const command = `cd ${shellQuote(cwd)} && exec ${[binary, ...args].map(shellQuote).join(' ')}`;
      const result = spawnSync('su', [UNPRIVILEGED_USER, '-s', '/bin/sh', '-c', command], { cwd, encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`${path.basename(binary)} failed (${result.status}): ${result.stderr || result.stdout}`);
    },
    chown(target) {
      chownSync(target, uid, gid);
    },
  };
}

export async function startPostgres(): Promise<PostgresServer> {
  const binDir = findBinDir();
  const run = runner();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  run.chown(dir);
  const pgCtl = path.join(binDir, 'pg_ctl');

  let started = false;
  const stopSync = () => {
    if (started) {
      started = false;
      try {
        run.run(pgCtl, ['stop', '-D', dataDir, '-m', 'fast', '-w'], dir);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A test process that ends without calling stop() (a failed assertion in a hook, Ctrl-C, the
  // test runner's timeout) must not leave a server behind: stop it, then die of the signal.
  const onExit = () => stopSync();
  const onSignal = (signal: NodeJS.Signals) => {
    stopSync();
    detach();
    process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const detach = () => {
    process.off('exit', onExit);
    for (const signal of signals) process.off(signal, onSignal);
  };
  process.once('exit', onExit);
  for (const signal of signals) process.once(signal, onSignal);

  try {
    run.run(path.join(binDir, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', SUPERUSER, '-E', 'UTF8', '--locale=C'], dir);
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      // A throwaway server: nothing in it must outlive a crash of the machine, so it does not
      // wait for the disk (the tests kill Latchkey, never PostgreSQL).
      const durabilityOff = '-c fsync=off -c synchronous_commit=off -c full_page_writes=off';
      const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} ${durabilityOff}`;
      try {
        run.run(pgCtl, ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', options], dir);
        started = true;
        break;
      } catch (error) {
        // Another process may have taken the port between probing and binding: retry.
        if (attempt >= 3) {
          const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
          throw new Error(`${(error as Error).message}\n${log}`);
        }
      }
    }
    const url = await createDatabase(`postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`, 'latchkey_test');
    return {
      url,
      port,
      dataDir,
      async stop() {
        detach();
        stopSync();
      },
    };
  } catch (error) {
    detach();
    stopSync();
    throw error;
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates database `name` on the server `url` points at and returns a URL for it (same
 * credentials and host). Fails if it exists: give each test file its own name.
 */
export async function createDatabase(url: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
  } finally {
    await client.end();
  }
  const target = new URL(url);
  target.pathname = `/${encodeURIComponent(name)}`;
  return target.toString();
}

/**
 * Drops the database `url` points at (connecting to the server's `postgres` database to do it).
 * Waits up to `graceMs` for connections still closing (pg's pool.end() resolves before its
 * sockets are gone) before forcing the rest out, so a client that is merely slow to hang up
 * does not get "terminating connection due to administrator command".
 */
export async function dropDatabase(url: string, graceMs = 5000): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  target.pathname = '/postgres';
  const client = new pg.Client({ connectionString: target.toString() });
  await client.connect();
  try {
    const deadline = Date.now() + graceMs;
    for (;;) {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      if ((rows[0]?.n ?? 0) === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
