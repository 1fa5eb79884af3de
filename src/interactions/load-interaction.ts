import type { Middleware } from 'koa';
import { errors } from 'oidc-provider';
import { sendRefusalPage } from '../http/html-page.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { interactionState } from './interaction-deps.ts';

/** Loads the interaction named by the interaction cookie into ctx.state.interaction. */
export function loadInteraction(holder: ProviderHolder): Middleware {
  return async (ctx, next) => {
    interactionState(ctx).interaction = await holder.current.interactionDetails(ctx.req, ctx.res);
    await next();
  };
}

/** An expired or foreign interaction is the user's problem to restart, not a server error. */
export const expiredInteractionPage: Middleware = async (ctx, next) => {
  try {
    await next();
  } catch (error) {
    if (error instanceof errors.SessionNotFound) {
      return sendRefusalPage(ctx, 400, 'session_not_found', 'Go back to the app and start signing in again.', {
        title: 'Sign-in expired',
        heading: 'This sign-in has expired',
      });
    }
    throw error;
  }
};
