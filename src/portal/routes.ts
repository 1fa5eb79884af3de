import { readFileSync } from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { User } from '../accounts/users.ts';
import { clientStats, createClient, deleteClient, isOwnedBy, rotateSecret, showClient, updateClient, listClients, type NewClient } from '../clients/client-registry.ts';
import { CLIENT_TYPES, parseDuration, type ClientType } from '../clients/client-rules.ts';
import type { Services } from '../context.ts';
import { InputError, NotFoundError } from '../errors.ts';
import { csrfToken, csrfValid } from '../http/csrf.ts';
import { readForm } from '../http/form-body.ts';
import { sendPage, sendRefusalPage } from '../http/html-page.ts';
import { viewsDir } from '../http/views.ts';
import { clientMetadataValidator } from '../oidc/client-validation.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { finishSignIn, signedInUser, startSignIn } from '../oidc/first-party-session.ts';

export const PORTAL_BASE = '/developer';
const BASE = PORTAL_BASE;
const STATE_COOKIE = 'latchkey.developer_state';
const script = readFileSync(path.join(viewsDir, 'assets/portal.js'));

const lines = (text: string | null) => (text ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
const optional = (text: string | null) => (text ?? '').trim() || undefined;

/** The form as submitted, to refill it after a refusal. */
function formState(form: URLSearchParams) {
  return {
    type: form.get('type') ?? undefined,
    name: form.get('name') ?? '',
    description: form.get('description') ?? '',
    logo_uri: form.get('logo_uri') ?? '',
    client_uri: form.get('client_uri') ?? '',
    policy_uri: form.get('policy_uri') ?? '',
    tos_uri: form.get('tos_uri') ?? '',
    redirect_uris: form.get('redirect_uris') ?? '',
    post_logout_redirect_uris: form.get('post_logout_redirect_uris') ?? '',
    cors_origins: form.get('cors_origins') ?? '',
    scopes: form.getAll('scope'),
  };
}

function clientInput(form: URLSearchParams): Omit<NewClient, 'type'> {
  return {
    name: form.get('name') ?? '',
    description: optional(form.get('description')),
    redirectUris: lines(form.get('redirect_uris')),
    postLogoutRedirectUris: lines(form.get('post_logout_redirect_uris')),
    corsOrigins: lines(form.get('cors_origins')),
    logoUri: optional(form.get('logo_uri')),
    clientUri: optional(form.get('client_uri')),
    policyUri: optional(form.get('policy_uri')),
    tosUri: optional(form.get('tos_uri')),
    scope: form.getAll('scope').join(' '),
  };
}

/**
 * The developer portal: users with the `developer` role register and manage their own apps.
 * Every app route looks the app up by id AND owner, so developer A never sees, changes or
 * deletes developer B's app (the answer is the same 404 as for an unknown id).
 */
export function portalRoutes(services: Services, holder: ProviderHolder, csrfSecret: string): Router {
  const router = new Router({ prefix: BASE, sensitive: true });
  const validate = clientMetadataValidator(() => holder.current);

  const page = sendPage;
  const errorPage = (ctx: Context, status: number, message: string, code: string) => sendRefusalPage(ctx, status, code, message);

  /** The signed-in developer, or an answer already sent (sign-in redirect, 401, 403). */
  const developer = async (ctx: Context): Promise<{ user: User; sessionUid: string } | undefined> => {
    const signedIn = await signedInUser(services, holder, ctx);
    if (!signedIn) {
      if (ctx.method === 'GET') startSignIn(services, ctx, BASE, STATE_COOKIE);
      else errorPage(ctx, 401, 'Sign in first.', 'login_required');
      return undefined;
    }
    if (!signedIn.user.roles.includes('developer')) {
      errorPage(ctx, 403, 'The developer portal is for accounts with the developer role. Ask an administrator.', 'forbidden');
      return undefined;
    }
    return signedIn;
  };

  /** A signed-in developer posting a form with a valid CSRF token. */
  const developerPost = async (ctx: Context) => {
    const form = await readForm(ctx);
    const signedIn = await developer(ctx);
    if (!signedIn) return undefined;
    if (!csrfValid(csrfSecret, signedIn.sessionUid, form.get('csrf'))) {
      errorPage(ctx, 403, 'The form was stale or forged. Reload the page and try again.', 'csrf');
      return undefined;
    }
    return { ...signedIn, form };
  };

  const ownedApp = async (ctx: Context, userId: string) => {
    const id = ctx.params.clientId ?? '';
    if (!(await isOwnedBy(services, id, userId))) {
      errorPage(ctx, 404, 'No such app.', 'not_found');
      return undefined;
    }
    return showClient(services, id);
  };

  const apisForForm = async () => (await services.apis.all()).map((a) => ({ name: a.name, audience: a.audience, scopes: a.scopes }));

  const appPage = async (ctx: Context, signedIn: { sessionUid: string }, clientId: string, error?: string, form?: ReturnType<typeof formState>, status = 200) => {
    const app = await showClient(services, clientId);
    const md = app.metadata;
    const asLines = (v: unknown) => (Array.isArray(v) ? v.join('\n') : '');
    page(
      ctx,
      'portal/app',
      {
        title: app.name,
        app,
        stats: await clientStats(services, clientId),
        apis: await apisForForm(),
        csrf: csrfToken(csrfSecret, signedIn.sessionUid),
        error,
        form: form ?? {
          name: app.name,
          description: app.description,
          logo_uri: md.logo_uri ?? '',
          client_uri: md.client_uri ?? '',
          policy_uri: md.policy_uri ?? '',
          tos_uri: md.tos_uri ?? '',
          redirect_uris: asLines(md.redirect_uris),
          post_logout_redirect_uris: asLines(md.post_logout_redirect_uris),
          cors_origins: asLines(md.allowed_cors_origins),
          scopes: [...String(md.scope ?? '').split(' ').filter(Boolean), ...app.api_scopes],
        },
      },
      status,
    );
  };

  router.get('/assets/portal.js', (ctx) => {
    ctx.type = 'text/javascript';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = script;
  });

  router.get('/callback', async (ctx) => {
    const error = finishSignIn(ctx, BASE, STATE_COOKIE);
    if (error === 'state_mismatch') return errorPage(ctx, 400, 'This sign-in link is stale. Open the developer portal again.', error);
    if (error) return errorPage(ctx, 400, 'Signing in to the developer portal did not complete.', error);
    ctx.redirect(BASE);
  });

  router.get('/', async (ctx) => {
    const signedIn = await developer(ctx);
    if (!signedIn) return;
    page(ctx, 'portal/index', { title: 'Your apps', email: signedIn.user.email, apps: await listClients(services, { ownerId: signedIn.user.id }) });
  });

  router.get('/apps/new', async (ctx) => {
    const signedIn = await developer(ctx);
    if (!signedIn) return;
    page(ctx, 'portal/new', { title: 'Register an app', csrf: csrfToken(csrfSecret, signedIn.sessionUid), apis: await apisForForm(), form: { scopes: ['openid'] } });
  });

  router.post('/apps', async (ctx) => {
    const posted = await developerPost(ctx);
    if (!posted) return;
    const { form, user, sessionUid } = posted;
    const type = form.get('type') as ClientType;
    try {
      if (!CLIENT_TYPES.includes(type)) throw new InputError('choose an app type');
      const created = await createClient(services, validate, { ...clientInput(form), type, ownerId: user.id, createdVia: 'portal', actor: user.id });
      page(ctx, 'portal/credentials', {
        title: 'App registered',
        heading: 'Your app is registered',
        clientId: created.client_id,
        secret: created.client_secret,
        approvalPending: created.approval_pending,
        machineAccessPending: type === 'service',
      });
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      page(ctx, 'portal/new', { title: 'Register an app', csrf: csrfToken(csrfSecret, sessionUid), apis: await apisForForm(), form: formState(form), error: error.message }, 400);
    }
  });

  router.get('/apps/:clientId', async (ctx) => {
    const signedIn = await developer(ctx);
    if (!signedIn) return;
    const app = await ownedApp(ctx, signedIn.user.id);
    if (!app) return;
    await appPage(ctx, signedIn, app.client_id);
  });

  router.post('/apps/:clientId/edit', async (ctx) => {
    const posted = await developerPost(ctx);
    if (!posted) return;
    const app = await ownedApp(ctx, posted.user.id);
    if (!app) return;
    try {
      await updateClient(services, validate, app.client_id, { ...clientInput(posted.form), actor: posted.user.id });
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return appPage(ctx, posted, app.client_id, error.message, formState(posted.form), 400);
    }
    ctx.status = 303;
    ctx.redirect(`${BASE}/apps/${encodeURIComponent(app.client_id)}`);
  });

  router.post('/apps/:clientId/rotate-secret', async (ctx) => {
    const posted = await developerPost(ctx);
    if (!posted) return;
    const app = await ownedApp(ctx, posted.user.id);
    if (!app) return;
    const grace = parseDuration(posted.form.get('grace') ?? '0');
    try {
      if (grace === undefined) throw new InputError('choose a grace period');
      const rotated = await rotateSecret(services, app.client_id, grace, posted.user.id);
      page(ctx, 'portal/credentials', {
        title: 'New client secret',
        heading: 'New client secret',
        clientId: app.client_id,
        secret: rotated.client_secret,
        previousValidUntil: rotated.previous_secret_valid_until,
      });
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return appPage(ctx, posted, app.client_id, error.message, undefined, 400);
    }
  });

  router.post('/apps/:clientId/delete', async (ctx) => {
    const posted = await developerPost(ctx);
    if (!posted) return;
    const app = await ownedApp(ctx, posted.user.id);
    if (!app) return;
    if (posted.form.get('confirm') !== 'yes') return appPage(ctx, posted, app.client_id, 'Tick the box to confirm the deletion.', undefined, 400);
    try {
      await deleteClient(services, app.client_id, posted.user.id);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    ctx.status = 303;
    ctx.redirect(BASE);
  });

  return router;
}
