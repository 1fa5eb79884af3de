import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { findUserById, type User } from '../accounts/users.ts';
import type { Services } from '../context.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID } from '../clients/account-console-client.ts';
import type { ProviderHolder } from './provider-holder.ts';

/**
 * The signed-in user of Latchkey's own pages (account page, developer portal, admin API), read
 * from oidc-provider's session: sign-in, and the second factor where the MFA policy asks for
 * one, happen in one place. A visitor without a session is sent through the authorization
 * endpoint as the first-party account-console client.
 */
export async function signedInUser(services: Services, holder: ProviderHolder, ctx: Context): Promise<{ user: User; sessionUid: string; acr?: string } | undefined> {
  const provider = holder.current;
  const session = await provider.Session.get(provider.createContext(ctx.req, ctx.res) as never);
  if (!session?.accountId) return undefined;
  const user = await findUserById(services, session.accountId);
  // acr: how the session signed in (urn:latchkey:acr:mfa after a second factor), for pages that insist on one
  return user && !user.disabled ? { user, sessionUid: session.uid, ...(typeof session.acr === 'string' ? { acr: session.acr } : {}) } : undefined;
}

/**
 * Redirects to the authorization endpoint; `base` is the pages' path, whose `/callback` receives
 * the answer. `acrValues` asks for an authentication level (the MFA acr: step-up, src/oidc/step-up.ts).
 */
export function startSignIn(services: Services, ctx: Context, base: string, stateCookie: string, options: { acrValues?: string } = {}): void {
  const state = randomBytes(16).toString('base64url');
  // The code is not redeemed: the round trip exists for the provider session it establishes.
  // PKCE is still sent because Latchkey requires it of every client.
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
    ...(options.acrValues ? { acr_values: options.acrValues } : {}),
  }).toString();
  ctx.redirect(url.href);
}

/**
 * Checks the answer at `<base>/callback` against the state cookie (and clears it). Returns
 * undefined when sign-in completed, else the error code to show: the authorization error, or
 * `state_mismatch` for a stale or forged link.
 */
export function finishSignIn(ctx: Context, base: string, stateCookie: string): string | undefined {
  const expected = ctx.cookies.get(stateCookie, { signed: true });
  ctx.cookies.set(stateCookie, null, { path: base });
  if (ctx.query.error) return String(ctx.query.error);
  if (!expected || expected !== ctx.query.state) return 'state_mismatch';
  return undefined;
}
