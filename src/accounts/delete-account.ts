import type { Services } from '../context.ts';
import { NotFoundError } from '../errors.ts';
import { deleteAccountRows } from './account-deletion-queries.ts';

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
  const deleted = await deleteAccountRows(services.db.sql, userId);
  if (!deleted) throw new NotFoundError('no such user');
  services.events.emit({
    type: 'account.deleted',
    userId,
    ...by,
    details: { sessionsEnded: deleted.sessionsEnded, grantsRevoked: deleted.grantsRevoked, self: by.actor === userId },
  });
  return { user_id: userId, status: 'deleted' as const, sessions_ended: deleted.sessionsEnded, grants_revoked: deleted.grantsRevoked };
}
