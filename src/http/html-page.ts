import type { Context } from 'koa';
import { renderView } from './views.ts';

/**
 * The one way our routes answer with a page: rendered view, never cached (every page carries a
 * CSRF token or personal data).
 */
export function sendPage(ctx: Context, view: string, data: Record<string, unknown>, status = 200): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = renderView(view, data);
}

/** A refusal as the error page: what went wrong for the reader, and a code for support. */
export function sendRefusalPage(ctx: Context, status: number, code: string, message: string, extra: Record<string, unknown> = {}): void {
  sendPage(ctx, 'error', { title: 'Error', message, code, ...extra }, status);
}

/** A refusal for our pages' own JSON calls (views/assets/*.js show `error` to the reader). */
export function sendJsonRefusal(ctx: Context, status: number, message: string): void {
  ctx.status = status;
  ctx.body = { error: message };
}
