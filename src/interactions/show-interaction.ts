import type { Context, Middleware } from 'koa';
import { factorSummary } from '../accounts/factors.ts';
import { findUserById } from '../accounts/users.ts';
import { csrfToken } from '../http/csrf.ts';
import { sendPage, sendRefusalPage } from '../http/html-page.ts';
import { apisOfRequest } from './apis-of-request.ts';
import type { ClientView } from './client-view.ts';
import { describeIdentityScopes } from '../apis/consent-model.ts';
import { interactionState, type Interaction, type InteractionDeps } from './interaction-deps.ts';
import { loadPending, savePending, type Pending } from '../accounts/pending-second-factor.ts';
import { renderSecondFactorPage } from './second-factor-page.ts';
import { STEP_UP_REASON } from '../oidc/step-up.ts';
import { selfServiceLinks } from '../self-service/links.ts';

/**
 * GET /interaction/:uid: the page for the open prompt — the pending second step if there is one,
 * else the login form, or the consent page.
 */
export function showInteraction(deps: InteractionDeps): Middleware {
  const { services, csrfSecret, clientViews } = deps;
  return async (ctx) => {
    const { interaction } = interactionState(ctx);
    const uid = interaction.uid;
    const client = await clientViews(String(interaction.params.client_id));
    const csrf = csrfToken(csrfSecret, uid);
    if (interaction.prompt.name === 'login') {
      const pending = await pendingStep(deps, interaction);
      if (pending) return renderSecondFactorPage(deps, ctx, interaction, pending);
      return sendPage(ctx, 'login', { title: 'Sign in', uid, csrf, client, ...selfServiceLinks(services.config) });
    }
    if (interaction.prompt.name === 'consent') return consentPage(ctx, interaction, client, csrf);
    return sendRefusalPage(ctx, 400, interaction.prompt.name, 'This step is not supported.');
  };

  async function consentPage(ctx: Context, interaction: Interaction, client: ClientView, csrf: string) {
    const accountId = interaction.session?.accountId;
    const user = accountId ? await findUserById(services, accountId) : undefined;
    const missingOIDCScope = (interaction.prompt.details.missingOIDCScope ?? []) as string[];
    const apis = await apisOfRequest(services, interaction, client.allowedScopes);
    const scope = String(interaction.params.scope ?? '');
    return sendPage(ctx, 'consent', {
      title: 'Allow access',
      uid: interaction.uid,
      csrf,
      client,
      email: user?.email ?? '',
      identity: describeIdentityScopes(missingOIDCScope.length ? missingOIDCScope.join(' ') : scope),
      apis,
      offline: scope.split(' ').includes('offline_access'),
    });
  }
}

/**
 * The second step pending in this interaction, if any. On step-up (the session has a first factor
 * only) one is started here, so the second factor is asked without the password again.
 */
async function pendingStep(deps: InteractionDeps, interaction: Interaction): Promise<Pending | undefined> {
  const { services } = deps;
  const pending = await loadPending(services, interaction.uid);
  if (pending) return pending;
  const reasons = interaction.prompt.reasons;
  if (!interaction.session?.accountId || reasons.length === 0 || !reasons.every((r) => r === STEP_UP_REASON)) return undefined;
  const user = await findUserById(services, interaction.session.accountId);
  if (!user || user.disabled) return undefined;
  const summary = await factorSummary(services, user);
  const stepUp: Pending = { accountId: user.id, first: (interaction.session.amr as string[] | undefined) ?? ['pwd'], stage: summary.hasSecondFactor ? 'verify' : 'enroll', stepUp: true };
  await savePending(services, interaction, stepUp);
  return stepUp;
}
