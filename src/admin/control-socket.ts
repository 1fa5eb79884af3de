import { lstatSync, mkdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config/config.ts';
import { answerFor } from '../errors.ts';
import { keyFingerprint } from '../crypto/key-fingerprint.ts';
import type { Logger } from '../logger.ts';
import type { RunOperation } from './operation-table.ts';

// Not `import http from 'node:http'`: an ESM import of a built-in builds its module namespace,
// which reads every lazy export, and node:http's include undici's WebSocket classes: about 40 ms
// of each `latchkey` command's ~200 (measured on Node 24). getBuiltinModule costs what require does.
const http = process.getBuiltinModule('node:http');

/**
 * While the server runs, it listens on a unix socket in DATA_DIR (mode 0600: only the owner of
 * the data may use it) and runs CLI operations on the CLI's behalf: an operator surface like the
 * admin API and the console, over the same operation table (operation-table.ts).
 *  - On the embedded database this is the only way: PGlite can be open in one process only.
 *  - On PostgreSQL it spares each command its own database pool, provider and keys (about 3 s
 *    of CPU against a few milliseconds); a command that finds no server on the socket opens the
 *    database itself as before, and the other instances hear of the change by NOTIFY either way.
 * The CLI sends the database and key it means (controlIdentity); a server working on another
 * database or with another key declines, and the CLI opens the database itself. The CLI trusts
 * only a socket owned by DATA_DIR's owner in a DATA_DIR closed to others, so nobody else can
 * plant one to collect the passwords and secrets that commands carry. Both ends are here; the CLI's end imports nothing heavy, so `latchkey`
 * starts fast.
 */
export const controlSocketPath = (dataDir: string) => path.join(dataDir, 'latchkey.sock');
const IDENTITY_HEADER = 'latchkey-identity';
/** The answer of a server that works on another database, or with another key, than the CLI. */
const OTHER_IDENTITY = 421;

/**
 * What a process works with, without secrets: the database (the embedded one of the DATA_DIR the
 * socket is in, or user@host:port/name) and the encryption key (its fingerprint, or the key file
 * in DATA_DIR). A CLI holding another key than the server's is declined, opens the database
 * itself and is refused there (keys/key-check.ts), as it would be with no server running.
 */
export function controlIdentity(config: Pick<Config, 'databaseUrl' | 'encryptionKey'>): string {
  const key = config.encryptionKey ? `key ${keyFingerprint(config.encryptionKey)}` : 'key file in DATA_DIR';
  if (!config.databaseUrl) return `embedded, ${key}`;
  try {
    const url = new URL(config.databaseUrl);
    return `postgres:${decodeURIComponent(url.username)}@${url.hostname}:${url.port || '5432'}${url.pathname}, ${key}`;
  } catch {
    return `postgres:(unparsable DATABASE_URL), ${key}`;
  }
}

export async function listenControlSocket(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'encryptionKey'>, run: RunOperation, logger: Logger): Promise<() => Promise<void>> {
  const socketPath = controlSocketPath(config.dataDir);
  const identity = controlIdentity(config);
  const server = http.createServer(async (req, res) => {
    if (req.headers[IDENTITY_HEADER] !== identity) {
      res.writeHead(OTHER_IDENTITY).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    let status = 200;
    let body: unknown;
    try {
      body = { result: await run(name, JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')) };
    } catch (error) {
      // The kind crosses the socket so the CLI answers as if it had run the operation itself.
      const answer = answerFor(error);
      status = answer.kind === 'internal' ? 500 : 400;
      if (answer.kind === 'internal') logger.error({ err: error, operation: name }, 'control operation failed');
      body = { error: answer.kind === 'internal' ? 'internal error (see the server log)' : answer.message, kind: answer.kind, field: answer.field };
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  // Another instance on the same DATA_DIR (PostgreSQL) answers already: it keeps the socket
  // (closing a unix socket server unlinks its path, so taking it over would leave the name to
  // whichever instance stops first). The embedded database's lock rules that out.
  if (config.databaseUrl && (await answers(socketPath))) {
    logger.info({ socket: socketPath }, 'another Latchkey instance answers the control socket in DATA_DIR');
    return async () => {};
  }
  const previousMask = process.umask(0o177);
  try {
    // On PostgreSQL DATA_DIR may not exist yet; made owner-only like on the embedded database.
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    rmSync(socketPath, { force: true });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
  } catch (error) {
    // The embedded database is unusable by the CLI without it; on PostgreSQL the CLI opens its own connection.
    if (!config.databaseUrl) throw error;
    logger.warn({ err: error, socket: socketPath }, 'no control socket: latchkey commands on this host will open their own database connection');
    return async () => {};
  } finally {
    process.umask(previousMask);
  }
  return () =>
    new Promise<void>((resolve) => {
      // (closing also removes the socket file)
      server.close(() => resolve());
      server.closeAllConnections();
    });
}

/** Whether a server listens on the socket (not a file left behind by a crashed one). */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A socket someone else could have put there is not asked (see the top of this file). */
function trustedSocket(dataDir: string, socketPath: string): boolean {
  try {
    const socket = lstatSync(socketPath);
    const dir = statSync(dataDir);
    return socket.isSocket() && socket.uid === dir.uid && (dir.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** Sends one operation to a running server. Undefined when no server on this database is listening. */
export async function callControlSocket(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'encryptionKey'>,
  name: string,
  input: unknown,
): Promise<{ result?: unknown; error?: string; kind?: string; field?: string } | undefined> {
  const socketPath = controlSocketPath(config.dataDir);
  if (!trustedSocket(config.dataDir, socketPath)) return undefined;
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', [IDENTITY_HEADER]: controlIdentity(config) };
    const req = http.request({ socketPath, path: `/${encodeURIComponent(name)}`, method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === OTHER_IDENTITY ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A socket file left behind by a crashed server: nobody is listening.
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolve(undefined);
      else reject(error);
    });
    req.end(JSON.stringify(input ?? {}));
  });
}
