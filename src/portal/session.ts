import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { findUserById, type User } from '../accounts/users.ts';
import type { Services } from '../context.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID } from '../oidc/account-console-client.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';

/**
 * The signed-in user of Latchkey's own pages (developer portal, admin API), read from
 * oidc-provider's session — the same approach as the account page (src/account/routes.ts):
 * sign-in, and the second factor where the MFA policy asks for one, happen in one place.
 */
export async function signedInUser(services: Services, holder: ProviderHolder, ctx: Context): Promise<{ user: User; sessionUid: string } | undefined> {
  const provider = holder.current;
  const session = await provider.Session.get(provider.createContext(ctx.req, ctx.res) as never);
  if (!session?.accountId) return undefined;
  const user = await findUserById(services, session.accountId);
  return user && !user.disabled ? { user, sessionUid: session.uid } : undefined;
}

/** Sends the browser through the authorization endpoint as the first-party account-console client. */
export function startSignIn(services: Services, ctx: Context, base: string, stateCookie: string): void {
  const state = randomBytes(16).toString('base64url');
  // The code is not redeemed: the round trip exists for the provider session it establishes.
  const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
  ctx.cookies.set(stateCookie, state, { httpOnly: true, sameSite: 'lax', secure: services.config.production, signed: true, path: base, maxAge: 600_000 });
  const url = new URL(`${services.config.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: ACCOUNT_CONSOLE_CLIENT_ID,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: `${services.config.issuer}${base}/callback`,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
  }).toString();
  ctx.redirect(url.href);
}
