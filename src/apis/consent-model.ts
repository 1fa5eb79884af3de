import type { ApiInfo, ApiScopeInfo } from './api-store.ts';

/** What the user is asked to allow for one API. */
export interface ApiRequest {
  name: string;
  audience: string;
  /** The API scopes the app asked for and may get. */
  scopes: ApiScopeInfo[];
  writeRequested: boolean;
}

export type AccessChoice = 'read-only' | 'read-write';

/**
 * What each OpenID scope releases, in plain words: one line per group of claims, so the consent
 * screen lists exactly what the app will receive (the claims are src/oidc/account-claims.ts
 * CLAIMS_BY_SCOPE). `profile` releases nothing (Latchkey keeps no profile), so it shows nothing.
 */
export const IDENTITY_WORDS: Record<string, string[]> = {
  // sub — pairwise unless the app is first-party (src/oidc/pairwise-subject.ts)
  openid: [
    'Know who you are: an identifier for your account (an app run by someone else gets one of its own, so apps cannot match you up)',
    // acr, amr, auth_time
    'When and how you signed in (the time, and whether with a password, a code or a passkey)',
  ],
  // email, email_verified
  email: ['See your e-mail address'],
  offline_access: ['Keep access while you are not using the app, until you revoke it'],
};

export function describeIdentityScopes(scope: string): string[] {
  return scope.split(' ').flatMap((s) => IDENTITY_WORDS[s] ?? []);
}

/**
 * The claims a grant may hold: those of its OpenID scopes. Anything else an app asked for
 * (say `email` without the `email` scope) is refused rather than granted unseen.
 */
export function grantableClaims(openidScopes: Iterable<string>, claimsByScope: Readonly<Record<string, readonly string[]>>): Set<string> {
  const claims = new Set<string>();
  for (const scope of openidScopes) for (const claim of claimsByScope[scope] ?? []) claims.add(claim);
  return claims;
}

/**
 * The APIs a request touches and the scopes asked of each: the resources oidc-provider says
 * are missing consent, plus (when the app sent prompt=consent to ask again) every resource of
 * the request. Only scopes the app may get count.
 */
export function requestedApis(input: {
  requestedScope: string;
  resourcesInRequest: string[];
  missingResourceScopes: Record<string, string[]>;
  apiByAudience: (audience: string) => ApiInfo | undefined;
  allowedScopes: Set<string>;
}): ApiRequest[] {
  const requested = new Set(input.requestedScope.split(' ').filter(Boolean));
  const audiences = new Set([...Object.keys(input.missingResourceScopes), ...input.resourcesInRequest]);
  const result: ApiRequest[] = [];
  for (const audience of audiences) {
    const api = input.apiByAudience(audience);
    if (!api) continue;
    const scopes = api.scopes.filter((s) => requested.has(s.name) && input.allowedScopes.has(s.name));
    if (!scopes.length) continue;
    result.push({ name: api.name, audience, scopes, writeRequested: scopes.some((s) => s.access === 'write') });
  }
  return result;
}

/** The scopes to grant and to reject for one API, given the user's choice. */
export function resolveChoice(api: ApiRequest, choice: AccessChoice): { grant: string[]; reject: string[] } {
  const allow = choice === 'read-write' ? api.scopes : api.scopes.filter((s) => s.access === 'read');
  const reject = api.scopes.filter((s) => !allow.includes(s));
  return { grant: allow.map((s) => s.name), reject: reject.map((s) => s.name) };
}

/** "Read-only" or "Read and write", for an API given the scopes a grant holds. */
export function describeAccess(api: ApiInfo, grantedScopes: string[]): string | undefined {
  const granted = api.scopes.filter((s) => grantedScopes.includes(s.name));
  if (!granted.length) return undefined;
  return granted.some((s) => s.access === 'write') ? 'Read and write' : 'Read-only';
}
