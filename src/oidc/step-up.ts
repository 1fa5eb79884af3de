import { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_MFA, CLIENT_REQUIRE_MFA, requestsMfa } from '../accounts/second-factor-policy.ts';

/**
 * oidc-provider's side of two-factor sign-in (docs/two-factor.md):
 * - a login-prompt Check that asks for sign-in again when the app wants the MFA level
 *   (`acr_values` containing urn:latchkey:acr:mfa, or client metadata latchkey_require_mfa)
 *   and the session has only a password; `max_age` is enforced by oidc-provider itself;
 * - acr/amr in access tokens, copied from the code or refresh token they are issued from;
 * - the `latchkey_require_mfa` client metadata property.
 */
export const STEP_UP_REASON = 'latchkey_mfa_required';

export function appWantsMfa(acrValues: unknown, client: Record<string, unknown> | undefined): boolean {
  return requestsMfa(acrValues) || client?.[CLIENT_REQUIRE_MFA] === true;
}

export function interactionPolicyWithStepUp() {
  const policy = interactionPolicy.base();
  const { Check } = interactionPolicy;
  policy.get('login')!.checks.add(
    new Check(STEP_UP_REASON, 'A second factor is required', (ctx: KoaContextWithOIDC) => {
      const { oidc } = ctx;
      if (!oidc.session?.accountId) return Check.NO_NEED_TO_PROMPT;
      if (!appWantsMfa(oidc.params?.acr_values, oidc.client as unknown as Record<string, unknown>)) return Check.NO_NEED_TO_PROMPT;
      const acr = oidc.result?.login?.acr ?? oidc.session.acr;
      return acr === ACR_MFA ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  return policy;
}

/** `extraTokenClaims`: the authentication context of the sign-in behind the token. */
export async function authenticationClaims(ctx: KoaContextWithOIDC): Promise<Record<string, unknown> | undefined> {
  const source = (ctx.oidc?.entities?.AuthorizationCode ?? ctx.oidc?.entities?.RefreshToken) as { acr?: string; amr?: string[] } | undefined;
  if (!source) return undefined;
  return { ...(source.acr ? { acr: source.acr } : {}), ...(source.amr?.length ? { amr: source.amr } : {}) };
}

type ExtraClientMetadata = NonNullable<Configuration['extraClientMetadata']>;

/** Adds `latchkey_require_mfa` (boolean) to another module's extraClientMetadata. */
export function withRequireMfaMetadata(base: ExtraClientMetadata | undefined): ExtraClientMetadata {
  return {
    properties: [...(base?.properties ?? []), CLIENT_REQUIRE_MFA],
    validator(ctx, key, value, metadata) {
      if (key === CLIENT_REQUIRE_MFA) {
        if (value !== undefined && typeof value !== 'boolean') throw new errors.InvalidClientMetadata(`${CLIENT_REQUIRE_MFA} must be a boolean`);
        return;
      }
      return base?.validator?.(ctx, key, value, metadata);
    },
  };
}
