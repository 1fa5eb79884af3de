import type { Services } from '../context.ts';
import { NotFoundError } from '../errors.ts';
import { deleteSecondFactorThrottle } from '../security/second-factor-lockout.ts';
import {
  deleteEverythingOfAccount,
  deleteIssuedUnderGrants,
  deleteSessionsOfAccount,
  grantIdsOfAccount,
} from '../storage/payload-queries.ts';
import type { SqlClient } from '../storage/sql.ts';
import { forgetAppUsesOf } from './app-last-used.ts';
import { deleteChangesOf } from './email-change-queries.ts';
import { deletePasskeysOf, deleteRecoveryCodesOf, deleteTotpOf } from './factor-queries.ts';
import { deleteSessionDevicesOfUser } from './session-queries.ts';
import { deleteUserRow, lockUser } from './user-queries.ts';

/**
 * Deletes a user for good: the account page's "Delete my account" (after re-authentication) and
 * the operator console. In one transaction: every browser session ends, every grant is revoked
 * with its refresh tokens, codes and opaque access tokens, every second factor and recovery
 * code is removed, and the user row goes. JWT access tokens already issued cannot be recalled,
 * but the Token Status List names their positions revoked from the next list built (a user who
 * no longer exists: src/revocation/token-status.ts), so APIs using the resource-server kit
 * refuse them within the list's time to live. The audit log keeps its events (identifiers only)
 * and records this one.
 */
export interface DeletionActor {
  /** who asked: the user's own id, or the operator's */
  actor: string;
  ip?: string;
  userAgent?: string;
  requestId?: string;
}

export async function deleteAccount(services: Pick<Services, 'db' | 'events'>, userId: string, by: DeletionActor) {
  const deleted = await services.db.sql.transaction((tx) => deleteAccountRows(tx, userId));
  if (!deleted) throw new NotFoundError('no such user');
  services.events.emit({
    type: 'account.deleted',
    userId,
    ...by,
    details: { sessionsEnded: deleted.sessionsEnded, grantsRevoked: deleted.grantsRevoked, self: by.actor === userId },
  });
  return { user_id: userId, status: 'deleted' as const, sessions_ended: deleted.sessionsEnded, grants_revoked: deleted.grantsRevoked };
}

/** Every row of the user, in the caller's transaction: a deletion happens completely or not at all. Undefined when there is no such user. */
async function deleteAccountRows(tx: SqlClient, userId: string): Promise<{ sessionsEnded: number; grantsRevoked: number } | undefined> {
  if (!(await lockUser(tx, userId))) return undefined;
  // Everything oidc-provider holds for the user: sessions, grants, and what was issued under
  // them (codes, refresh tokens, opaque access tokens), by account and by grant.
  const grantIds = await grantIdsOfAccount(tx, userId);
  await deleteIssuedUnderGrants(tx, grantIds);
  const sessions = await deleteSessionsOfAccount(tx, userId);
  await deleteEverythingOfAccount(tx, userId);
  await deleteTotpOf(tx, userId);
  await deletePasskeysOf(tx, userId);
  await deleteRecoveryCodesOf(tx, userId);
  await deleteSecondFactorThrottle(tx, userId);
  await deleteSessionDevicesOfUser(tx, userId);
  await forgetAppUsesOf(tx, userId);
  await deleteChangesOf(tx, userId);
  // Apps the user registered in the developer portal stay (client.owner_id becomes NULL):
  // other users may depend on them; operators manage them from then on.
  await deleteUserRow(tx, userId);
  // token_status rows stay: a position whose user no longer exists is listed as revoked, so
  // the user's JWT access tokens are refused through the Token Status List.
  return { sessionsEnded: sessions.length, grantsRevoked: grantIds.length };
}
