import type { Middleware } from 'koa';
import { authenticationOptions, registrationOptions } from '../accounts/webauthn.ts';
import { findUserById } from '../accounts/users.ts';
import { sendJsonRefusal } from '../http/html-page.ts';
import { interactionState, type InteractionDeps } from './interaction-deps.ts';

/**
 * POST /interaction/:uid/webauthn/options: the WebAuthn challenge for what this sign-in needs —
 * a passkey as the only factor (nothing pending), a security key as the second factor, or
 * registering one at enrolment.
 */
export function passkeyOptions(deps: InteractionDeps): Middleware {
  const { services } = deps;
  return async (ctx) => {
    const { interaction, pending } = interactionState(ctx);
    if (!pending) {
      ctx.body = await authenticationOptions(services, interaction.uid, 'passkey');
      return;
    }
    if (pending.stage === 'verify') {
      const options = await authenticationOptions(services, interaction.uid, 'second-factor', pending.accountId);
      return options ? void (ctx.body = options) : sendJsonRefusal(ctx, 400, 'No security key is registered for this account.');
    }
    if (pending.stage === 'enroll') {
      const user = await findUserById(services, pending.accountId);
      if (!user) return sendJsonRefusal(ctx, 400, 'This account cannot sign in.');
      ctx.body = await registrationOptions(services, user, interaction.uid);
      return;
    }
    sendJsonRefusal(ctx, 400, 'This sign-in step is not expected now.');
  };
}
