import Router from '@koa/router';
import type { Context } from 'koa';
import { approveClient, clientStats, deleteClient, listClients, setSuspended, showClient } from '../clients/client-registry.ts';
import type { Services } from '../context.ts';
import { NotFoundError } from '../errors.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { bearerToken, constantTimeEqual } from '../http/constant-time.ts';
import { signedInUser } from '../oidc/first-party-session.ts';

/**
 * Operator control of clients over HTTP, the same operations as `latchkey client …`:
 *   GET    /admin/api/clients              list
 *   GET    /admin/api/clients/:id          details and activity
 *   POST   /admin/api/clients/:id/suspend | /unsuspend | /approve
 *   DELETE /admin/api/clients/:id          delete, revoking its grants and tokens
 * Authentication (documented in docs/register-your-app.md, "Operators"): either
 *   - `Authorization: Bearer <ADMIN_API_TOKEN>` (the operator token of issue 6's admin API), or
 *   - the session cookie of a signed-in user with the `admin` role; changes then also need the
 *     header `X-Latchkey-Admin: 1`, which a cross-site form cannot send (no CORS is offered), so
 *     a malicious page cannot ride the admin's cookie.
 */
export function adminClientRoutes(services: Services, holder: ProviderHolder): Router {
  const router = new Router({ prefix: '/admin/api/clients', sensitive: true });

  const fail = (ctx: Context, status: number, error: string, description: string) => {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error, error_description: description };
  };

  const bearerMatches = (ctx: Context) => {
    const expected = services.config.security?.adminApiToken;
    const presented = bearerToken(ctx.get('authorization'));
    return Boolean(expected && presented && constantTimeEqual(presented, expected));
  };

  /** Who is acting, or undefined after answering 401/403. */
  const admin = async (ctx: Context): Promise<string | undefined> => {
    if (ctx.get('authorization')) {
      if (bearerMatches(ctx)) return 'admin-api-token';
      ctx.set('WWW-Authenticate', 'Bearer realm="latchkey-admin"');
      fail(ctx, 401, 'invalid_token', 'the admin API token is not valid');
      return undefined;
    }
    const signedIn = await signedInUser(services, holder, ctx);
    if (!signedIn) {
      fail(ctx, 401, 'login_required', 'sign in as an administrator or send the admin API token');
      return undefined;
    }
    if (!signedIn.user.roles.includes('admin')) {
      fail(ctx, 403, 'forbidden', 'the admin role is required');
      return undefined;
    }
    if (ctx.method !== 'GET' && ctx.get('x-latchkey-admin') !== '1') {
      fail(ctx, 403, 'forbidden', 'changes made with a session cookie need the header X-Latchkey-Admin: 1');
      return undefined;
    }
    return signedIn.user.id;
  };

  const run = async (ctx: Context, fn: (actor: string, id: string) => Promise<unknown>) => {
    const actor = await admin(ctx);
    if (!actor) return;
    try {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await fn(actor, ctx.params.clientId ?? '');
    } catch (error) {
      if (error instanceof NotFoundError) return fail(ctx, 404, 'not_found', 'no such client');
      throw error;
    }
  };

  router.get('/', (ctx) => run(ctx, () => listClients(services)));
  router.get('/:clientId', (ctx) => run(ctx, async (_actor, id) => ({ ...(await showClient(services, id)), activity: await clientStats(services, id) })));
  router.post('/:clientId/suspend', (ctx) => run(ctx, (actor, id) => setSuspended(services, id, true, actor)));
  router.post('/:clientId/unsuspend', (ctx) => run(ctx, (actor, id) => setSuspended(services, id, false, actor)));
  router.post('/:clientId/approve', (ctx) => run(ctx, (actor, id) => approveClient(services, id, actor)));
  router.delete('/:clientId', (ctx) => run(ctx, (actor, id) => deleteClient(services, id, actor)));
  return router;
}
