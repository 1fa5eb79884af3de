/**
 * Latchkey's client behaviour on a built provider (installed again when key rotation rebuilds
 * it): the secret-rotation grace period (secret-rotation-grace.ts), a clear description
 * for suspended and unapproved clients, the API scopes in RFC 7591/7592 answers,
 * per-client token counts. DCR policy, DCR storage, CORS and registration tokens are their own
 * modules (dcr-policy.ts, dcr-client-store.ts, client-cors.ts, registration-tokens.ts).
 */
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Services } from '../context.ts';
import { splitScope } from './client-rules.ts';
import { giveBackFailedRegistrations } from './registration-tokens.ts';
import { acceptPreviousSecretDuringGrace } from './secret-rotation-grace.ts';
import { recordTokenIssued } from './usage.ts';

/** The client_id a failed request presented: HTTP Basic (form-urlencoded, RFC 6749 §2.3.1) or the body. */
function presentedClientId(ctx: KoaContextWithOIDC): string | undefined {
  const header = ctx.get('authorization');
  if (/^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      try {
        return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    }
  }
  const fromParams = ctx.oidc?.params?.client_id;
  return typeof fromParams === 'string' ? fromParams : undefined;
}

const REGISTRATION_ROUTES = new Set(['registration', 'client', 'client_update']);

/** Installs Latchkey's client behaviour on a freshly built provider (also after key rotation rebuilds it). */
export function installClientHooks(provider: Provider, services: Services): void {
  const { clients } = services;

  acceptPreviousSecretDuringGrace(provider, services);

  provider.use(async (ctx: Context, next: Next) => {
    await next();
    const oidcCtx = ctx as unknown as KoaContextWithOIDC;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Buffer.isBuffer(body)) return;
    // oidc-provider answers a suspended client like an unknown one; say why.
    if (body.error === 'invalid_client') {
      const clientId = presentedClientId(oidcCtx);
      const stored = clientId ? await clients.find(clientId) : undefined;
      if (stored?.suspended) body.error_description = 'this client is suspended; its owner should contact the operator';
      else if (stored?.approvalPending) body.error_description = 'this client is awaiting approval by an operator';
      return;
    }
    // RFC 7591/7592 responses: show the API scopes Latchkey keeps beside oidc-provider's metadata.
    if (REGISTRATION_ROUTES.has(oidcCtx.oidc?.route ?? '') && typeof body.client_id === 'string' && ctx.status < 300) {
      const stored = await clients.find(body.client_id);
      const apiScopes = [...(stored?.allowedScopes ?? [])];
      if (apiScopes.length) body.scope = [...splitScope(body.scope).oidc, ...apiScopes].join(' ');
    }
  });

  // Per-client token counts (usage.ts), and initial access token uses given back on failure.
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const clientId = ctx.oidc.client?.clientId;
    if (clientId) recordTokenIssued(services, clientId);
  });
  giveBackFailedRegistrations(provider, services);
}
