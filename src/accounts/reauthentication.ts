import type { Services } from '../context.ts';
import { getEphemeral, putEphemeral } from '../storage/ephemeral-store.ts';

/**
 * Re-authentication on the account page (ASVS 7.5.1): before a change, the user proves again
 * who they are. What was proved is remembered for REAUTH_SECONDS, keyed by the provider
 * session's uid, as the set of methods used (they add up: a password now and a code a minute
 * later count as both). Each change asks for what it needs:
 *  - `any`: one method (changing sign-in methods, downloading one's data);
 *  - `strong`: as much as a sign-in — a passkey that verified the user (PIN or biometrics), or
 *    the password plus a second factor when one is enrolled (deleting the account, changing
 *    the e-mail address);
 *  - `password`: the current password, plus a second factor when one is enrolled (changing the
 *    password).
 * The account page records it (src/account/reauth-routes.ts) and checks it before each change
 * (src/account/account-kit.ts).
 */
export const REAUTH_SECONDS = 300;

/** password; code (authenticator app); key (a security key without user verification); passkey (with it) */
export type ReauthMethod = 'password' | 'code' | 'key' | 'passkey';
export type ReauthNeed = 'any' | 'strong' | 'password';

const REAUTH = 'LatchkeyReauth';

interface Stored {
  at: number;
  methods?: ReauthMethod[];
}

export async function reauthMethods(services: Pick<Services, 'db'>, sessionUid: string): Promise<ReauthMethod[]> {
  const stored = await getEphemeral<Stored>(services.db.sql, REAUTH, sessionUid);
  if (!stored) return [];
  return stored.methods ?? ['password'];
}

export async function recordReauth(services: Pick<Services, 'db'>, sessionUid: string, methods: ReauthMethod[]): Promise<void> {
  const all = [...new Set([...(await reauthMethods(services, sessionUid)), ...methods])];
  await putEphemeral(services.db.sql, REAUTH, sessionUid, { at: Date.now(), methods: all }, new Date(Date.now() + REAUTH_SECONDS * 1000));
}

/** Pure: whether the methods proved meet the need, for a user with or without a second factor. */
export function reauthSatisfies(methods: readonly ReauthMethod[], need: ReauthNeed, hasSecondFactor: boolean): boolean {
  const secondFactor = methods.includes('code') || methods.includes('key') || methods.includes('passkey');
  const passwordAndFactor = methods.includes('password') && (!hasSecondFactor || secondFactor);
  if (need === 'any') return methods.length > 0;
  if (need === 'password') return passwordAndFactor;
  return methods.includes('passkey') || passwordAndFactor;
}
