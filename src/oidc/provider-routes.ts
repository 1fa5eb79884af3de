import type { Route } from '../http/route-table.ts';

/**
 * The endpoints oidc-provider answers with the features src/oidc/provider.ts enables, at its
 * default paths (lib/helpers/initialize_app.js). oidc-provider's own router matches paths
 * case-insensitively and forgives one trailing slash; Latchkey refuses every spelling but the
 * one listed here before the provider sees the request (src/http/canonical-path.ts), so a guard
 * keyed on these paths cannot be walked around. test/e2e/route-variants.test.ts checks the list
 * against the discovery document.
 */
export const PROVIDER_PATHS = {
  authorization: '/auth',
  resume: '/auth/:uid',
  token: '/token',
  introspection: '/token/introspection',
  revocation: '/token/revocation',
  pushedAuthorizationRequest: '/request',
  registration: '/reg',
  registeredClient: '/reg/:clientId',
  userinfo: '/me',
  jwks: '/jwks',
  endSession: '/session/end',
  endSessionConfirm: '/session/end/confirm',
  endSessionSuccess: '/session/end/success',
  openidDiscovery: '/.well-known/openid-configuration',
  oauthDiscovery: '/.well-known/oauth-authorization-server',
} as const;

const P = PROVIDER_PATHS;
const cors = (path: string): Route => ({ method: 'OPTIONS', path });

export const PROVIDER_ROUTES: Route[] = [
  { method: 'GET', path: P.authorization },
  { method: 'POST', path: P.authorization },
  { method: 'GET', path: P.resume },
  { method: 'GET', path: P.userinfo },
  { method: 'POST', path: P.userinfo },
  cors(P.userinfo),
  { method: 'POST', path: P.token },
  cors(P.token),
  { method: 'GET', path: P.jwks },
  cors(P.jwks),
  { method: 'GET', path: P.oauthDiscovery },
  cors(P.oauthDiscovery),
  { method: 'GET', path: P.openidDiscovery },
  cors(P.openidDiscovery),
  { method: 'POST', path: P.registration },
  { method: 'GET', path: P.registeredClient },
  { method: 'PUT', path: P.registeredClient },
  { method: 'DELETE', path: P.registeredClient },
  { method: 'POST', path: P.revocation },
  cors(P.revocation),
  { method: 'POST', path: P.introspection },
  cors(P.introspection),
  { method: 'POST', path: P.endSessionConfirm },
  { method: 'GET', path: P.endSession },
  { method: 'POST', path: P.endSession },
  { method: 'GET', path: P.endSessionSuccess },
  { method: 'POST', path: P.pushedAuthorizationRequest },
  cors(P.pushedAuthorizationRequest),
];
