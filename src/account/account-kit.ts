import type { Context } from 'koa';
import { factorSummary } from '../accounts/factors.ts';
import type { User } from '../accounts/users.ts';
import type { Services } from '../context.ts';
import { csrfToken, csrfValid } from '../http/csrf.ts';
import { sendPage, sendRefusalPage } from '../http/html-page.ts';
import { signedInUser } from '../oidc/first-party-session.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import type { CredentialAttempts } from '../security/credential-attempts.ts';
import { requestFields } from '../security/security-events.ts';
import { reauthMethods, reauthSatisfies, type ReauthNeed } from '../accounts/reauthentication.ts';
import { readJson } from '../http/json-body.ts';

/**
 * What every account-page route file shares: who is signed in (oidc-provider's session), the
 * page renderer, the CSRF check and the re-authentication gate. One answer per refusal, as a
 * page: sign in first (401), stale or forged form (403), confirm it is you (401).
 */
export type SignedIn = { user: User; sessionUid: string };

export interface AccountKit {
  services: Services;
  attempts: CredentialAttempts;
  signedIn(ctx: Context): Promise<SignedIn | undefined>;
  csrf(signedIn: SignedIn): string;
  /** Whether a presented CSRF token (a form field or the x-csrf-token header) is this session's. */
  csrfValid(signedIn: SignedIn, presented: string | null | undefined): boolean;
  page(ctx: Context, view: string, data: Record<string, unknown>, status?: number): void;
  refuse(ctx: Context, status: number, code: string, message: string): void;
  /** Signed in and the form's CSRF token valid; otherwise answers the request itself. */
  formGuard(ctx: Context, form: URLSearchParams): Promise<SignedIn | undefined>;
  /** For the passkey scripts' JSON posts (views/assets/webauthn.js): the session and its CSRF token in a header, else a 403 JSON answer. */
  jsonGuard(ctx: Context): Promise<{ signedIn: SignedIn; body: Record<string, unknown> } | undefined>;
  /** formGuard, and re-authenticated as `need` asks; otherwise shows the re-authentication page. */
  reauthGuard(ctx: Context, form: URLSearchParams, need: ReauthNeed, returnTo: string): Promise<SignedIn | undefined>;
  /** Whether the session has re-authenticated as `need` asks. */
  reauthenticated(signedIn: SignedIn, need: ReauthNeed): Promise<boolean>;
  /** What views/reauth-form.eta needs. */
  reauthForm(signedIn: SignedIn, need: ReauthNeed, returnTo: string): Promise<ReauthForm>;
  event(ctx: Context, type: string, user: { id: string }, details?: Record<string, unknown>): void;
  seeOther(ctx: Context, path: string): void;
}

export interface ReauthForm {
  csrf: string;
  returnTo: string;
  need: ReauthNeed;
  totp: boolean;
  passkeys: boolean;
  /** a password and a code are both asked for */
  both: boolean;
}

export function accountKit(services: Services, holder: ProviderHolder, csrfSecret: string, attempts: CredentialAttempts): AccountKit {
  const page: AccountKit['page'] = sendPage;
  const refuse: AccountKit['refuse'] = sendRefusalPage;
  const csrf = (signedIn: SignedIn) => csrfToken(csrfSecret, signedIn.sessionUid);

  const reauthenticated = async (signedIn: SignedIn, need: ReauthNeed) => {
    const methods = await reauthMethods(services, signedIn.sessionUid);
    if (!methods.length) return false;
    if (need === 'any') return true;
    return reauthSatisfies(methods, need, (await factorSummary(services, signedIn.user)).hasSecondFactor);
  };

  const reauthForm = async (signedIn: SignedIn, need: ReauthNeed, returnTo: string): Promise<ReauthForm> => {
    const factors = await factorSummary(services, signedIn.user);
    return {
      csrf: csrf(signedIn),
      returnTo,
      need,
      totp: factors.totp,
      passkeys: factors.passkeys.length > 0,
      both: need !== 'any' && factors.hasSecondFactor,
    };
  };

  const formGuard: AccountKit['formGuard'] = async (ctx, form) => {
    const signedIn = await signedInUser(services, holder, ctx);
    if (!signedIn) return void refuse(ctx, 401, 'login_required', 'Sign in first.');
    if (!csrfValid(csrfSecret, signedIn.sessionUid, form.get('csrf'))) {
      return void refuse(ctx, 403, 'csrf', 'The form was stale or forged. Reload the page and try again.');
    }
    return signedIn;
  };

  const jsonGuard: AccountKit['jsonGuard'] = async (ctx) => {
    const body = await readJson(ctx);
    const signedIn = await signedInUser(services, holder, ctx);
    ctx.set('Cache-Control', 'no-store');
    if (!signedIn || !csrfValid(csrfSecret, signedIn.sessionUid, ctx.get('x-csrf-token'))) {
      ctx.status = 403;
      ctx.body = { error: 'Reload the page and try again.' };
      return undefined;
    }
    return { signedIn, body: body ?? {} };
  };

  return {
    services,
    attempts,
    jsonGuard,
    signedIn: (ctx) => signedInUser(services, holder, ctx),
    csrf,
    csrfValid: (signedIn, presented) => csrfValid(csrfSecret, signedIn.sessionUid, presented),
    page,
    refuse,
    formGuard,
    async reauthGuard(ctx, form, need, returnTo) {
      const signedIn = await formGuard(ctx, form);
      if (!signedIn) return undefined;
      if (await reauthenticated(signedIn, need)) return signedIn;
      page(ctx, 'reauth', { title: 'Confirm it is you', reauth: await reauthForm(signedIn, need, returnTo) }, 401);
      return undefined;
    },
    reauthenticated,
    reauthForm,
    event(ctx, type, user, details) {
      services.events.emit({ type, actor: user.id, userId: user.id, ...(details ? { details } : {}), ...requestFields(ctx) });
    },
    seeOther(ctx, path) {
      ctx.status = 303;
      ctx.redirect(path);
    },
  };
}
