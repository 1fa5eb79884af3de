import Router from '@koa/router';
import type { Context } from 'koa';
import { approveClient, clientStats, deleteClient, listClients, setSuspended, showClient } from '../clients/client-registry.ts';
import type { Services } from '../context.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { adminAuthentication } from './admin-auth.ts';

/**
 * Operator control of clients over HTTP, the same operations as `latchkey client …`:
 *   GET    /admin/api/clients              list
 *   GET    /admin/api/clients/:id          details and activity
 *   POST   /admin/api/clients/:id/suspend | /unsuspend | /approve
 *   DELETE /admin/api/clients/:id          delete, revoking its grants and tokens
 * Authentication (documented in docs/register-your-app.md, "Operators"): the ADMIN_API_TOKEN
 * bearer token or an admin's session (admin-auth.ts).
 */
export function adminClientRoutes(services: Services, holder: ProviderHolder): Router {
  const router = new Router({ prefix: '/admin/api/clients', sensitive: true });

  const admin = adminAuthentication(services, holder);

  const run = async (ctx: Context, fn: (actor: string, id: string) => Promise<unknown>) => {
    const actor = await admin(ctx);
    if (!actor) return;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await fn(actor, ctx.params.clientId ?? '');
  };

  router.get('/', (ctx) => run(ctx, () => listClients(services)));
  router.get('/:clientId', (ctx) => run(ctx, async (_actor, id) => ({ ...(await showClient(services, id)), activity: await clientStats(services, id) })));
  router.post('/:clientId/suspend', (ctx) => run(ctx, (actor, id) => setSuspended(services, id, true, actor)));
  router.post('/:clientId/unsuspend', (ctx) => run(ctx, (actor, id) => setSuspended(services, id, false, actor)));
  router.post('/:clientId/approve', (ctx) => run(ctx, (actor, id) => approveClient(services, id, actor)));
  router.delete('/:clientId', (ctx) => run(ctx, (actor, id) => deleteClient(services, id, actor)));
  return router;
}
