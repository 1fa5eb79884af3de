import Router from '@koa/router';
import type { Services } from '../context.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import type { CredentialAttempts } from '../security/credential-attempts.ts';
import { abortInteraction } from './abort.ts';
import { clientViews } from './client-view.ts';
import { confirmConsent } from './confirm-consent.ts';
import { continueSignIn } from './continue-sign-in.ts';
import { formCsrfGuard, headerCsrfGuard } from './csrf-guards.ts';
import type { InteractionDeps } from './interaction-deps.ts';
import { expiredInteractionPage, loadInteraction } from './load-interaction.ts';
import { passkeyOptions } from './passkey-options.ts';
import { passkeyVerify } from './passkey-verify.ts';
import { passwordLogin } from './password-login.ts';
import { loginPromptWithPending, requirePendingStage } from './pending-guards.ts';
import { recoveryCodeStep } from './recovery-code-step.ts';
import { readFormBody, readJsonBody } from './request-bodies.ts';
import { showInteraction } from './show-interaction.ts';
import { totpEnrolment } from './totp-enrolment.ts';
import { totpStep } from './totp-step.ts';

/**
 * Login and consent, at oidc-provider's interaction URL: one file per action (as oidc-provider's
 * lib/actions/), each behind the shared middleware it needs, in this order: body → interaction
 * (from the cookie) → CSRF → pending second-factor state. Every route lives under
 * /interaction/:uid so the interaction cookie (whose path is that URL) reaches it.
 */
export function interactionRoutes(services: Services, holder: ProviderHolder, csrfSecret: string, attempts: CredentialAttempts): Router {
  const deps: InteractionDeps = { services, holder, csrfSecret, attempts, clientViews: clientViews(services) };
  const router = new Router({ prefix: '/interaction/:uid', sensitive: true });
  const interaction = loadInteraction(holder);
  const form = [readFormBody, interaction, formCsrfGuard(csrfSecret)];
  const json = [readJsonBody, interaction, headerCsrfGuard(csrfSecret), loginPromptWithPending(services)];

  router.use(expiredInteractionPage);

  // The second step of sign-in (a pending record from password-login.ts or a step-up).
  router.post('/mfa/totp', ...form, requirePendingStage(services, 'verify'), totpStep(deps));
  router.post('/mfa/recovery', ...form, requirePendingStage(services, 'verify'), recoveryCodeStep(deps));
  router.post('/mfa/enroll/totp', ...form, requirePendingStage(services, 'enroll'), totpEnrolment(deps));
  router.post('/mfa/continue', ...form, requirePendingStage(services, 'done'), continueSignIn(deps));
  // WebAuthn: JSON endpoints called by views/assets/webauthn.js, CSRF token in a header.
  router.post('/webauthn/options', ...json, passkeyOptions(deps));
  router.post('/webauthn/verify', ...json, passkeyVerify(deps));

  router.get('/', interaction, showInteraction(deps));
  router.post('/login', ...form, passwordLogin(deps));
  router.post('/confirm', ...form, confirmConsent(deps));
  router.post('/abort', ...form, abortInteraction(services));

  return router;
}
