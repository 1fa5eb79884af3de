import type { Context } from 'koa';
import { factorSummary } from '../accounts/factors.ts';
import { generateRecoveryCodes } from '../accounts/recovery-codes.ts';
import { secondFactorLockedFor } from '../security/second-factor-lockout.ts';
import { describeWait } from '../accounts/second-factor-policy.ts';
import { pendingTotpEnrolment, startTotpEnrolment } from '../accounts/totp.ts';
import { findUserById } from '../accounts/users.ts';
import { csrfToken } from '../http/csrf.ts';
import { sendPage, sendRefusalPage } from '../http/html-page.ts';
import { requestFields } from '../security/security-events.ts';
import type { Interaction, InteractionDeps } from './interaction-deps.ts';
import { clearPending, enrolmentOwner, savePending, type Pending } from '../accounts/pending-second-factor.ts';

/** Renders the page for the pending record's stage: prove a factor, enrol one, or done. */
export async function renderSecondFactorPage(
  deps: InteractionDeps,
  ctx: Context,
  interaction: Interaction,
  pending: Pending,
  extra: Record<string, unknown> = {},
  status = 200,
): Promise<void> {
  const { services } = deps;
  const user = await findUserById(services, pending.accountId);
  if (!user || user.disabled) {
    await clearPending(services, interaction.uid);
    return sendRefusalPage(ctx, 403, 'account_unavailable', 'This account cannot sign in.');
  }
  const uid = interaction.uid;
  const csrf = csrfToken(deps.csrfSecret, uid);
  // On step-up the user is already signed in: the page says why we ask again, and for which app.
  const stepUpFor = pending.stepUp ? (await deps.clientViews(String(interaction.params.client_id))).name : undefined;
  const base = { uid, csrf, email: user.email, stepUpFor, ...extra };
  if (pending.stage === 'enroll') {
    // The secret belongs to this interaction: a later sign-in gets a new one (security rule 35).
    const owner = enrolmentOwner(interaction);
    const enrolment = (await pendingTotpEnrolment(services, user, owner)) ?? (await startTotpEnrolment(services, user, owner));
    if (!enrolment) {
      // A factor became active meanwhile (another sign-in confirmed one): prove it instead.
      const verify: Pending = { ...pending, stage: 'verify' };
      await savePending(services, interaction, verify);
      return renderSecondFactorPage(deps, ctx, interaction, verify, extra, status);
    }
    return sendPage(ctx, 'mfa-enroll', { title: 'Set up a second factor', ...base, enrolment, required: true }, status);
  }
  if (pending.stage === 'done') {
    let codes: string[] | undefined;
    if (pending.showCodes) {
      codes = await generateRecoveryCodes(services, user.id);
      services.events.emit({ type: 'recovery_code.generated', actor: user.id, userId: user.id, details: { count: codes.length }, ...requestFields(ctx) });
      await savePending(services, interaction, { ...pending, showCodes: false });
    }
    return sendPage(ctx, 'mfa-done', { title: 'Signed in', ...base, codes, notice: pending.notice, continueAction: `/interaction/${uid}/mfa/continue` }, status);
  }
  const summary = await factorSummary(services, user);
  const lockedFor = await secondFactorLockedFor(services, user.id);
  return sendPage(ctx, 'mfa', {
    title: stepUpFor ? 'Confirm it is you' : 'Second step',
    ...base,
    totp: summary.totp,
    passkeys: summary.passkeys.length > 0,
    recoveryCodes: summary.recoveryCodesRemaining > 0,
    locked: lockedFor ? `Too many wrong codes. Codes are locked for this account; try again in ${describeWait(lockedFor)}, or use a security key.` : undefined,
  }, status);
}
