import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { adminAuthentication } from '../admin/admin-auth.ts';
import { readJson } from '../http/json-body.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { securityOperationHandlers, securitySchemas } from './admin-operations.ts';

/**
 * The admin security API, for the ADMIN_API_TOKEN bearer token or an admin's session (the same
 * rule as the clients' admin API, src/admin/admin-auth.ts); the same operations, schemas
 * and library calls as `latchkey audit` and `latchkey suspensions …` (admin-operations.ts):
 *   GET  /admin/api/security/audit?type=&user=&client=&since=&limit=&cursor=
 *   GET  /admin/api/security/suspensions?all=true
 *   POST /admin/api/security/suspensions        {kind, subject, duration, reason?}
 *   POST /admin/api/security/suspensions/lift   {id} or {kind, subject}
 * Bad input is a 400 naming the field, never a 500.
 */
const text = (max: number) => z.string().max(max).regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

/** Query strings carry text only: numbers and flags are converted here, at the edge. */
const auditQuery = z.object({
  type: text(100).optional(),
  user: text(300).optional(),
  client: text(300).optional(),
  since: text(40).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: text(40).optional(),
});
const listQuery = z.object({ all: z.enum(['true', 'false']).optional() });

export function adminSecurityRoutes(services: Services, holder: ProviderHolder): Router {
  const router = new Router({ prefix: '/admin/api/security', sensitive: true });
  const ops = securityOperationHandlers(services, 'admin-api');
  const adminActor = adminAuthentication(services, holder);

  // Errors (zod's included) reach the error handler, which answers them as JSON with the field named.
  router.use(async (ctx: Context, next: Next) => {
    ctx.set('Cache-Control', 'no-store');
    if (!(await adminActor(ctx))) return;
    await next();
  });

  const body = async (ctx: Context) => {
    const parsed = await readJson(ctx, 16 * 1024);
    if (!parsed) throw new InputError('expected a JSON object of at most 16 KiB');
    return parsed;
  };

  router.get('/audit', async (ctx) => {
    ctx.body = await ops['audit.query'](auditQuery.parse(ctx.query));
  });
  router.get('/suspensions', async (ctx) => {
    const { all } = listQuery.parse(ctx.query);
    ctx.body = { suspensions: await ops['suspensions.list']({ all: all === 'true' }) };
  });
  router.post('/suspensions', async (ctx) => {
    const created = await ops['suspensions.add'](securitySchemas['suspensions.add'].parse(await body(ctx)));
    ctx.status = 201;
    ctx.body = created;
  });
  router.post('/suspensions/lift', async (ctx) => {
    ctx.body = await ops['suspensions.lift'](securitySchemas['suspensions.lift'].parse(await body(ctx)));
  });

  return router;
}
