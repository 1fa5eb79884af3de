import { AccessTokenError, insufficientScope, invalidToken, type AuthenticationScheme } from './access-token-error.ts';
import type { VerifiedAccessToken } from './verified-access-token.ts';

export interface TokenRequirements {
  /** Every one of these scopes must have been granted. */
  scopes?: readonly string[];
  /** The token's `acr` must be one of these (e.g. a step-up level). */
  acrValues?: readonly string[];
  /** Every one of these authentication methods must appear in the token's `amr` (e.g. ['mfa']). */
  amr?: readonly string[];
  /**
   * 'user': only tokens an app got for a signed-in user (machine, client_credentials, tokens are
   * refused with 403); 'machine': only client_credentials tokens. See VerifiedAccessToken.kind.
   */
  kind?: 'user' | 'machine';
}

/** Scope, acr and amr checks, after the token itself is known to be genuine. */
export function assertTokenMeets(token: VerifiedAccessToken, requirements: TokenRequirements, scheme: AuthenticationScheme = 'Bearer'): void {
  if (requirements.kind && token.kind !== requirements.kind) {
    const description = requirements.kind === 'user' ? 'this API accepts only tokens issued for a user, not machine (client_credentials) tokens' : 'this API accepts only machine (client_credentials) tokens';
    throw new AccessTokenError('insufficient_scope', description, { scheme });
  }
  if (requirements.acrValues?.length && (!token.acr || !requirements.acrValues.includes(token.acr))) {
    throw invalidToken(`the token's authentication context does not meet this API's requirement (${requirements.acrValues.join(' ')})`, scheme);
  }
  if (requirements.amr?.length && !requirements.amr.every((m) => token.amr?.includes(m))) {
    throw invalidToken(`the user must have authenticated with: ${requirements.amr.join(' ')}`, scheme);
  }
  if (requirements.scopes?.length && !requirements.scopes.every((s) => token.scopes.includes(s))) {
    throw insufficientScope(requirements.scopes, scheme);
  }
}
