/**
 * A small notes API protected by Latchkey: reading needs `notes:read`, changing needs
 * `notes:write`. It uses only the public kit (latchkey/resource-server).
 */
import Router from '@koa/router';
import Koa from 'koa';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { requireAccessToken, requireScopes, type KoaAccessTokenOptions, type VerifiedAccessToken } from 'latchkey/resource-server';

export interface Note {
  id: string;
  text: string;
  owner: string;
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let raw = '';
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > 10_000) throw Object.assign(new Error('body too large'), { status: 413 });
  }
  try {
    return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export interface NotesAppOptions extends KoaAccessTokenOptions {
  /** Scope names, if this API was registered with others than notes:read / notes:write. */
  readScope?: string;
  writeScope?: string;
}

export function createNotesApp(options: NotesAppOptions): Koa {
  const read = options.readScope ?? 'notes:read';
  const write = options.writeScope ?? 'notes:write';
  const notes = new Map<string, Note>();
  const app = new Koa();
  const router = new Router();

  // Every route needs a valid token for this API; each route then asks for its scope.
  app.use(requireAccessToken(options));

  router.get('/notes', requireScopes(read), (ctx) => {
    ctx.body = [...notes.values()];
  });

  router.post('/notes', requireScopes(write), async (ctx) => {
    const { text } = await readJson(ctx.req);
    if (typeof text !== 'string' || !text.trim()) {
      ctx.status = 400;
      ctx.body = { error: 'text is required' };
      return;
    }
    const token = ctx.state.accessToken as VerifiedAccessToken;
    const note: Note = { id: randomUUID(), text, owner: token.subject ?? token.clientId ?? 'unknown' };
    notes.set(note.id, note);
    ctx.status = 201;
    ctx.body = note;
  });

  router.delete('/notes/:id', requireScopes(write), (ctx) => {
    ctx.status = notes.delete(ctx.params.id!) ? 204 : 404;
  });

  app.use(router.routes()).use(router.allowedMethods());
  return app;
}

/** Starts the API on a port (0 = any free one) and returns its origin. */
export async function startNotesApi(options: NotesAppOptions & { port?: number; host?: string }) {
  const server = http.createServer(createNotesApp(options).callback());
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://${options.host ?? '127.0.0.1'}:${port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
