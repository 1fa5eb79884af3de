import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { MailNotSentError, type MailContext } from '../mail/mailer.ts';
import { storedTokenId } from '../storage/stored-ids.ts';
import { consumeChange, deleteChange, deleteChangesOf, findPendingChange, isUniqueViolation, replacePendingChange } from './email-change-queries.ts';
import { emailInUse, moveToAddress } from './user-queries.ts';
import { emailSchema, normalizeEmail } from './users.ts';

/**
 * "Change e-mail" on the account page. The request (after a strong re-authentication, the
 * route's job) sends a link to the NEW address: 24 hours, once, its token kept only as its
 * SHA-256; a newer request replaces it. The OLD address is told at once, by a notice with no
 * link in it (nothing there for whoever reads that mailbox to confirm or cancel with).
 *
 * Whether another account already uses the new address is never shown on the page: the answer
 * is "we sent a link" either way, and the mail to that address says the address is taken
 * instead of carrying a link (as sign-up does for an address with an account).
 *
 * The address changes when the link is followed in a browser signed in to the same account
 * (the route checks who is signed in): a link forwarded to, or guessed by, someone else does
 * nothing, and an account never ends up under an address its owner did not both control and
 * confirm while signed in. Then the old address is told again, and the new one is verified.
 */
type Deps = Pick<Services, 'config' | 'db' | 'mailer' | 'events'>;

export const EMAIL_CHANGE_TTL_SECONDS = 24 * 3600;
export const EMAIL_CONFIRM_PATH = '/account/email/confirm';
/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254. */
export const EMAIL_MAX_LENGTH = 254;

const newEmailSchema = z
  .string()
  .max(EMAIL_MAX_LENGTH)
  .refine((value) => !/[\u0000-\u001f\u007f]/.test(value))
  .pipe(emailSchema)
  // RFC 5321 §4.5.3.1.1: the part before the @ is at most 64 octets (and the mailer sends to nothing longer).
  .refine((value) => value.indexOf('@') <= 64);

/** Checks the address and returns it normalized, or throws InputError naming the field. */
export function acceptableNewEmail(input: unknown): string {
  const parsed = newEmailSchema.safeParse(typeof input === 'string' ? normalizeEmail(input) : input);
  if (!parsed.success) {
    const tooLong = parsed.error.issues.some((issue) => issue.code === 'too_big');
    throw new InputError(tooLong ? 'An e-mail address has at most 254 characters.' : 'Enter a valid e-mail address.', 'email');
  }
  return parsed.data;
}

/** Pure: a token as it appears in a link (43 base64url characters), or nothing a link can hold. */
export function isChangeToken(token: unknown): token is string {
  return typeof token === 'string' && /^[A-Za-z0-9_-]{43}$/.test(token);
}

export const confirmLink = (config: Pick<Services['config'], 'issuer'>, token: string) => `${config.issuer}${EMAIL_CONFIRM_PATH}?token=${token}`;

/**
 * Sends the link (or, for an address in use, the "taken" mail) to the new address and the
 * notice to the old one. Throws InputError for a bad or unchanged address, MailNotSentError
 * when the mail to the new address could not be sent (then nothing is left pending).
 */
