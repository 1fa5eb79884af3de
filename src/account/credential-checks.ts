import type { Context } from 'koa';
import { codesRefusal, normalizeTotpCode } from '../accounts/second-factor-policy.ts';
import { verifyTotp } from '../accounts/totp.ts';
import type { User } from '../accounts/users.ts';
import { verifyUserPassword } from '../accounts/user-password.ts';
import { attemptFrom } from '../security/credential-attempts.ts';
import type { AccountKit } from './account-kit.ts';

/**
 * The password and code checks of the account page, each behind the same attempt limiter and
 * lock-out as sign-in (src/security/credential-attempts.ts): a stolen session cookie gives no
 * faster way to guess the password or a code than the sign-in page does.
 */
export type CheckResult = { ok: true } | { ok: false; message: string; status: 401 | 429; retryAfterSeconds?: number };

export async function checkPassword(kit: AccountKit, ctx: Context, user: User, step: string, password: string): Promise<CheckResult> {
  const attempt = attemptFrom(ctx, { kind: 'password', step, email: user.email, userId: user.id });
  const gate = await kit.attempts.begin(attempt);
  if (!gate.allowed) return { ok: false, status: 429, message: 'Too many attempts. Try again later.', retryAfterSeconds: gate.retryAfterSeconds };
  const ok = await verifyUserPassword(kit.services, user.id, password);
  await kit.attempts.finish(attempt, ok);
  return ok ? { ok } : { ok, status: 401, message: 'That password is not right.' };
}

export async function checkCode(kit: AccountKit, ctx: Context, user: User, step: string, input: string): Promise<CheckResult> {
  const code = normalizeTotpCode(input);
  if (!code) return { ok: false, status: 401, message: 'That code is not right.' };
  const attempt = attemptFrom(ctx, { kind: 'code', step, userId: user.id });
  const gate = await kit.attempts.begin(attempt);
  if (!gate.allowed) return { ok: false, status: 429, message: codesRefusal(gate.retryAfterSeconds), retryAfterSeconds: gate.retryAfterSeconds };
  const ok = await verifyTotp(kit.services, user.id, code);
  await kit.attempts.finish(attempt, ok);
  return ok ? { ok } : { ok, status: 401, message: 'That code is not right, or was already used. Wait for the next code and try again.' };
}
