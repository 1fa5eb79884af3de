import Router from '@koa/router';
import type { Context } from 'koa';
import { errors } from 'oidc-provider';
import { verifyPasswordSignIn } from '../accounts/users.ts';
import type { Services } from '../context.ts';
import { csrfToken, csrfValid } from '../http/csrf.ts';
import { requestFields } from '../security/security-events.ts';
import { readForm } from '../http/form-body.ts';
import { renderView } from '../http/views.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { attemptFrom, type CredentialAttempts } from '../security/credential-attempts.ts';
import { applyConsent } from './apply-consent.ts';
import { describeIdentityScopes, requestedApis, type AccessChoice, type ApiRequest } from './consent-model.ts';
import { describeWait } from '../accounts/second-factor-policy.ts';
import { saveInteractionResult, seeOther } from './interaction-result.ts';
import { secondFactorStep } from './second-factor.ts';

/**
 * Login and consent, at oidc-provider's interaction URL. Every route lives under
 * /interaction/:uid so the interaction cookie (whose path is that URL) reaches it.
 */
export function interactionRoutes(services: Services, holder: ProviderHolder, csrfSecret: string, attempts: CredentialAttempts): Router {
  const router = new Router({ prefix: '/interaction/:uid', sensitive: true });

  const details = (ctx: Context) => holder.current.interactionDetails(ctx.req, ctx.res);

  const page = (ctx: Context, view: string, data: Record<string, unknown>, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderView(view, data);
  };

  // An expired or foreign interaction is the user's problem to restart, not a server error.
  router.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (error instanceof errors.SessionNotFound) {
        return page(ctx, 'error', {
          title: 'Sign-in expired',
          heading: 'This sign-in has expired',
          message: 'Go back to the app and start signing in again.',
          code: 'session_not_found',
        }, 400);
      }
      throw error;
    }
  });

  // Second factor, enrolment at sign-in, passkey sign-in and step-up (second-factor.ts).
  const secondFactor = secondFactorStep(services, holder, csrfSecret, page, attempts);
  secondFactor.register(router);

  /**
   * What the login and consent pages say about the app, from the client registry's cache (the
   * metadata oidc-provider receives). The developer's e-mail is read once per cached client entry:
   * the registry replaces the entry when the client changes or its cache expires.
   */
  const ownerEmails = new WeakMap<object, Promise<string | undefined>>();
  const clientView = async (clientId: string) => {
    const stored = await services.clients.find(clientId);
    // As oidc-provider sees it: a suspended or unapproved client has no metadata.
    const metadata = stored && !stored.suspended && !stored.approvalPending ? stored.metadata : {};
    let owner: Promise<string | undefined> | undefined;
    if (stored?.ownerId) {
      const ownerId = stored.ownerId;
      owner = ownerEmails.get(stored);
      if (!owner) {
        owner = services.db.prisma.user.findUnique({ where: { id: ownerId }, select: { email: true } }).then((u) => u?.email);
        ownerEmails.set(stored, owner);
        owner.catch(() => ownerEmails.delete(stored));
      }
    }
    const text = (key: string) => (typeof metadata[key] === 'string' ? (metadata[key] as string) : undefined);
    return {
      name: text('client_name') ?? clientId,
      logoUri: text('logo_uri'),
      homepage: text('client_uri'),
      policyUri: text('policy_uri'),
      tosUri: text('tos_uri'),
      developer: (owner ? await owner : undefined) ?? 'registered by the operator of this server',
      allowedScopes: stored?.allowedScopes ?? new Set<string>(),
    };
  };

  const apisOfRequest = async (interaction: Awaited<ReturnType<typeof details>>, allowedScopes: Set<string>): Promise<ApiRequest[]> => {
    const apis = await services.apis.all();
    const resource = interaction.params.resource;
    const missing = (interaction.prompt.details.missingResourceScopes ?? {}) as Record<string, string[]>;
    const promptedAgain = String(interaction.params.prompt ?? '').split(' ').includes('consent');
    return requestedApis({
      requestedScope: String(interaction.params.scope ?? ''),
      resourcesInRequest: promptedAgain ? (Array.isArray(resource) ? resource : resource ? [String(resource)] : []) : [],
      missingResourceScopes: missing,
      apiByAudience: (audience) => apis.find((a) => a.audience === audience),
      allowedScopes,
    });
  };

  router.get('/', async (ctx) => {
    const interaction = await details(ctx);
    const uid = interaction.uid;
    const client = await clientView(String(interaction.params.client_id));
    const csrf = csrfToken(csrfSecret, uid);
    if (interaction.prompt.name === 'login') {
      if (await secondFactor.show(ctx, interaction)) return;
      return page(ctx, 'login', { title: 'Sign in', uid, csrf, client });
    }
    if (interaction.prompt.name === 'consent') {
      const accountId = interaction.session?.accountId;
      const user = accountId ? await services.db.prisma.user.findUnique({ where: { id: accountId }, select: { email: true } }) : null;
      const missingOIDCScope = (interaction.prompt.details.missingOIDCScope ?? []) as string[];
      const apis = await apisOfRequest(interaction, client.allowedScopes);
      const scope = String(interaction.params.scope ?? '');
      return page(ctx, 'consent', {
        title: 'Allow access',
        uid,
        csrf,
        client,
        email: user?.email ?? '',
        identity: describeIdentityScopes(missingOIDCScope.length ? missingOIDCScope.join(' ') : scope),
        apis,
        offline: scope.split(' ').includes('offline_access'),
      });
    }
    return page(ctx, 'error', { title: 'Error', message: 'This step is not supported.', code: interaction.prompt.name }, 400);
  });

  const requireCsrf = (ctx: Context, form: URLSearchParams) => {
    if (!csrfValid(csrfSecret, ctx.params.uid!, form.get('csrf'))) {
      page(ctx, 'error', { title: 'Error', message: 'The form was stale or forged. Go back and try again.', code: 'csrf' }, 403);
      return false;
    }
    return true;
  };

  router.post('/login', async (ctx) => {
    const form = await readForm(ctx);
    const interaction = await details(ctx);
    if (!requireCsrf(ctx, form)) return;
    if (interaction.prompt.name !== 'login') return page(ctx, 'error', { title: 'Error', message: 'You are already signed in.', code: 'unexpected_step' }, 400);
    const email = (form.get('email') ?? '').slice(0, 254);
    const password = form.get('password') ?? '';
    const clientId = String(interaction.params.client_id);
    const loginPage = async (error: string, status: number) =>
      page(ctx, 'login', { title: 'Sign in', uid: interaction.uid, csrf: csrfToken(csrfSecret, interaction.uid), client: await clientView(clientId), email, error }, status);

    const attempt = attemptFrom(ctx, { kind: 'password', step: 'login', email });
    const gate = await attempts.begin(attempt);
    if (!gate.allowed) {
      ctx.set('Retry-After', String(gate.retryAfterSeconds));
      return loginPage(`Too many attempts. Try again in ${describeWait(gate.retryAfterSeconds)}.`, 429);
    }
    const user = password.length <= 256 ? await verifyPasswordSignIn(services, email, password) : undefined;
    await attempts.finish({ ...attempt, userId: user?.id }, Boolean(user));
    if (!user) services.events.emit({ type: 'signin.failure', clientId, details: { method: 'password' }, ...requestFields(ctx) });
    // During an account-wide lock (many failures from many addresses) a password alone is not
    // enough: the owner goes on with a second factor, or signs in with a passkey. A wrong
    // password and a right one without a second factor get the same answer then.
    if (gate.accountLocked && !user?.hasSecondFactor) {
      return loginPage('Too many failed sign-ins for this account. Sign in with a passkey, or try again later.', 429);
    }
    if (!user) return loginPage('Incorrect e-mail address or password.', 401);
    // Finishes with amr ['pwd'], or goes on to the second factor (or its enrolment).
    await secondFactor.afterPassword(ctx, interaction, user, { requireSecondFactor: gate.accountLocked });
  });

  router.post('/confirm', async (ctx) => {
    const form = await readForm(ctx);
    const interaction = await details(ctx);
    if (!requireCsrf(ctx, form)) return;
    const { prompt, params, session } = interaction;
    if (prompt.name !== 'consent' || !session) return page(ctx, 'error', { title: 'Error', message: 'Nothing to confirm.', code: 'unexpected_step' }, 400);
    const provider = holder.current;
    const client = await clientView(String(params.client_id));
    const apis = await apisOfRequest(interaction, client.allowedScopes);
    const choices = new Map<string, AccessChoice>();
    for (const api of apis) {
      choices.set(api.audience, form.get(`access:${api.audience}`) === 'read-write' && api.writeRequested ? 'read-write' : 'read-only');
    }
    const grant = interaction.grantId
      ? ((await provider.Grant.find(interaction.grantId)) ?? new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) }))
      : new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
    applyConsent(grant, {
      missingOIDCScope: (prompt.details.missingOIDCScope ?? []) as string[],
      missingOIDCClaims: (prompt.details.missingOIDCClaims ?? []) as string[],
      apis,
      choices,
    });
    const grantId = await grant.save();
    services.events.emit({
      type: 'consent.granted',
      actor: session.accountId,
      userId: session.accountId,
      clientId: String(params.client_id),
      details: { grantId, apis: Object.fromEntries([...choices].map(([audience, choice]) => [audience, choice])) },
      ...requestFields(ctx),
    });
    seeOther(ctx, await saveInteractionResult(interaction, { consent: { grantId } }, { mergeWithLastSubmission: true }));
  });

  router.post('/abort', async (ctx) => {
    const form = await readForm(ctx);
    const interaction = await details(ctx);
    if (!requireCsrf(ctx, form)) return;
    services.events.emit({ type: 'consent.denied', userId: interaction.session?.accountId, clientId: String(interaction.params.client_id), ...requestFields(ctx) });
    seeOther(ctx, await saveInteractionResult(interaction, { error: 'access_denied', error_description: 'End-user denied the request' }));
  });

  return router;
}
