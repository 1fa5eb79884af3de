import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { deleteApi, listApiSummaries, showApi, updateApiByRef } from '../apis/api-admin.ts';
import { createApi } from '../apis/api-registry.ts';
import type { Services } from '../context.ts';
import { InputError, NotFoundError } from '../errors.ts';
import { readForm } from '../http/form-body.ts';
import { clientMetadataValidator } from '../oidc/client-validation.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { requestFields } from '../security/security-events.ts';
import { adminOf } from './console-auth.ts';
import { consolePage, consoleText, seeOtherPage } from './console-page.ts';

/**
 * APIs: the registered APIs (a handful: listed whole from the API cache), creation (the
 * introspection client's secret shown once), edits (name, token lifetime, new scopes, machine
 * scopes) and deletion, refused while users' grants name the API unless forced. The same library
 * calls as `latchkey api …` and the admin API, with the admin as the actor.
 */
type Scope = { name: string; access: 'read' | 'write'; description?: string };

/** Pure: "notes:read=read Read your notes" per line → scopes. */
export function parseScopeLines(text: string): Scope[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line, i) => {
      const m = /^(\S+)=(read|write)(?:\s+(.+))?$/.exec(line);
      if (!m) throw new InputError(`line ${i + 1}: write each scope as name=read or name=write, optionally followed by a description`, 'scopes');
      return { name: m[1]!, access: m[2] as 'read' | 'write', ...(m[3] ? { description: m[3] } : {}) };
    });
}

const words = (text: string | undefined) => (text ?? '').split(/[\s,]+/).filter(Boolean);
const ttlField = z.coerce.number().int().min(60).max(86_400);

const createForm = z.object({
  name: consoleText(100).min(1),
  audience: consoleText(500).min(1),
  scopes: z.string().max(8000),
  token_format: z.enum(['jwt', 'opaque']),
  access_token_ttl: z.union([z.literal(''), ttlField]).optional(),
  machine_scopes: consoleText(2000).optional(),
});
const updateForm = z.object({
  name: consoleText(100).min(1),
  access_token_ttl: ttlField,
  add_scopes: z.string().max(8000).optional(),
});

const apiRefOf = (ctx: Context) => {
  const ref = ctx.params.apiId ?? '';
  if (!ref || ref.length > 100) throw new NotFoundError('No such API.');
  return ref;
};
const apiPath = (id: string) => `/admin/apis/${encodeURIComponent(id)}`;

export function apisRoutes(router: Router, services: Services, holder: ProviderHolder): void {
  const validate = clientMetadataValidator(() => holder.current);

  router.get('/apis', async (ctx) => {
    consolePage(ctx, 'apis', 'apis', { title: 'APIs', apis: await listApiSummaries(services) });
  });

  router.get('/apis/new', (ctx) => consolePage(ctx, 'apis', 'api-new', { title: 'Register an API', form: {} }));

  router.post('/apis', async (ctx) => {
    const raw = Object.fromEntries(await readForm(ctx));
    const form = createForm.parse(raw);
    const created = await createApi(services, validate, {
      name: form.name,
      audience: form.audience,
      scopes: parseScopeLines(form.scopes),
      tokenFormat: form.token_format,
      ...(typeof form.access_token_ttl === 'number' ? { accessTokenTtl: form.access_token_ttl } : {}),
      machineScopes: words(form.machine_scopes),
    });
    services.events.emit({ type: 'api.created', actor: adminOf(ctx).user.id, details: { audience: created.audience, via: 'console' }, ...requestFields(ctx) });
    // The introspection secret is in this response only (no-store), never in a URL or the audit trail.
    await apiPage(ctx, created.id, { introspectionSecret: created.introspection_client_secret, introspectionClientId: created.introspection_client_id });
  });

  const apiPage = async (ctx: Context, ref: string, extra: Record<string, unknown> = {}) => {
    const api = await showApi(services, ref);
    consolePage(ctx, 'apis', 'api', { title: api.name, api, ...extra });
  };

  router.get('/apis/:apiId', (ctx) => apiPage(ctx, apiRefOf(ctx)));

  router.post('/apis/:apiId/update', async (ctx) => {
    const ref = apiRefOf(ctx);
    const raw = await readForm(ctx);
    const form = updateForm.parse(Object.fromEntries(raw));
    const updated = await updateApiByRef(
      services,
      ref,
      { name: form.name, accessTokenTtl: form.access_token_ttl, addScopes: parseScopeLines(form.add_scopes ?? ''), machineScopes: raw.getAll('machine_scope') },
      adminOf(ctx).user.id,
    );
    seeOtherPage(ctx, apiPath(updated.id));
  });

  router.post('/apis/:apiId/delete', async (ctx) => {
    const form = await readForm(ctx);
    await deleteApi(services, apiRefOf(ctx), { force: form.get('force') === 'yes', actor: adminOf(ctx).user.id });
    seeOtherPage(ctx, '/admin/apis');
  });
}
