import type { Middleware } from 'koa';
import { csrfValid } from '../http/csrf.ts';
import { sendJsonRefusal, sendRefusalPage } from '../http/html-page.ts';
import { interactionState } from './interaction-deps.ts';

/** The form's csrf field must be this interaction's token (http/csrf.ts). After loadInteraction. */
export function formCsrfGuard(csrfSecret: string): Middleware {
  return async (ctx, next) => {
    const { interaction, form } = interactionState(ctx);
    if (!csrfValid(csrfSecret, interaction.uid, form.get('csrf'))) {
      return sendRefusalPage(ctx, 403, 'csrf', 'The form was stale or forged. Go back and try again.');
    }
    await next();
  };
}

/** The same for the WebAuthn JSON calls, whose script sends the token in a header. */
export function headerCsrfGuard(csrfSecret: string): Middleware {
  return async (ctx, next) => {
    if (!csrfValid(csrfSecret, interactionState(ctx).interaction.uid, ctx.get('x-csrf-token'))) {
      return sendJsonRefusal(ctx, 403, 'The page was stale. Reload it and try again.');
    }
    await next();
  };
}
