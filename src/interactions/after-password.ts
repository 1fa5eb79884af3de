import type { Context } from 'koa';
import { mustHaveSecondFactor } from '../accounts/second-factor-policy.ts';
import type { SignedInUser } from '../accounts/users.ts';
import type { Services } from '../context.ts';
import { finishSignIn } from './finish-sign-in.ts';
import type { Interaction } from './interaction-deps.ts';
import { savePending } from '../accounts/pending-second-factor.ts';
import { appWantsMfa } from '../oidc/step-up.ts';

/**
 * After a correct password: finish, or go on to the second step (or to enrolment). The user
 * row came with whether a second factor is enrolled (verifyPasswordSignIn), and the client's
 * require-MFA flag comes from the client registry's cache: no further queries on the
 * password-only path.
 */
export async function afterPassword(
  services: Services,
  ctx: Context,
  interaction: Interaction,
  user: SignedInUser,
  options: { requireSecondFactor?: boolean } = {},
): Promise<void> {
  const required = mustHaveSecondFactor(services.config.mfaRequired, user.roles);
  const stored = await services.clients.find(String(interaction.params.client_id));
  // As oidc-provider sees it: a suspended or unapproved client has no metadata.
  const client = stored && !stored.suspended && !stored.approvalPending ? stored.metadata : undefined;
  const wanted = user.hasSecondFactor || required || options.requireSecondFactor || appWantsMfa(interaction.params.acr_values, client);
  // No pending record is created on this path. One left by an earlier attempt in this
  // interaction (another account's password, then this one) is not deleted: the interaction
  // is resolved now and its uid never comes back (resume destroys it), and such a record
  // could only ever finish a sign-in whose first factor was proven; it expires with the interaction.
  if (!wanted) return finishSignIn(services, ctx, interaction, user.id, ['pwd'], { clearPending: false });
  await savePending(services, interaction, { accountId: user.id, first: ['pwd'], stage: user.hasSecondFactor ? 'verify' : 'enroll' });
  ctx.status = 303;
  ctx.redirect(`/interaction/${interaction.uid}`);
}
