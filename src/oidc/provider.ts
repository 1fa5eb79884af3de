import type { JWK } from 'jose';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Services } from '../context.ts';
import { clientBasedCORS, extraClientMetadata } from '../clients/client-cors.ts';
import { registrationClientStore } from '../clients/dcr-client-store.ts';
import { registrationFeatures } from '../clients/dcr-policy.ts';
import { installClientHooks } from '../clients/provider-hooks.ts';
import { explainError } from '../http/error-explanations.ts';
import { renderView } from '../http/views.ts';
import { ACR_VALUES } from '../accounts/second-factor-policy.ts';
import { authenticationClaims, interactionPolicyWithStepUp, withRequireMfaMetadata } from './step-up.ts';
import { withStatusClaim } from '../revocation/status-claim.ts';
import { createOidcAdapterFactory } from '../storage/oidc-adapter.ts';
import { latestGrantIdFor } from '../storage/payload-queries.ts';
import { CLAIMS_BY_SCOPE, findAccountFor } from './account-claims.ts';
import { accountConsoleClient, ACCOUNT_CONSOLE_CLIENT_ID } from '../clients/account-console-client.ts';
import { providerClientSource } from '../clients/provider-client-source.ts';
import { challengeFailedClientAuthentication } from './client-authentication-challenge.ts';
import { jwksCacheControl } from './jwks-cache-control.ts';
import { introspectionAllowedPolicy } from './introspection-policy.ts';
import { jwtIntrospectionAnswer } from './jwt-introspection-answer.ts';
import { apiIntrospectionSeesAccount, withPairwiseMarker } from './pairwise-access-token.ts';
import { pairwiseSubjects, sectorOf } from './pairwise-subject.ts';
import { introspectJwtAccessTokens } from './jwt-introspection-route.ts';
import { defaultResourceFor, resourceServerInfo, useGrantedResourceFor } from './resources.ts';
import { answerUnauthorizedClientForGrantType } from './unauthorized-client-grant-type.ts';
import { CLOCK_TOLERANCE } from '../config/clock-tolerance.ts';

/**
 * The whole oidc-provider configuration in one place. OAuth 2.1 profile: code flow only,
 * PKCE S256 for every client, refresh tokens rotated on every use, no implicit or hybrid.
 */
