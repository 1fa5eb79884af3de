import { existsSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { answerFor } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { RunOperation } from './operation-table.ts';

/**
 * The embedded database can be open in one process only. While the server runs, it listens on
 * a unix socket in DATA_DIR (mode 0600: only the owner of the data may use it) and runs CLI
 * operations on the CLI's behalf: an operator surface like the admin API and the console, over
 * the same operation table (operation-table.ts). Both ends of the socket are here; the CLI's
 * end (callControlSocket) imports nothing heavy, so `latchkey` starts fast.
 */
export const controlSocketPath = (dataDir: string) => path.join(dataDir, 'latchkey.sock');

export async function listenControlSocket(dataDir: string, run: RunOperation, logger: Logger): Promise<() => Promise<void>> {
  const socketPath = controlSocketPath(dataDir);
  if (existsSync(socketPath)) rmSync(socketPath);
  const server = http.createServer(async (req, res) => {
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
  const previousMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
  } finally {
    process.umask(previousMask);
  }
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      rmSync(socketPath, { force: true });
    });
}

/** Sends one operation to a running server. Undefined when no server is listening. */
export async function callControlSocket(dataDir: string, name: string, input: unknown): Promise<{ result?: unknown; error?: string; kind?: string; field?: string } | undefined> {
  const socketPath = controlSocketPath(dataDir);
  if (!existsSync(socketPath)) return undefined;
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: `/${encodeURIComponent(name)}`, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A socket file left behind by a crashed server: nobody is listening.
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') resolve(undefined);
      else reject(error);
    });
    req.end(JSON.stringify(input ?? {}));
  });
}
