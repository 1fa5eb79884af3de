import { randomBytes } from 'node:crypto';
import type { Services } from '../context.ts';
import { ConflictError, InputError } from '../errors.ts';
import type { MailContext } from '../mail/mailer.ts';
import { allOrNothing } from '../storage/all-or-nothing.ts';
import { passwordProblem } from './password-policy.ts';
import { ROLES, type Role } from './users.ts';
import { accountByEmail, accountById, deleteUnverifiedAccount, insertUnverifiedAccount, setPasswordFromLink, setPendingRoles } from './user-queries.ts';
import { consumeEmailToken, deleteEmailToken, EMAIL_TOKEN_TTL_SECONDS, findEmailToken, issueEmailToken } from './email-token-queries.ts';
import { INVITE_PATH, linkWithToken } from './emailed-links.ts';
import { acceptableEmail } from './signup.ts';

/**
 * `latchkey user invite --email E [--role R]` (SIGNUP=invite or open): the account is made now,
 * with its roles and no usable password, and its owner gets a link (72 hours, once) to choose
 * one. Choosing it proves the address; the MFA policy applies at the first sign-in as for
 * anyone. Inviting an address whose invitation is still open sends a new link (and the roles
 * given now); an address with a working account is refused. The operation runner records the
 * invitation in the audit trail (admin.user.invite), the mailer the e-mail.
 */
type Deps = Pick<Services, 'config' | 'db' | 'passwords' | 'mailer'>;

export async function inviteUser(services: Deps, input: { email: string; roles?: string[] }, context: MailContext = {}) {
  const { config } = services;
  if (config.signup === 'closed') throw new InputError('invitations are off while SIGNUP=closed: set SIGNUP=invite (or open), or use `latchkey user create`');
  const { sql } = services.db;
  const email = acceptableEmail(input.email);
  const roles = [...new Set(input.roles ?? [])];
  for (const role of roles) if (!ROLES.includes(role as Role)) throw new InputError(`unknown role "${role}" (use ${ROLES.join(' or ')})`, 'roles');

  let account = await accountByEmail(sql, email);
  if (account && (account.emailVerified || account.disabled)) throw new ConflictError('a user with this e-mail already exists');
  let createdId: string | undefined;
  if (!account) {
    // No one knows this password: the account cannot sign in until the link sets one.
    createdId = await insertUnverifiedAccount(sql, { email, passwordHash: await services.passwords.hash(randomBytes(32).toString('base64url')), roles });
    account = createdId ? await accountById(sql, createdId) : undefined;
    if (!account) throw new ConflictError('a user with this e-mail already exists');
  } else {
    await setPendingRoles(sql, account.id, roles);
  }

  const { token, expiresAt } = await issueEmailToken(sql, { purpose: 'invite', userId: account.id, email });
  let receipt;
  try {
    receipt = await services.mailer.send(
      { to: email, template: 'invite', data: { link: linkWithToken(config, INVITE_PATH, token), email, expiresHours: EMAIL_TOKEN_TTL_SECONDS.invite / 3600 } },
      { ...context, userId: account.id },
    );
  } catch (error) {
    await (createdId ? deleteUnverifiedAccount(sql, createdId) : deleteEmailToken(sql, token));
    throw error;
  }
  // Without SMTP_URL (a laptop), the operator finds the message, link included, in this file.
  return { id: account.id, email, roles, status: 'invited' as const, expires_at: expiresAt.toISOString(), sent_by: receipt.transport, ...(receipt.file ? { outbox_file: receipt.file } : {}) };
}

/** The invitation page: the address a live link is for, or undefined. */
export async function invitationLink(services: Pick<Services, 'db'>, token: unknown): Promise<{ email: string } | undefined> {
  const row = await findEmailToken(services.db.sql, 'invite', token);
  return row ? { email: row.email } : undefined;
}

export type AcceptResult = { ok: true; userId: string; email: string } | { ok: false; reason: 'invalid-link' } | { ok: false; reason: 'password'; message: string };

/** Sets the invited account's first password (the policy for an account without a second factor). */
export async function acceptInvitation(services: Pick<Services, 'db' | 'passwords' | 'events'>, input: { token: string; password: string }, context: MailContext = {}): Promise<AcceptResult> {
  const { sql } = services.db;
  const row = await findEmailToken(sql, 'invite', input.token);
  if (!row) return { ok: false, reason: 'invalid-link' };
  const problem = passwordProblem(input.password, { email: row.email });
  if (problem) return { ok: false, reason: 'password', message: `The password was refused: ${problem}.` };
  const passwordHash = await services.passwords.hash(input.password);
  const done = await allOrNothing(sql, async (tx) => {
    const used = await consumeEmailToken(tx, 'invite', input.token);
    return used && (await setPasswordFromLink(tx, used.userId, used.email, passwordHash)) ? used : undefined;
  });
  if (!done) return { ok: false, reason: 'invalid-link' };
  services.events.emit({ type: 'user.invitation_accepted', actor: done.userId, userId: done.userId, ...context, details: { email: done.email } });
  return { ok: true, userId: done.userId, email: done.email };
}
