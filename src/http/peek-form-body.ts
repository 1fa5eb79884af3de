import { Readable } from 'node:stream';
import type { Context } from 'koa';

/**
 * Reads an urlencoded request body before oidc-provider does, and leaves the request stream as
 * if it had not been read. oidc-provider parses its own bodies (lib/shared/selective_body.js
 * reads `req.iterator()`); the alternative it offers, a pre-parsed `req.body`, logs a warning
 * that upstream parsers are not recommended. Used only by the OAuth guard, which needs the
 * client_id a request claims before the provider runs. Null when the body is over `limit`
 * (oidc-provider's own limit, so nothing it would accept is refused here).
 */
export async function peekFormBody(ctx: Context, limit: number): Promise<URLSearchParams | null> {
  if (!ctx.is('application/x-www-form-urlencoded')) return new URLSearchParams();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) return null;
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const replay = Readable.from([body]);
  Object.defineProperty(ctx.req, 'readable', { value: true, configurable: true });
  Object.defineProperty(ctx.req, 'iterator', { value: (options?: { destroyOnReturn?: boolean }) => replay.iterator(options), configurable: true });
  Object.defineProperty(ctx.req, Symbol.asyncIterator, { value: () => replay[Symbol.asyncIterator](), configurable: true });
  return new URLSearchParams(body.toString('utf8'));
}
