import type { Services } from '../context.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { deleteAccount } from './delete-account.ts';
import { clearSecondFactorLocks } from '../security/second-factor-lockout.ts';
import { deleteSessionsOfAccount } from '../storage/payload-queries.ts';
import { deletePasskeysOf, deleteRecoveryCodesOf, deleteTotpOf } from './factor-queries.ts';
import { endAllSessions } from './sessions.ts';
import { resolveUser } from './user-directory.ts';
import { clearDisabled, disableByEmail } from './user-queries.ts';

/**
 * What an operator does to a user, one call per action, for the admin API, the CLI and the
 * console alike. `ref` is a user id or an e-mail; `actor` names the operator in the audit
 * trail ('cli', 'admin-api-token' or an admin's user id).
 */
type Deps = Pick<Services, 'db' | 'events'>;

/**
 * An operator must not lock everyone out: the last enabled admin can be neither disabled nor
 * deleted (another admin, or `latchkey user create --role admin`, comes first).
 */
async function refuseLastAdmin(services: Deps, user: { id: string; roles: string[] }, action: string) {
  if (!user.roles.includes('admin')) return;
  const others = await services.db.prisma.user.count({ where: { roles: { has: 'admin' }, disabledAt: null, id: { not: user.id } } });
  if (others === 0) throw new ConflictError(`cannot ${action} the last enabled admin`);
}

/**
 * The user can no longer sign in (findAccount and the password check refuse disabled users),
 * their browser sessions end, refresh tokens stop working (oidc-provider finds no account), and
 * — through the Token Status List — their JWT access tokens are refused by resource servers
 * within seconds. Grants are kept, so re-enabling is possible later.
 */
export async function disableUser(services: Deps, ref: string, actor: string) {
  const user = await resolveUser(services, ref);
  if (!user.disabledAt) await refuseLastAdmin(services, user, 'disable');
  const id = await disableByEmail(services.db.sql, user.email);
  if (!id) throw new NotFoundError(`no user with e-mail ${user.email}`);
  const sessionsEnded = (await deleteSessionsOfAccount(services.db.sql, id)).length;
  services.events.emit({ type: 'user.disabled', actor, userId: user.id, details: { sessionsEnded } });
  return { id: user.id, email: user.email, status: 'disabled' as const, sessions_ended: sessionsEnded };
}

/** Sign-in works again; grants were kept, so connected apps work again too (their status bits clear). */
export async function enableUser(services: Deps, ref: string, actor: string) {
  const user = await resolveUser(services, ref);
  await clearDisabled(services.db.prisma, user.id);
  services.events.emit({ type: 'user.enabled', actor, userId: user.id });
  return { id: user.id, email: user.email, status: 'active' as const };
}

/**
 * Removes every second factor (authenticator app, passkeys, recovery codes) and the wrong-code
 * lock, for a user who lost their device. Their sessions end too: a session that passed a second
 * factor must not outlive it. If MFA is required for them they enrol again at the next sign-in.
 */
export async function resetFactors(services: Deps, ref: string, actor: string) {
  const user = await resolveUser(services, ref);
  const [totp, passkeys, codes] = await services.db.sql.transaction(async (tx) => [
    await deleteTotpOf(tx, user.id),
    await deletePasskeysOf(tx, user.id),
    await deleteRecoveryCodesOf(tx, user.id),
  ]);
  await clearSecondFactorLocks(services, user.id);
  const sessionsEnded = await endSessions(services, user.id);
  const removed = { totp: totp > 0, passkeys, recovery_codes: codes };
  services.events.emit({ type: 'factor.reset', actor, userId: user.id, details: { ...removed, sessionsEnded } });
  return { id: user.id, email: user.email, removed, sessions_ended: sessionsEnded };
}

const endSessions = (services: Pick<Services, 'db'>, userId: string) => endAllSessions(services, userId);

/**
 * Ends every browser session of the user (they sign in again everywhere). Apps they connected
 * keep their grants and refresh tokens: revoking those is the user's "connected apps" choice,
 * or disable/delete.
 */
export async function signOutEverywhere(services: Deps, ref: string, actor: string) {
  const user = await resolveUser(services, ref);
  const sessionsEnded = await endSessions(services, user.id);
  services.events.emit({ type: 'user.signed_out_everywhere', actor, userId: user.id, details: { sessionsEnded } });
  return { id: user.id, email: user.email, sessions_ended: sessionsEnded };
}

/**
 * Deletes the user and everything issued to them (src/accounts/delete-account.ts, the same call
 * as the account page's "Delete my account"). Apps they own stay, without an owner.
 */
export async function deleteUser(services: Deps, ref: string, actor: string) {
  const user = await resolveUser(services, ref);
  await refuseLastAdmin(services, user, 'delete');
  const result = await deleteAccount(services, user.id, { actor });
  return { id: user.id, email: user.email, deleted: true as const, sessions_ended: result.sessions_ended, grants_revoked: result.grants_revoked };
}
