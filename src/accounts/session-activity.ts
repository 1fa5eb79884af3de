import { randomUUID } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Services } from '../context.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID } from '../clients/account-console-client.ts';
import { currentRequest } from '../storage/payload-reads.ts';
import { upsertSessionDevice } from './session-queries.ts';
import { recordAppUse } from './app-last-used.ts';

/**
 * What the account page shows about activity, recorded from oidc-provider's own events:
 *  - `session.saved` (sign-in, and each authorization that touches the session): the browser
 *    and address of the session, and when it was last seen (src/accounts/sessions.ts);
 *  - `grant.success` (a token issued for a code or a refresh token): when each app last used
 *    the account (src/accounts/app-last-used.ts).
 * Both are best effort: a failure is logged and never fails the request that caused it.
 */
const MAX_USER_AGENT = 512;

type Deps = Pick<Services, 'db' | 'logger'>;

interface SavedSession {
  uid?: string;
  accountId?: string;
}

export function recordAccountActivity(provider: Provider, services: Deps): void {
  provider.on('session.saved', (session: SavedSession) => {
    if (!session.uid || !session.accountId) return;
    const ctx = currentRequest() as KoaContextWithOIDC | undefined;
    upsertSessionDevice(services.db.sql, {
      id: randomUUID(),
      sessionUid: session.uid,
      userId: session.accountId,
      userAgent: (ctx?.get('user-agent') ?? '').slice(0, MAX_USER_AGENT),
      ip: ctx?.ip ?? null,
    }).catch((err) => services.logger.warn({ err }, 'could not record the device of a session'));
  });

  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const accountId = ctx.oidc.account?.accountId;
    const clientId = ctx.oidc.client?.clientId;
    if (!accountId || !clientId || clientId === ACCOUNT_CONSOLE_CLIENT_ID) return;
    recordAppUse(services, accountId, clientId);
  });
}
