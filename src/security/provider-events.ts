import type Provider from 'oidc-provider';
import { requestFields, type SecurityEvents } from './security-events.ts';

/**
 * Token issuance, failures and revocation as security events, from oidc-provider's own events
 * (identifiers and metadata only; the audit log and the metrics listen to the events).
 */
export function emitProviderEvents(provider: Provider, events: SecurityEvents): void {
  provider.on('grant.success', (ctx) => {
    const grantType = String(ctx.oidc.params?.grant_type ?? 'unknown').slice(0, 60);
    const at = ctx.oidc.entities.AccessToken ?? ctx.oidc.entities.ClientCredentials;
    const accountId = ctx.oidc.entities.Account?.accountId ?? (at as { accountId?: string } | undefined)?.accountId;
    events.emit({
      type: 'token.issued',
      actor: ctx.oidc.client ? `client:${ctx.oidc.client.clientId}` : undefined,
      userId: accountId,
      clientId: ctx.oidc.client?.clientId,
      details: {
        grantType,
        grantId: (at as { grantId?: string } | undefined)?.grantId,
        scope: (at as { scope?: string } | undefined)?.scope,
        audience: (at as { aud?: unknown } | undefined)?.aud,
        refreshToken: Boolean(ctx.oidc.entities.RefreshToken) || undefined,
        dpop: Boolean(ctx.oidc.entities.AccessToken?.jkt ?? ctx.oidc.entities.ClientCredentials?.jkt) || undefined,
      },
      ...requestFields(ctx),
    });
  });
  provider.on('grant.error', (ctx, err) => {
    const grantType = String(ctx.oidc?.params?.grant_type ?? 'unknown').slice(0, 60);
    events.emit({
      type: 'token.failed',
      clientId: ctx.oidc?.client?.clientId ?? (typeof ctx.oidc?.params?.client_id === 'string' ? ctx.oidc.params.client_id.slice(0, 200) : undefined),
      details: {
        grantType,
        error: String((err as { error?: string }).error ?? 'server_error'),
        description: String((err as { error_description?: string }).error_description ?? '').slice(0, 200),
      },
      ...requestFields(ctx),
    });
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    events.emit({ type: 'grant.revoked', clientId: ctx.oidc?.client?.clientId, details: { grantId }, ...requestFields(ctx) });
  });
  provider.on('revocation.error', (ctx, err) => {
    events.emit({ type: 'token.revocation_failed', clientId: ctx.oidc?.client?.clientId, details: { error: (err as { error?: string }).error }, ...requestFields(ctx) });
  });
  provider.on('introspection.error', (ctx, err) => {
    events.emit({ type: 'token.introspection_failed', clientId: ctx.oidc?.client?.clientId, details: { error: (err as { error?: string }).error }, ...requestFields(ctx) });
  });
  provider.on('pushed_authorization_request.success', (ctx) => {
    events.emit({ type: 'par.accepted', clientId: ctx.oidc?.client?.clientId, ...requestFields(ctx) });
  });
  provider.on('end_session.success', (ctx) => {
    events.emit({ type: 'session.ended', userId: ctx.oidc?.session?.accountId, clientId: ctx.oidc?.client?.clientId, ...requestFields(ctx) });
  });
}
