import type { Services } from '../context.ts';
import type { MailContext } from '../mail/mailer.ts';
import { allOrNothing } from '../storage/all-or-nothing.ts';
import { factorSummary, type FactorSummary } from './factors.ts';
import { notifyPasswordChanged } from './password-changed-notice.ts';
import { passwordProblem } from './password-policy.ts';
import { endEverySignIn } from './sessions.ts';
import { accountByEmail, accountById, setPasswordFromLink } from './user-queries.ts';
import { consumeEmailToken, deleteEmailToken, EMAIL_TOKEN_TTL_SECONDS, findEmailToken, issueEmailToken, recordSecondFactorProof, type EmailTokenRow } from './email-token-queries.ts';
import { linkWithToken, RESET_CHOOSE_PATH } from './emailed-links.ts';
import { acceptableEmail } from './signup.ts';

/**
 * "Forgot password?": an e-mail with a link (30 minutes, once) to choose a new password. The
 * link alone is not enough for an account with a second factor: the authenticator app, a
 * recovery code or a passkey is still asked for, so a stolen mailbox does not give the account
 * away. Afterwards every browser session and every refresh token of the user is revoked, and
 * the owner is told by e-mail.
 *
 * An address without an (enabled) account gets an e-mail saying so, which also makes the page's
 * answer and its timing the same whether or not the account exists. Both are rate-limited per
 * address and per requesting address (the routes).
 */
type Deps = Pick<Services, 'config' | 'db' | 'passwords' | 'mailer' | 'events'>;

export async function requestPasswordReset(services: Deps, input: { email: string; returnTo?: string }, context: MailContext = {}): Promise<void> {
  const email = acceptableEmail(input.email);
  const { sql } = services.db;
  const account = await accountByEmail(sql, email);
  if (!account || account.disabled) {
    await services.mailer.send({ to: email, template: 'reset-no-account', data: {} }, context);
    services.events.emit({ type: 'password_reset.requested', actor: 'system', ...context, details: { email, account: false } });
    return;
  }
  const summary = await factorSummary(services, account);
  const { token } = await issueEmailToken(sql, { purpose: 'reset-password', userId: account.id, email, returnTo: input.returnTo });
  try {
    await services.mailer.send(
      {
        to: email,
        template: 'reset-password',
        data: { link: linkWithToken(services.config, RESET_CHOOSE_PATH, token), email, expiresMinutes: EMAIL_TOKEN_TTL_SECONDS['reset-password'] / 60, secondFactor: summary.hasSecondFactor },
      },
      { ...context, userId: account.id },
    );
  } catch (error) {
    await deleteEmailToken(sql, token);
    throw error;
  }
  services.events.emit({ type: 'password_reset.requested', actor: 'system', userId: account.id, ...context, details: { email, account: true } });
}

/** A live reset link with its account and what that account must still prove. */
export interface ResetLink {
  row: EmailTokenRow;
  user: { id: string; email: string; roles: string[] };
  factors: FactorSummary;
  /** the account's passkey was already proven on this link's page */
  passkeyProven: boolean;
}

/** Undefined for an expired, used, replaced or forged link, or an account disabled since. */
export async function resetLink(services: Pick<Services, 'db' | 'config'>, token: unknown): Promise<ResetLink | undefined> {
  const row = await findEmailToken(services.db.sql, 'reset-password', token);
  const account = row ? await accountById(services.db.sql, row.userId) : undefined;
  if (!row || !account || account.disabled || account.email !== row.email) return undefined;
  const factors = await factorSummary(services, account);
  return { row, user: { id: account.id, email: account.email, roles: account.roles }, factors, passkeyProven: row.secondFactorAt !== null };
}

/** The account's passkey was proven on the link's page: choosing the password asks for no other factor. */
export async function recordPasskeyProven(services: Pick<Services, 'db'>, link: ResetLink): Promise<void> {
  await recordSecondFactorProof(services.db.sql, link.row.id);
}

/** Pure: the reason the new password is refused for this account (8 characters with a second factor, 15 without), or undefined. */
export function newPasswordProblem(link: ResetLink, password: string): string | undefined {
  const problem = passwordProblem(password, { email: link.user.email, hasSecondFactor: link.factors.hasSecondFactor });
  return problem ? `The password was refused: ${problem}.` : undefined;
}

export type ResetResult =
  | { ok: true; userId: string; email: string; returnTo?: string; sessionsEnded: number; tokensRevoked: number; notified: boolean }
  | { ok: false; reason: 'invalid-link' };

/**
 * Sets the new password — the caller has checked it (newPasswordProblem) and, for an account
 * with a second factor, the factor. In one transaction: the link is used, the password set
 * (which also proves the address), every session and refresh token ended. Then the e-mail.
 */
export async function completePasswordReset(services: Deps, input: { token: string; password: string }, context: MailContext = {}): Promise<ResetResult> {
  const { sql } = services.db;
  const passwordHash = await services.passwords.hash(input.password);
  const done = await allOrNothing(sql, async (tx) => {
    const used = await consumeEmailToken(tx, 'reset-password', input.token);
    if (!used || !(await setPasswordFromLink(tx, used.userId, used.email, passwordHash))) return undefined;
    return { used, ...(await endEverySignIn(tx, used.userId)) };
  });
  if (!done) return { ok: false, reason: 'invalid-link' };
  const { used, sessionsEnded, tokensRevoked } = done;
  services.events.emit({ type: 'password.reset', actor: used.userId, userId: used.userId, ...context, details: { sessionsEnded, tokensRevoked } });
  // The password is changed either way; a failed send is logged and audited by the mailer.
  const notified = await notifyPasswordChanged(services, { id: used.userId, email: used.email }, { signedOut: true }, context);
  return { ok: true, userId: used.userId, email: used.email, returnTo: used.returnTo ?? undefined, sessionsEnded, tokensRevoked, notified };
}
