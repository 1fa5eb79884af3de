/**
 * Pure rules of two-factor sign-in (docs/two-factor.md): the acr values Latchkey issues, who
 * must have a second factor, and how long a second-factor lock lasts.
 */

/** Password only (or a first factor alone). */
export const ACR_PASSWORD = 'urn:latchkey:acr:pwd';
/** Two factors: password + authenticator app / security key / recovery code, or a passkey with user verification. */
export const ACR_MFA = 'urn:latchkey:acr:mfa';
export const ACR_VALUES = [ACR_PASSWORD, ACR_MFA];

/** The client metadata property (extraClientMetadata) that makes a second factor mandatory for one app. */
export const CLIENT_REQUIRE_MFA = 'latchkey_require_mfa';

export interface MfaPolicy {
  everyone: boolean;
  roles: string[];
}

export function mustHaveSecondFactor(policy: MfaPolicy, roles: readonly string[]): boolean {
  return policy.everyone || roles.some((role) => policy.roles.includes(role));
}

/** Whether a space-separated `acr_values` request asks for the MFA level. */
export function requestsMfa(acrValues: unknown): boolean {
  return typeof acrValues === 'string' && acrValues.split(' ').includes(ACR_MFA);
}

/** "4 minutes", "1 hour 5 minutes", "30 seconds": the wait shown to a locked-out user. */
export function describeWait(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `${hours} hour${hours === 1 ? '' : 's'}${rest ? ` ${rest} minute${rest === 1 ? '' : 's'}` : ''}`;
}

/** Recovery codes: 10 codes of 10 characters from an unambiguous alphabet (50 bits each), shown as xxxxx-xxxxx. */
export const RECOVERY_CODE_COUNT = 10;
/** Crockford's base32 alphabet (no i, l, o, u). */
export const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export function formatRecoveryCode(raw: string): string {
  return `${raw.slice(0, 5)}-${raw.slice(5)}`;
}

/** Case, spaces and dashes do not matter when a recovery code is typed back. */
export function normalizeRecoveryCode(input: string): string {
  return input.toLowerCase().replace(/[\s-]/g, '').slice(0, 64);
}

/** A TOTP code as typed: digits only, spaces tolerated. */
export function normalizeTotpCode(input: string): string | undefined {
  const code = input.replace(/\s/g, '');
  return /^\d{6}$/.test(code) ? code : undefined;
}

/** Pure: what a person is told when codes are refused for a while, or for good. */
export function codesRefusal(retryAfterSeconds: number): string {
  return Number.isFinite(retryAfterSeconds)
    ? `Too many wrong codes. Try again in ${describeWait(retryAfterSeconds)}.`
    : 'Too many wrong codes in a row: codes are locked for this account. Sign in with a passkey or security key, or ask an administrator to unlock your account.';
}
