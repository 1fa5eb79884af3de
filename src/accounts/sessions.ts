import { z } from 'zod';
import type { Services } from '../context.ts';
import { storedTokenId } from '../storage/stored-ids.ts';
import {
  deleteReauthentications,
  touchSessionDevice,
  deleteSessionById,
  deleteSessionsOfUser,
  reconcileSessionDevices,
  selectSessions,
} from './session-queries.ts';
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
  const uid = await deleteSessionById(services.db.sql, userId, id);
  if (!uid) return false;
  await deleteReauthentications(services.db.sql, [storedTokenId(uid)]);
  return true;
}

/** Ends every session of the user, or every one but `except` (a session uid: "sign out everywhere else"); returns how many. */
export async function endAllSessions(services: Deps, userId: string, options: { except?: string } = {}): Promise<number> {
  const uids = await deleteSessionsOfUser(services.db.sql, userId, options.except);
  await deleteReauthentications(services.db.sql, uids.map(storedTokenId));
  return uids.length;
}

/** "Last seen" of the session this request uses moves on (the account page was opened). */
export async function touchSession(services: Deps, userId: string, sessionUid: string): Promise<void> {
  await touchSessionDevice(services.db.sql, sessionUid, userId);
}
