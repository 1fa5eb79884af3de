import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import type { MailContext } from '../mail/mailer.ts';
import { allOrNothing } from '../storage/all-or-nothing.ts';
import { storableText } from '../storage/sql.ts';
import { passwordProblem } from './password-policy.ts';
import { emailSchema, normalizeEmail } from './users.ts';
import { accountByEmail, accountById, deleteUnverifiedAccount, insertUnverifiedAccount, markVerified, replacePendingPassword } from './user-queries.ts';
import { consumeEmailToken, deleteEmailToken, EMAIL_TOKEN_TTL_SECONDS, findEmailToken, issueEmailToken } from './email-token-queries.ts';
import { linkWithToken, RESET_PATH, VERIFY_EMAIL_PATH } from './emailed-links.ts';

/**
 * Open sign-up (SIGNUP=open): an e-mail address and a password make an account that waits for
 * its owner to prove the address; the link in the e-mail confirms it (24 hours, once).
 *
 * The page answers the same whether or not the address already has an account, and so does
 * the time it takes (a hash and an e-mail every time): an existing account gets an e-mail
 * saying so instead of a link. Another sign-up for an address still waiting replaces the
 * password and the link, so whoever controls the mailbox decides.
 *
 * Confirming asks for the password chosen at sign-up as well as the link. Without that, someone
 * could sign up with another person's address and wait for them to click "confirm" in an e-mail
 * they did not expect, and would then hold a working account under that person's address
 * ("account pre-hijacking", Sudhodanan & Paverd, USENIX Security 2022). It also means a mail
 * scanner that opens every link confirms nothing.
 */
type Deps = Pick<Services, 'config' | 'db' | 'passwords' | 'mailer' | 'events'>;

export type SignupOutcome = 'created' | 'pending-replaced' | 'already-registered';

/** Checks the address and returns it normalized, or throws InputError naming the field. */
export function acceptableEmail(input: string): string {
  const email = normalizeEmail(input);
  if (!storableText(email) || !emailSchema.safeParse(email).success) throw new InputError('Enter a valid e-mail address.', 'email');
  return email;
}

export async function signUp(services: Deps, input: { email: string; password: string; returnTo?: string }, context: MailContext = {}): Promise<SignupOutcome> {
  const email = acceptableEmail(input.email);
  const problem = passwordProblem(input.password, { email });
  if (problem) throw new InputError(`The password was refused: ${problem}.`, 'password');
  // Hashed whatever happens next, so an existing address answers no faster than a new one.
  const passwordHash = await services.passwords.hash(input.password);
  const { sql } = services.db;
  const { config } = services;

  let account = await accountByEmail(sql, email);
  let createdId: string | undefined;
  if (!account) {
    createdId = await insertUnverifiedAccount(sql, { email, passwordHash });
    account = createdId ? await accountById(sql, createdId) : await accountByEmail(sql, email);
    if (!account) throw new Error('the account vanished while signing up');
  }

  if (account.emailVerified || account.disabled) {
    await services.mailer.send(
      {
        to: email,
        template: 'account-exists',
        data: { accountLink: `${config.issuer}/account`, resetLink: config.passwordReset ? `${config.issuer}${RESET_PATH}` : undefined },
      },
      { ...context, userId: account.id },
    );
    services.events.emit({ type: 'signup.existing_account', actor: 'system', userId: account.id, ...context, details: { email } });
    return 'already-registered';
  }

  if (!createdId) await replacePendingPassword(sql, account.id, passwordHash);
  const { token } = await issueEmailToken(sql, { purpose: 'verify-email', userId: account.id, email, returnTo: input.returnTo });
  try {
    await services.mailer.send(
      {
        to: email,
        template: 'verify-email',
        data: { link: linkWithToken(config, VERIFY_EMAIL_PATH, token), expiresHours: EMAIL_TOKEN_TTL_SECONDS['verify-email'] / 3600 },
      },
      { ...context, userId: account.id },
    );
  } catch (error) {
    // Nothing half-done: no account (or link) is left behind for an e-mail that never went out.
    await (createdId ? deleteUnverifiedAccount(sql, createdId) : deleteEmailToken(sql, token));
    throw error;
  }
  services.events.emit({ type: createdId ? 'signup.created' : 'signup.renewed', actor: 'system', userId: account.id, ...context, details: { email } });
  return createdId ? 'created' : 'pending-replaced';
}

export type VerifyLink = { email: string } | undefined;

/** The confirmation page: the address a live link is for, or undefined for an expired, used, replaced or forged one. */
export async function verificationLink(services: Pick<Services, 'db'>, token: unknown): Promise<VerifyLink> {
  const row = await findEmailToken(services.db.sql, 'verify-email', token);
  return row ? { email: row.email } : undefined;
}

export type VerifyResult =
  | { ok: true; userId: string; email: string; returnTo?: string }
  | { ok: false; reason: 'invalid-link' }
  | { ok: false; reason: 'wrong-password'; userId: string; email: string };

/** Confirms the address when the link is live and the password is the one chosen at sign-up. */
export async function confirmEmail(services: Pick<Services, 'db' | 'passwords' | 'events'>, input: { token: string; password: string }, context: MailContext = {}): Promise<VerifyResult> {
  const { sql } = services.db;
  const row = await findEmailToken(sql, 'verify-email', input.token);
  const account = row ? await accountById(sql, row.userId) : undefined;
  const passwordOk = await services.passwords.verify(account?.passwordHash, input.password.slice(0, 256));
  if (!row || !account || account.disabled) return { ok: false, reason: 'invalid-link' };
  if (!passwordOk) return { ok: false, reason: 'wrong-password', userId: account.id, email: row.email };
  const verified = await allOrNothing(sql, async (tx) => {
    const used = await consumeEmailToken(tx, 'verify-email', input.token);
    return used && (await markVerified(tx, used.userId, used.email)) ? used : undefined;
  });
  if (!verified) return { ok: false, reason: 'invalid-link' };
  services.events.emit({ type: 'signup.verified', actor: account.id, userId: account.id, ...context, details: { email: row.email } });
  return { ok: true, userId: account.id, email: row.email, returnTo: row.returnTo ?? undefined };
}
