import type { Middleware } from 'koa';
import { normalizeTotpCode } from '../accounts/second-factor-policy.ts';
import { confirmTotpEnrolment } from '../accounts/totp.ts';
import { requestFields } from '../security/security-events.ts';
import { interactionState, type InteractionDeps } from './interaction-deps.ts';
import { enrolmentOwner, savePending, uniqueAmr } from '../accounts/pending-second-factor.ts';
import { renderSecondFactorPage } from './second-factor-page.ts';

/**
 * POST /interaction/:uid/mfa/enroll/totp: confirms the authenticator app set up at sign-in with
 * its first code; the sign-in then shows new recovery codes (stage 'done').
 */
export function totpEnrolment(deps: InteractionDeps): Middleware {
  const { services } = deps;
  return async (ctx) => {
    const { form, interaction, pending } = interactionState(ctx);
    if (!pending) throw new Error('totpEnrolment runs after requirePendingStage');
    const code = normalizeTotpCode(form.get('code') ?? '');
    if (!code || !(await confirmTotpEnrolment(services, pending.accountId, enrolmentOwner(interaction), code))) {
      return renderSecondFactorPage(deps, ctx, interaction, pending, { error: 'That code is not right. Check the time on your phone and try the next code.' }, 400);
    }
    services.events.emit({ type: 'factor.totp.enrolled', actor: pending.accountId, userId: pending.accountId, ...requestFields(ctx) });
    await savePending(services, interaction, { ...pending, stage: 'done', amr: uniqueAmr([...pending.first, 'otp']), showCodes: true });
    ctx.status = 303;
    ctx.redirect(`/interaction/${interaction.uid}`);
  };
}
