import type { Middleware } from 'koa';
import type { Logger } from '../logger.ts';
import { FormTooLargeError } from './form-body.ts';
import { renderView } from './views.ts';

/**
 * Last line of defence for our own routes (oidc-provider renders its own errors): a readable
 * page or a JSON error, never a stack trace. Unexpected errors are logged with the request id.
 */
export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const tooLarge = error instanceof FormTooLargeError || (error as { status?: number }).status === 413;
      const status = tooLarge ? 413 : ((error as { expose?: boolean; status?: number }).expose ? (error as { status: number }).status : 500);
      if (status >= 500) logger.error({ err: error, requestId: ctx.state.requestId, path: ctx.path }, 'unhandled error');
      ctx.status = status;
      // readForm stopped reading an oversized body, which destroys the request stream and its
      // socket: tell the client not to reuse the connection (else its next request gets ECONNRESET).
      if (tooLarge) ctx.set('Connection', 'close');
      const message = tooLarge ? 'The request was too large.' : status >= 500 ? 'Something went wrong on our side. Please try again.' : 'The request was invalid.';
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: status >= 500 ? 'server_error' : 'invalid_request', error_description: message };
      } else {
        ctx.type = 'html';
        ctx.body = renderView('error', { title: 'Error', message, code: status >= 500 ? 'server_error' : 'invalid_request' });
      }
    }
  };
}
