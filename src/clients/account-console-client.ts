/**
 * The account pages sign users in through Latchkey's own authorization endpoint, like any app
 * (Keycloak calls this the account console). A static, public, first-party client.
 */
export const ACCOUNT_CONSOLE_CLIENT_ID = 'latchkey-account';

export function accountConsoleClient(issuer: string) {
  return {
    client_id: ACCOUNT_CONSOLE_CLIENT_ID,
    client_name: 'Latchkey account',
    application_type: 'web' as const,
    token_endpoint_auth_method: 'none' as const,
    grant_types: ['authorization_code'],
    response_types: ['code' as const],
    // the developer portal (src/portal/routes.ts) and the operator console (src/console/) sign in the same way
    redirect_uris: [`${issuer}/account/callback`, `${issuer}/developer/callback`, `${issuer}/admin/callback`],
  };
}
