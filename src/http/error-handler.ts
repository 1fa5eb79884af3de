import type { Context, Middleware } from 'koa';
import { answerFor, ERROR_KINDS } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { renderView } from './views.ts';

/**
 * An error answer for our own routes and the edge (oidc-provider renders its own errors): the
 * error page for a browser — a client that asks for text/html by name — and RFC 6749-style JSON
 * (`{ error, error_description }`) for everyone else (API clients, curl, fetch).
 */
export function sendError(ctx: Context, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  if (prefersHtml(ctx)) {
    ctx.type = 'html';
    ctx.body = renderView('error', { title: 'Error', message, code });
  } else {
    ctx.body = { error: code, error_description: message };
  }
}

function prefersHtml(ctx: Context): boolean {
  return /\btext\/html\b/i.test(ctx.get('accept')) && ctx.accepts('json', 'html') === 'html';
}

/**
 * Last line of defence, and the HTTP translator of the closed error set (errors.ts): a readable
 * page or a JSON error, never a stack trace. Unexpected errors are logged with the request id and
 * answered without detail; LatchkeyErrors, zod errors and Koa's exposed 4xx keep their meaning.
 */
export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const tooLarge = (error as { status?: number }).status === 413;
      const answer = answerFor(error);
      const { status, code } = tooLarge ? { status: 413, code: 'invalid_request' } : ERROR_KINDS[answer.kind];
      if (status >= 500) logger.error({ err: error, requestId: ctx.state.requestId, path: ctx.path }, 'unhandled error');
      // A reader that stopped at its limit left the rest of the body unread: tell the client not
      // to reuse the connection (else its next request would be read from the middle of this body).
      if (tooLarge && !ctx.req.readableEnded) ctx.set('Connection', 'close');
      sendError(ctx, status, code, tooLarge ? 'The request was too large.' : answer.message);
    }
  };
}
