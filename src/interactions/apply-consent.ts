import type { Grant } from 'oidc-provider';
import type { ApiRequest, AccessChoice } from '../apis/consent-model.ts';
import { CLAIMS_BY_SCOPE } from '../oidc/account-claims.ts';
import { grantableClaims, resolveChoice } from '../apis/consent-model.ts';

const split = (s: string | undefined) => new Set((s ?? '').split(' ').filter(Boolean));

/**
 * Records the user's decision in the grant. oidc-provider has no "un-reject", so when a user
 * who once chose read-only now allows write (the app asked again with prompt=consent), the
 * earlier rejection is lifted here; the reverse narrows an earlier read-write grant.
 */
export function applyConsent(
  grant: Grant,
  input: { missingOIDCScope: string[]; missingOIDCClaims: string[]; apis: ApiRequest[]; choices: Map<string, AccessChoice> },
): void {
  if (input.missingOIDCScope.length) grant.addOIDCScope(input.missingOIDCScope.join(' '));
  if (input.missingOIDCClaims.length) {
    // Only claims the consent screen listed (those of the granted scopes); the rest are refused, not granted unseen.
    const grantable = grantableClaims(split(grant.getOIDCScope()), CLAIMS_BY_SCOPE);
    const allowed = input.missingOIDCClaims.filter((c) => grantable.has(c));
    const refused = input.missingOIDCClaims.filter((c) => !grantable.has(c));
    if (allowed.length) grant.addOIDCClaims(allowed);
    if (refused.length) grant.rejectOIDCClaims(refused);
  }
  for (const api of input.apis) {
    const choice = input.choices.get(api.audience) ?? 'read-only';
    const { grant: allow, reject } = resolveChoice(api, choice);
    const granted = split(grant.resources?.[api.audience]);
    const rejected = split(grant.rejected?.resources?.[api.audience]);
    for (const s of allow) {
      granted.add(s);
      rejected.delete(s);
    }
    for (const s of reject) {
      granted.delete(s);
      rejected.add(s);
    }
    grant.resources = { ...grant.resources, [api.audience]: [...granted].join(' ') };
    grant.rejected = { ...grant.rejected, resources: { ...grant.rejected?.resources, [api.audience]: [...rejected].join(' ') } };
  }
}
