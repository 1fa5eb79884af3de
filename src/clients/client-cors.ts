/**
 * CORS for single-page apps: the origins an app registered (`allowed_cors_origins`, validated by
 * the same origin rule as everywhere), else oidc-provider's default for public clients.
 */
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { originProblem } from './client-rules.ts';

/** `extraClientMetadata`: the CORS origins a single-page app calls the token endpoint from. */
export const extraClientMetadata: Configuration['extraClientMetadata'] = {
  properties: ['allowed_cors_origins'],
  validator(_ctx, key, value) {
    if (key !== 'allowed_cors_origins' || value === undefined) return;
    if (!Array.isArray(value) || value.length > 10) throw new errors.InvalidClientMetadata('allowed_cors_origins must be an array of at most 10 origins');
    for (const origin of value) {
      const problem = typeof origin === 'string' ? originProblem(origin) : 'allowed_cors_origins must contain strings';
      if (problem) throw new errors.InvalidClientMetadata(problem);
    }
  },
};

/** Registered CORS origins, else oidc-provider's default (a public client's redirect-URI origins). */
export function clientBasedCORS(ctx: KoaContextWithOIDC, origin: string, client: { clientAuthMethod?: string; redirectUris?: string[]; [key: string]: unknown }): boolean {
  if (origin === 'null') return false;
  const registered = client.allowed_cors_origins;
  if (Array.isArray(registered) && registered.includes(origin)) return true;
  if (ctx.oidc.route === 'userinfo' || client.clientAuthMethod === 'none') {
    return (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin);
  }
  return false;
}
