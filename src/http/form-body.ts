import type { Context } from 'koa';

/**
 * Reads a small urlencoded form body for our own pages. oidc-provider parses its own bodies,
 * so no global body parser is installed; this one is used only by interaction and account routes.
 */
export const MAX_FORM_BYTES = 16 * 1024;

export class FormTooLargeError extends Error {}

const PARSED = Symbol('form');

/** Reads the form once per request: a middleware (the sign-in guard) may have read it first. */
export async function readForm(ctx: Context): Promise<URLSearchParams> {
  const cached = (ctx.state as Record<symbol, URLSearchParams | undefined>)[PARSED];
  if (cached) return cached;
  const form = await readFormBody(ctx);
  (ctx.state as Record<symbol, URLSearchParams>)[PARSED] = form;
  return form;
}

async function readFormBody(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) return new URLSearchParams();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new FormTooLargeError('form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
