import type { Middleware } from 'koa';
import { readForm } from '../http/form-body.ts';
import { readJson } from '../http/json-body.ts';
import { interactionState } from './interaction-deps.ts';

/** The HTML forms' body into ctx.state.form. */
export const readFormBody: Middleware = async (ctx, next) => {
  interactionState(ctx).form = await readForm(ctx);
  await next();
};

/** The WebAuthn calls' JSON body (views/assets/webauthn.js) into ctx.state.json; never cached. */
export const readJsonBody: Middleware = async (ctx, next) => {
  interactionState(ctx).json = (await readJson(ctx)) ?? {};
  ctx.set('Cache-Control', 'no-store');
  await next();
};