export async function requestEmailChange(services: Deps, user: { id: string; email: string }, input: unknown, context: MailContext = {}): Promise<{ newEmail: string }> {
  const newEmail = acceptableNewEmail(input);
  if (newEmail === user.email) throw new InputError('That is already your e-mail address.', 'email');
  const { sql } = services.db;
  const mailContext = { ...context, userId: user.id };
  const inUse = await emailInUse(sql, newEmail);
  if (inUse) {
    // An earlier pending change is replaced here too: the page and the links behave the same either way.
    await deleteChangesOf(sql, user.id);
    await services.mailer.send({ to: newEmail, template: 'email-change-taken', data: { oldEmail: user.email } }, mailContext);
  } else {
    const token = randomBytes(32).toString('base64url');
    const tokenHash = storedTokenId(token);
    await replacePendingChange(sql, { tokenHash, userId: user.id, newEmail, expiresAt: new Date(Date.now() + EMAIL_CHANGE_TTL_SECONDS * 1000) });
    try {
      await services.mailer.send(
        { to: newEmail, template: 'email-change-verify', data: { link: confirmLink(services.config, token), oldEmail: user.email, expiresHours: EMAIL_CHANGE_TTL_SECONDS / 3600 } },
        mailContext,
      );
    } catch (error) {
      // Nothing half-done: without the e-mail the link is no use to anyone.
      await deleteChange(sql, tokenHash);
      throw error;
    }
  }
  services.events.emit({ type: 'email.change_requested', actor: user.id, userId: user.id, ...context, details: { newEmail, addressInUse: inUse } });
  await notifyOldAddress(services, { to: user.email, template: 'email-change-requested', data: { newEmail, expiresHours: EMAIL_CHANGE_TTL_SECONDS / 3600, accountLink: `${services.config.issuer}/account` } }, mailContext);
  return { newEmail };
}

/** The pending change a link names (for the confirmation page), or undefined for an expired, used, replaced or forged link. */
export async function pendingChangeOf(services: Pick<Services, 'db'>, token: unknown): Promise<{ userId: string; newEmail: string } | undefined> {
  if (!isChangeToken(token)) return undefined;
  const pending = await findPendingChange(services.db.sql, storedTokenId(token));
  return pending ? { userId: pending.userId, newEmail: pending.newEmail } : undefined;
}

export type ConfirmOutcome =
  | { ok: true; oldEmail: string; newEmail: string; oldNotified: boolean }
  /** invalid-link: expired, used, replaced, forged, or another account's; address-taken: another account took it since the request */
  | { ok: false; reason: 'invalid-link' | 'address-taken' };

/** Uses the link for the signed-in user: the address changes, all of it in one transaction, then the old address is told. */
export async function confirmEmailChange(services: Deps, userId: string, token: unknown, context: MailContext = {}): Promise<ConfirmOutcome> {
  if (!isChangeToken(token)) return { ok: false, reason: 'invalid-link' };
  const tokenHash = storedTokenId(token);
  type Step = { ok: true; oldEmail: string; newEmail: string } | { ok: false; reason: 'invalid-link' | 'address-taken' };
  let step: Step;
  try {
    step = await services.db.sql.transaction(async (tx): Promise<Step> => {
      const change = await consumeChange(tx, tokenHash, userId);
      if (!change) return { ok: false, reason: 'invalid-link' };
      const moved = await moveToAddress(tx, userId, change.newEmail);
      // The link stays used (committed): it could never work again.
      if (!moved) return { ok: false, reason: 'address-taken' };
      // Done: the row is no longer needed (a reused link then matches nothing, as a forged one).
      await deleteChangesOf(tx, userId);
      return { ok: true, oldEmail: moved.oldEmail, newEmail: change.newEmail };
    });
  } catch (error) {
    // Another account took the address between the check and the update; the transaction rolled back.
    if (!isUniqueViolation(error)) throw error;
    step = { ok: false, reason: 'address-taken' };
  }
  if (!step.ok) {
    services.events.emit({ type: 'email.change_failed', actor: userId, userId, ...context, details: { reason: step.reason } });
    return step;
  }
  services.events.emit({ type: 'email.changed', actor: userId, userId, ...context, details: { from: step.oldEmail, to: step.newEmail } });
  const oldNotified = await notifyOldAddress(
    services,
    { to: step.oldEmail, template: 'email-changed', data: { newEmail: step.newEmail, when: new Date().toUTCString() } },
    { ...context, userId },
  );
  return { ...step, oldNotified };
}

/** A notice is a courtesy: a failed send is logged and audited by the mailer, and undoes nothing. */
async function notifyOldAddress(services: Deps, message: Parameters<Deps['mailer']['send']>[0], context: MailContext): Promise<boolean> {
  try {
    await services.mailer.send(message, context);
    return true;
  } catch (error) {
    if (error instanceof MailNotSentError) return false;
    throw error;
  }
}
