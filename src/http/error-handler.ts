import type { Context, Middleware } from 'koa';
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
 * Last line of defence: a readable page or a JSON error, never a stack trace. Unexpected errors
 * are logged with the request id; errors meant for the client (`expose`, e.g. ctx.throw(400))
 * are answered with their status.
 */
export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const { status: thrown, expose } = error as { status?: number; expose?: boolean };
      const tooLarge = thrown === 413;
      const forClient = expose && thrown && thrown >= 400 && thrown < 500;
      const status = tooLarge ? 413 : forClient ? thrown : 500;
      if (status >= 500) logger.error({ err: error, requestId: ctx.state.requestId, path: ctx.path }, 'unhandled error');
      // A reader that stopped at its limit left the rest of the body unread: tell the client not
      // to reuse the connection (else its next request would be read from the middle of this body).
      if (tooLarge && !ctx.req.readableEnded) ctx.set('Connection', 'close');
      const message = tooLarge ? 'The request was too large.'
        : status >= 500 ? 'Something went wrong on our side. Please try again.'
        : forClient && (error as Error).message ? (error as Error).message : 'The request was invalid.';
      sendError(ctx, status, status >= 500 ? 'server_error' : 'invalid_request', message);
    }
  };
}
