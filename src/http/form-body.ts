import type { Context } from 'koa';
import { bufferedBody, problemWithFormText, readAll } from './edge-input.ts';

/**
 * Reads a small urlencoded form body for our own pages. oidc-provider parses its own bodies,
 * so no global body parser is installed; this one is used only by interaction and account routes.
 * The edge (edge-input.ts) has usually read the body already and refused hostile text; reading
 * the stream here is for a server composed without it, and checks the same things.
 */
export const MAX_FORM_BYTES = 16 * 1024;

/** An error the error handler answers with its status and message (http-errors' convention). */
class ClientError extends Error {
  readonly expose = true;
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class FormTooLargeError extends ClientError {
  constructor() {
    super(413, 'The request was too large.');
  }
}

export class BadFormError extends ClientError {
  constructor(problem: string) {
    super(400, `The form was refused: ${problem}.`);
  }
}

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
  const body = bufferedBody(ctx) ?? (await readAll(ctx, MAX_FORM_BYTES, () => new FormTooLargeError()));
  if (body.length > MAX_FORM_BYTES) throw new FormTooLargeError();
  const text = body.toString('utf8');
  const problem = problemWithFormText(text, 'body');
  if (problem) throw new BadFormError(problem);
  return new URLSearchParams(text);
}
