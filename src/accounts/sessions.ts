import { z } from 'zod';
import type { Services } from '../context.ts';
import { deleteEphemerals } from '../storage/ephemeral-store.ts';
import { deleteSessionOfAccount, deleteSessionsOfAccount, deleteTokensOfAccount } from '../storage/payload-queries.ts';
import type { SqlClient } from '../storage/sql.ts';
import { deleteSessionDevice, deleteSessionDevicesOfUser, reconcileSessionDevices, selectSessions, touchSessionDevice } from './session-queries.ts';
import { describeUserAgent } from './user-agent.ts';

/**
 * A user's signed-in browser sessions ("devices"): listed on the account page and in the
 * operator console, ended one by one or all at once. Ending a session deletes oidc-provider's
 * Session row, so that browser's cookie names nothing any more and its next request to an
 * account page or the authorization endpoint asks it to sign in again. Apps it signed in to keep
 * their grants and tokens (revoke those under "Connected apps", or delete the account).
 */
export interface SignedInSession {
  /** public id of the session (not oidc-provider's uid, which never leaves the server) */
  id: string;
  /** "Firefox on Linux" */
  browser: string;
  userAgent: string;
  ip: string | null;
  signedInAt: Date;
  lastSeenAt: Date;
  /** the session this request was made with */
  current: boolean;
}

type Deps = Pick<Services, 'db'>;

const sessionId = z.uuid();

export async function listSessions(services: Deps, userId: string, options: { currentSessionUid?: string } = {}): Promise<SignedInSession[]> {
  await reconcileSessionDevices(services.db.sql, userId);
  const rows = await selectSessions(services.db.sql, userId);
  return rows.map((row) => ({
    id: row.id,
    browser: describeUserAgent(row.user_agent),
    userAgent: row.user_agent,
    ip: row.ip,
    signedInAt: row.login_ts ? new Date(Number(row.login_ts) * 1000) : new Date(row.created_at),
    lastSeenAt: new Date(row.last_seen_at),
    current: row.session_uid === options.currentSessionUid,
  }));
}

/**
 * Ends one session of the user by its public id. False when the user has no live session by
 * that id (someone else's, ended already, or not an id at all): the caller answers "not found"
 * without learning which.
 */
export async function endSession(services: Deps, userId: string, id: string): Promise<boolean> {
  if (!sessionId.safeParse(id).success) return false;
  const uid = await services.db.sql.transaction(async (tx) => {
    const found = await deleteSessionDevice(tx, userId, id);
    return found && (await deleteSessionOfAccount(tx, userId, found)) ? found : undefined;
  });
  if (!uid) return false;
  await forgetReauthentications(services.db.sql, [uid]);
  return true;
}

/** Ends every session of the user, or every one but `except` (a session uid: "sign out everywhere else"); returns how many. */
export async function endAllSessions(services: Deps, userId: string, options: { except?: string } = {}): Promise<number> {
  const uids = await deleteSessions(services.db.sql, userId, options.except);
  await forgetReauthentications(services.db.sql, uids);
  return uids.length;
}

/**
 * Ends everything a sign-in gave, in the caller's transaction: browser sessions (with their
 * device rows and recent re-authentications), and what apps hold for the user — refresh
 * tokens, opaque access tokens, unused authorization codes. Grants (consents) stay, so the apps
 * work again after the next sign-in. JWT access tokens already issued run out within
 * ACCESS_TOKEN_TTL.
 */
export async function endEverySignIn(tx: SqlClient, userId: string): Promise<{ sessionsEnded: number; tokensRevoked: number }> {
  const uids = await deleteSessions(tx, userId);
  await forgetReauthentications(tx, uids);
  const tokensRevoked = await deleteTokensOfAccount(tx, userId);
  return { sessionsEnded: uids.length, tokensRevoked };
}

/** The sessions and their device rows together; the uids of the sessions ended. */
async function deleteSessions(sql: SqlClient, userId: string, exceptUid?: string): Promise<string[]> {
  return sql.transaction(async (tx) => {
    const uids = await deleteSessionsOfAccount(tx, userId, exceptUid);
    await deleteSessionDevicesOfUser(tx, userId, exceptUid);
    return uids.flatMap((uid) => (uid ? [uid] : []));
  });
}

/** A recent re-authentication (src/accounts/reauthentication.ts) belongs to its session and ends with it. */
const forgetReauthentications = (sql: SqlClient, uids: string[]) => deleteEphemerals(sql, 'LatchkeyReauth', uids);

/** "Last seen" of the session this request uses moves on (the account page was opened). */
export async function touchSession(services: Deps, userId: string, sessionUid: string): Promise<void> {
  await touchSessionDevice(services.db.sql, sessionUid, userId);
}
