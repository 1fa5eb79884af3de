import type { Context } from 'koa';
import type { Services } from '../context.ts';
import { bearerToken, constantTimeEqual } from '../crypto/constant-time.ts';
import { signedInUser } from '../oidc/first-party-session.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';

/**
 * Who may use the admin APIs (/admin/api/clients, /admin/api/security), one rule for both:
 *   - `Authorization: Bearer <ADMIN_API_TOKEN>`, or
 *   - the session cookie of a signed-in user with the `admin` role; changes then also need the
 *     header `X-Latchkey-Admin: 1`, which a cross-site form cannot send (no CORS is offered), so
 *     a malicious page cannot ride the admin's cookie.
 * Returns who is acting ('admin-api-token' or the admin's user id), or undefined after
 * answering 401/403 itself.
 */
export function adminAuthentication(services: Pick<Services, 'config' | 'db'> & Services, holder: ProviderHolder) {
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

  return async function adminActor(ctx: Context): Promise<string | undefined> {
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
}