export function createProvider(services: Services, keys: { jwks: JWK[]; cookieKeys: string[]; dpopNonceSecret?: Buffer; pairwiseSecret: Buffer }): Provider {
  const { config, apis, clients } = services;
  const pairwiseSubject = pairwiseSubjects(keys.pairwiseSecret);

  const configuration: Configuration = {
    adapter: createOidcAdapterFactory(services.db.sql, providerClientSource(clients), registrationClientStore(services)),
    clients: [accountConsoleClient(config.issuer)],
    jwks: { keys: keys.jwks as Configuration['jwks'] extends { keys: infer K } ? K : never },
    cookies: {
      keys: keys.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', secure: config.production },
      short: { httpOnly: true, sameSite: 'lax', secure: config.production },
      // __Host- (Secure, Path=/, no Domain) where the path allows: the session cookie. The
      // interaction cookies are scoped to /interaction/<uid> and /auth/<uid>, so they cannot be.
      names: { session: config.production ? '__Host-latchkey_session' : '_session', interaction: '_interaction', resume: '_interaction_resume' },
    },
    findAccount: findAccountFor(services),
    // Apps get a pairwise `sub` (OIDC Core §8.1) unless an operator marked them first-party
    // (client_store sets subject_type); src/oidc/pairwise-subject.ts, docs/protect-your-api.md.
    subjectTypes: ['public', 'pairwise'],
    pairwiseIdentifier: async (_ctx, accountId, client) => pairwiseSubject(accountId, sectorOf(client)),
    // The only sector_identifier_uri is Latchkey's stand-in for multi-host apps (client-rules.ts): never fetched.
    sectorIdentifierUriValidate: () => false,
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: { ...(CLAIMS_BY_SCOPE as Record<string, string[]>), acr: null, amr: null, auth_time: null, sid: null },
    acrValues: ACR_VALUES,
    // acr/amr of the sign-in, plus the Token Status List reference of JWT access tokens (src/revocation/).
    // A third-party app's JWT says its `sub` is pairwise, so APIs resolve the user (src/oidc/pairwise-access-token.ts).
    extraTokenClaims: withPairwiseMarker(withStatusClaim(services, authenticationClaims)) as never,
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    // Developer portal / DCR (src/clients/client-cors.ts): SPA CORS origins.
    extraClientMetadata: withRequireMfaMetadata(extraClientMetadata),
    clientBasedCORS: clientBasedCORS as never,
    allowOmittingSingleRegisteredRedirectUri: false,
    clockTolerance: CLOCK_TOLERANCE,
    conformIdTokenClaims: true,
    rotateRefreshToken: true,
    interactions: { policy: interactionPolicyWithStepUp(), url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      // Nonces are off by default (requireNonce); the shared secret makes them valid on every instance.
      dPoP: { enabled: true, ...(keys.dpopNonceSecret ? { nonceSecret: keys.dpopNonceSecret } : {}) },
      devInteractions: { enabled: false },
      // Signed requests (issue 6, docs/operating-securely.md): PAR for everyone (a client may
      // insist on it with require_pushed_authorization_requests), JAR (RFC 9101) optional
      // globally and mandatory for a client with require_signed_request_object.
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      requestObjects: { enabled: true, requireSignedRequestObject: false },
      clientCredentials: { enabled: true },
      ...registrationFeatures(services),
      introspection: {
        enabled: true,
        // The default lets any confidential client introspect any token; Latchkey allows a
        // client its own tokens, and an API the tokens issued for it.
        allowedPolicy: introspectionAllowedPolicy(clients),
      },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = renderView('logout', { title: 'Sign out', form, clientName: ctx.oidc.client?.clientName });
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = renderView('logged-out', { title: 'Signed out', clientName: ctx.oidc.client?.clientName, clientUri: ctx.oidc.client?.clientUri });
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: defaultResourceFor(apis, clients) as never,
        getResourceServerInfo: resourceServerInfo(apis, clients) as never,
        useGrantedResource: useGrantedResourceFor(apis) as never,
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      AuthorizationCode: config.ttl.authorizationCode,
      IdToken: config.ttl.idToken,
      RefreshToken: config.ttl.refreshToken,
      Session: config.ttl.session,
      Grant: config.ttl.grant,
      Interaction: config.ttl.interaction,
    },
    /**
     * Consent is remembered across browser sessions: the user's grant for this client is
     * found in storage, not only in the current session. The account console is first-party
     * and needs no consent.
     */
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { client, session, result } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grantId =
        result?.consent?.grantId ?? session.grantIdFor(client.clientId) ?? (await latestGrantIdFor(services.db.sql, session.accountId, client.clientId));
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (existing && existing.accountId === session.accountId && existing.clientId === client.clientId) return existing;
      if (client.clientId === ACCOUNT_CONSOLE_CLIENT_ID) {
        const grant = new ctx.oidc.provider.Grant({ accountId: session.accountId, clientId: client.clientId });
        grant.addOIDCScope('openid');
        await grant.save();
        return grant;
      }
      return undefined;
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      // People read this page: an explanation and a next step first, the developer's detail below.
      const detail = out.error_description ?? '';
      const explained = explainError(out.error, detail);
      ctx.body = renderView('error', {
        title: 'Error',
        heading: explained?.heading ?? 'This request could not be completed',
        message: explained?.message ?? (detail || 'The request was invalid.'),
        detail: explained ? detail : undefined,
        code: out.error,
      });
    },
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxyHops > 0;
  // Standard answers oidc-provider does not give by itself (RFC 6749 §5.2, RFC 9110 §11.6.1,
  // RFC 7662 for JWT access tokens). Installed first, so their after-steps see the final answer.
  provider.use(jwksCacheControl(config.keyPublishDelaySeconds));
  provider.use(challengeFailedClientAuthentication());
  provider.use(answerUnauthorizedClientForGrantType());
  provider.use(apiIntrospectionSeesAccount(clients) as never);
  provider.use(
    introspectJwtAccessTokens(jwtIntrospectionAnswer({ issuer: config.issuer, jwks: keys.jwks, clockTolerance: CLOCK_TOLERANCE, clients, sql: services.db.sql })),
  );
  installClientHooks(provider, services);
  return provider;
}

export { errors };
