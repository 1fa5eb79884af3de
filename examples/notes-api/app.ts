/**
 * A small notes API protected by Latchkey: reading needs `notes:read`, changing needs
 * `notes:write`. Notes belong to the token's subject: a user lists and deletes only their own.
 * Machine (client_credentials) tokens are refused (403) unless the API is started with
 * `allowMachineTokens`; then an app acting for itself keeps its own notes, apart from every
 * user's (stored under machine:<client_id>). It uses only the public kit
 * (latchkey/resource-server).
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
  /** Accept client_credentials tokens (each app then has its own notes, never a user's). Default: refused. */
  allowMachineTokens?: boolean;
}

/** Whose notes a token works on: the user's id, or 'machine:<client_id>' (user ids are UUIDs, so the two never meet). */
export function ownerOf(token: VerifiedAccessToken): string {
  return token.kind === 'user' ? token.subject! : `machine:${token.subject}`;
}

export function createNotesApp(options: NotesAppOptions): Koa {
  const read = options.readScope ?? 'notes:read';
  const write = options.writeScope ?? 'notes:write';
  const notes = new Map<string, Note>();
  const app = new Koa();
  const router = new Router();

  // Every route needs a valid token for this API (a user's, unless machines are allowed); each route then asks for its scope.
  app.use(requireAccessToken({ ...options, ...(options.allowMachineTokens ? {} : { kind: 'user' as const }) }));
  const owner = (ctx: { state: Record<string, unknown> }) => ownerOf(ctx.state.accessToken as VerifiedAccessToken);

  router.get('/notes', requireScopes(read), (ctx) => {
    const mine = owner(ctx);
    ctx.body = [...notes.values()].filter((note) => note.owner === mine);
  });

  router.post('/notes', requireScopes(write), async (ctx) => {
    const { text } = await readJson(ctx.req);
    if (typeof text !== 'string' || !text.trim()) {
      ctx.status = 400;
      ctx.body = { error: 'text is required' };
      return;
    }
    const note: Note = { id: randomUUID(), text, owner: owner(ctx) };
    notes.set(note.id, note);
    ctx.status = 201;
    ctx.body = note;
  });

  // Someone else's note answers 404 like a missing one: its existence is not theirs to learn.
  router.delete('/notes/:id', requireScopes(write), (ctx) => {
    const note = notes.get(ctx.params.id!);
    if (!note || note.owner !== owner(ctx)) {
      ctx.status = 404;
      return;
    }
    notes.delete(note.id);
    ctx.status = 204;
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
