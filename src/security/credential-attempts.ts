import type { Logger } from '../logger.ts';
import { beginSecondFactorAttempt, recordSecondFactorFailure, recordSecondFactorSuccess } from './second-factor-lockout.ts';
import type { Services } from '../context.ts';
import { keyOf, type RateLimits } from './rate-limits.ts';
import type { SecurityEvents } from './security-events.ts';
import { accountIpSubject, normalizeEmail, secondsLeft, type SuspensionKind, type Suspensions } from './suspensions.ts';

/**
 * The one attempt limiter for everything that checks something a person knows or holds:
 * passwords (sign-in, re-authentication), codes (authenticator app, recovery codes — at sign-in,
 * step-up and re-authentication) and passkeys. The handler that checks the credential asks
 * `begin` first and reports the outcome to `finish` itself: nothing here reads URLs or guesses
 * the outcome from a status code, so no spelling of a URL and no new page can walk around it.
 *
 * What a stranger can do with it, and what stops them:
 * - guess passwords from one address: the address budget (signin-ip) and the failures counted
 *   per (account, address) and per address lock them out with growing suspensions;
 * - guess one account's password from many addresses: the account budget and the per-account
 *   failure count put an account-wide lock on it; during that lock a password alone never
 *   signs in, but the owner still gets through with a second factor or a passkey (so the lock
 *   cannot be used to keep the owner out: docs/security-model.md has the trade-off);
 * - guess codes: at most SECOND_FACTOR_MAX_FAILURES per window with growing locks, and at most
 *   SECOND_FACTOR_MAX_CONSECUTIVE failures in a row until a success, whatever the pace.
 */
export type CredentialKind = 'password' | 'code' | 'passkey';

export interface CredentialAttempt {
  kind: CredentialKind;
  /** where the check happens, for events: 'login', 'reauth', 'mfa/totp', ... */
  step: string;
  ip: string;
  /** password checks: the e-mail the account is named by (as typed) */
  email?: string;
  /** code checks (and known accounts): the user id */
  userId?: string;
  /** request id and user agent for events */
  requestId?: string;
  userAgent?: string;
}

export type AttemptGate =
  | { allowed: true; /** an account-wide lock is on: a password alone must not sign in */ accountLocked: boolean }
  | { allowed: false; retryAfterSeconds: number; reason: 'suspended' | 'throttled' | 'codes-locked' };

export interface AttemptOutcome {
  /** a new lock started by this failure (seconds), if any */
  lockedSeconds?: number;
}

type Deps = Pick<Services, 'db'> & { limits: RateLimits; suspensions: Suspensions; events: SecurityEvents; logger: Logger };


export function createCredentialAttempts(deps: Deps) {
  const { limits, suspensions, events, logger } = deps;

  const eventFields = (a: CredentialAttempt) => ({ ip: a.ip, requestId: a.requestId, userAgent: a.userAgent, userId: a.userId });
  const emailOf = (a: CredentialAttempt) => (a.email ? keyOf(normalizeEmail(a.email)) : undefined);

  const escalate = async (a: CredentialAttempt, kind: SuspensionKind, subject: string, reason: string) => {
    const s = await suspensions.escalate(kind, subject, reason, eventFields(a));
    logger.warn({ requestId: a.requestId, kind, level: s.level, until: s.until }, 'temporary suspension');
  };

  /** Before the check: refused, or allowed (saying whether an account-wide lock is on). */
  async function begin(a: CredentialAttempt): Promise<AttemptGate> {
    const email = emailOf(a);
    const strict = await suspensions.active([{ kind: 'ip', subject: a.ip }, ...(email ? [{ kind: 'account-ip' as const, subject: accountIpSubject(email, a.ip) }] : [])]);
    if (strict) {
      events.emit({ type: 'signin.locked', details: { step: a.step, kind: strict.kind, until: strict.until, ...(email ? { email } : {}) }, ...eventFields(a) });
      return { allowed: false, retryAfterSeconds: secondsLeft(strict), reason: 'suspended' };
    }
    const wait = await limits.consume('signin-ip', a.ip);
    if (wait) {
      events.emit({ type: 'signin.throttled', details: { step: a.step, ...(email ? { email } : {}) }, ...eventFields(a) });
      return { allowed: false, retryAfterSeconds: wait, reason: 'throttled' };
    }
    let accountLocked = false;
    if (email) {
      const accountWide = await suspensions.active([{ kind: 'account', subject: email }]);
      accountLocked = Boolean(accountWide) || (await limits.consume('signin-account', email)) > 0;
      if (accountLocked) events.emit({ type: 'signin.account_locked', details: { step: a.step, email }, ...eventFields(a) });
    }
    if (a.kind === 'code' && a.userId) {
      const gate = await beginSecondFactorAttempt(deps, a.userId);
      if (!gate.allowed) {
        events.emit({ type: 'signin.mfa.failure', details: { step: a.step, reason: 'locked' }, ...eventFields(a) });
        return { allowed: false, retryAfterSeconds: gate.retryAfterSeconds, reason: 'codes-locked' };
      }
    }
    return { allowed: true, accountLocked };
  }

  /** After the check, with its outcome as the handler saw it. */
  async function finish(a: CredentialAttempt, ok: boolean): Promise<AttemptOutcome> {
    const email = emailOf(a);
    if (ok) {
      if (email) await limits.reset('fail-account-ip', accountIpSubject(email, a.ip));
      // Any proven factor ends a run of wrong codes (a passkey lets the owner past a code lock).
      if (a.userId && a.kind !== 'password') await recordSecondFactorSuccess(deps, a.userId);
      return {};
    }
    let lockedSeconds: number | undefined;
    if (a.kind === 'code' && a.userId) {
      lockedSeconds = await recordSecondFactorFailure(deps, a.userId);
      if (lockedSeconds) events.emit({ type: 'factor.locked', actor: 'system', details: { seconds: lockedSeconds }, ...eventFields(a) });
    }
    if (email) {
      const pair = accountIpSubject(email, a.ip);
      if (await limits.countFailure('fail-account-ip', pair)) await escalate(a, 'account-ip', pair, 'repeated failed sign-ins for this account from this address');
      if (await limits.countFailure('fail-account', email)) await escalate(a, 'account', email, 'repeated failed sign-ins for this account');
    }
    if (await limits.countFailure('fail-ip', a.ip)) await escalate(a, 'ip', a.ip, 'repeated failed sign-ins from this address');
    return { lockedSeconds };
  }

  return { begin, finish };
}

export type CredentialAttempts = ReturnType<typeof createCredentialAttempts>;

/** The attempt fields a Koa request contributes. */
export function attemptFrom(ctx: { ip: string; get(name: string): string; state: Record<string, unknown> }, attempt: Omit<CredentialAttempt, 'ip' | 'requestId' | 'userAgent'>): CredentialAttempt {
  return { ...attempt, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined, userAgent: ctx.get('user-agent').slice(0, 300) || undefined };
}
