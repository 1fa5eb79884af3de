import type { Services } from '../context.ts';
import { describeAccess, describeIdentityScopes } from '../apis/consent-model.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID } from '../clients/account-console-client.ts';
import { listGrantsOfAccount, revokeGrant } from '../storage/payload-queries.ts';
import { appsLastUsed, forgetAppUse } from './app-last-used.ts';

/**
 * The apps a user has let in (their live oidc-provider grants), described as the consent page
 * described them: identity claims, and per API "read-only" or "read and write"; with when the
 * app last got a token for the user. Latchkey's own account console is not listed.
 */
export interface ConnectedApp {
  grantId: string;
  clientId: string;
  name: string;
  identity: string[];
  apis: Array<{ name: string; audience: string; access: string; scopes: string[] }>;
  lastUsedAt: Date | null;
}

type Deps = Pick<Services, 'db' | 'apis' | 'clients'>;

export async function listConnectedApps(services: Deps, userId: string): Promise<ConnectedApp[]> {
  const grants = (await listGrantsOfAccount(services.db.sql, userId)).filter((g) => g.clientId !== ACCOUNT_CONSOLE_CLIENT_ID);
  const [apis, lastUsed] = await Promise.all([services.apis.all(), appsLastUsed(services, userId)]);
  const apps: ConnectedApp[] = [];
  for (const grant of grants) {
    const client = await services.clients.find(grant.clientId).catch(() => undefined);
    apps.push({
      grantId: grant.id,
      clientId: grant.clientId,
      name: client?.name ?? grant.clientId,
      identity: describeIdentityScopes(grant.openidScope),
      apis: Object.entries(grant.resources).flatMap(([audience, scope]) => {
        const api = apis.find((a) => a.audience === audience);
        const scopes = scope.split(' ').filter(Boolean);
        const access = api ? describeAccess(api, scopes) : undefined;
        return api && access ? [{ name: api.name, audience, access, scopes }] : [];
      }),
      lastUsedAt: lastUsed.get(grant.clientId) ?? null,
    });
  }
  return apps.sort((a, b) => (b.lastUsedAt?.getTime() ?? 0) - (a.lastUsedAt?.getTime() ?? 0) || a.name.localeCompare(b.name));
}

/** Revokes one of the user's grants; the grant if it was theirs, else undefined. */
export async function disconnectApp(services: Pick<Services, 'db'>, userId: string, grantId: string) {
  const mine = (await listGrantsOfAccount(services.db.sql, userId)).find((g) => g.id === grantId && g.clientId !== ACCOUNT_CONSOLE_CLIENT_ID);
  if (!mine) return undefined;
  await revokeGrant(services.db.sql, grantId);
  await forgetAppUse(services, userId, mine.clientId);
  return mine;
}
