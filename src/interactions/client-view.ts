import { ACCOUNT_CONSOLE_CLIENT_ID } from '../clients/account-console-client.ts';
import { findUserById } from '../accounts/users.ts';
import type { Services } from '../context.ts';

export type ClientView = Awaited<ReturnType<ClientViews>>;
export type ClientViews = (clientId: string) => Promise<{
  name: string;
  logoUri?: string;
  homepage?: string;
  policyUri?: string;
  tosUri?: string;
  developer: string;
  allowedScopes: Set<string>;
}>;

/**
 * What the login and consent pages say about the app, from the client registry's cache (the
 * metadata oidc-provider receives). The developer's e-mail is read once per cached client entry:
 * the registry replaces the entry when the client changes or its cache expires.
 */
export function clientViews(services: Services): ClientViews {
  const ownerEmails = new WeakMap<object, Promise<string | undefined>>();
  return async (clientId) => {
    const stored = await services.clients.find(clientId);
    // As oidc-provider sees it: a suspended or unapproved client has no metadata.
    const metadata = stored && !stored.suspended && !stored.approvalPending ? stored.metadata : {};
    let owner: Promise<string | undefined> | undefined;
    if (stored?.ownerId) {
      const ownerId = stored.ownerId;
      owner = ownerEmails.get(stored);
      if (!owner) {
        owner = findUserById(services, ownerId).then((u) => u?.email);
        ownerEmails.set(stored, owner);
        owner.catch(() => ownerEmails.delete(stored));
      }
    }
    const text = (key: string) => (typeof metadata[key] === 'string' ? (metadata[key] as string) : undefined);
    return {
      // Latchkey's own pages (account, portal, console) sign in as a static client that is not
      // in the registry: name it for people, never by its internal id.
      name: clientId === ACCOUNT_CONSOLE_CLIENT_ID ? 'your account' : (text('client_name') ?? clientId),
      logoUri: text('logo_uri'),
      homepage: text('client_uri'),
      policyUri: text('policy_uri'),
      tosUri: text('tos_uri'),
      developer: (owner ? await owner : undefined) ?? 'registered by the operator of this server',
      allowedScopes: stored?.allowedScopes ?? new Set<string>(),
    };
  };
}
