import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Which passwords Latchkey accepts (NIST SP 800-63B §3.1.1.2): length is what matters, at least
 * 15 characters for a password that is the only factor and 8 for one backed by a second factor;
 * at most 256; never one on the list of common passwords shipped in resources/ (no network), nor
 * the account's own e-mail address; no composition rules (no "one digit, one symbol").
 *
 * Length is counted in Unicode code points of the NFKC form, as the guideline asks, so "äöü…"
 * counts one per letter whatever its encoding. The maximum stays in UTF-16 units, the measure
 * the sign-in form and its check use.
 */
export const PASSWORD_MIN_LENGTH = 15;
export const PASSWORD_MIN_LENGTH_WITH_SECOND_FACTOR = 8;
export const PASSWORD_MAX_LENGTH = 256;

export interface PasswordContext {
  /** the account has an authenticator app or a passkey / security key: 8 characters are enough */
  hasSecondFactor?: boolean;
  /** the account's e-mail address: neither it nor its local part may be the password */
  email?: string;
}

/** The shortest password allowed for an account with or without a second factor. */
export function minimumPasswordLength(hasSecondFactor = false): number {
  return hasSecondFactor ? PASSWORD_MIN_LENGTH_WITH_SECOND_FACTOR : PASSWORD_MIN_LENGTH;
}

/** Returns the reason a password is refused, as a sentence fragment for the form, or undefined when acceptable. */
export function passwordProblem(password: string, context: PasswordContext = {}): string | undefined {
  const minimum = minimumPasswordLength(context.hasSecondFactor);
  if (password.length > PASSWORD_MAX_LENGTH) return `password must be at most ${PASSWORD_MAX_LENGTH} characters`;
  const normalized = password.normalize('NFKC');
  if ([...normalized].length < minimum) return `password must be at least ${minimum} characters`;
  const folded = normalized.toLowerCase();
  if (isCommonPassword(folded)) return 'password is on a list of common passwords that attackers try first; choose another';
  if (context.email) {
    const email = context.email.trim().toLowerCase();
    if (folded === email || folded === email.split('@')[0]) return 'password must not be your e-mail address';
  }
  return undefined;
}

/** At the repository root beside views/: `../../resources` resolves from src/accounts and from dist/accounts alike. */
const LIST_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../resources/common-passwords.txt');

let common: ReadonlySet<string> | undefined;

/** Read once, on the first check (about 100 KB): a process that never sets a password never loads it. */
function commonPasswords(): ReadonlySet<string> {
  common ??= new Set(
    readFileSync(LIST_FILE, 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#')),
  );
  return common;
}

/** Case-insensitive: "Password1234" is as common as "password1234". */
export function isCommonPassword(password: string): boolean {
  return commonPasswords().has(password.normalize('NFKC').toLowerCase());
}
