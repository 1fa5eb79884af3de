import type { Services } from '../context.ts';
import { recoveryCodesRemaining } from './recovery-codes.ts';
import { mustHaveSecondFactor } from './second-factor-policy.ts';
import { totpStatus } from './totp.ts';
import { listPasskeys, type Passkey } from './webauthn.ts';

/** What second factors a user has: for the sign-in step and the account page. */
export interface FactorSummary {
  totp: boolean;
  passkeys: Passkey[];
  recoveryCodesRemaining: number;
  /** at least one factor usable as a second step */
  hasSecondFactor: boolean;
  /** MFA_REQUIRED applies to this user */
  required: boolean;
}

export async function factorSummary(deps: Pick<Services, 'db' | 'config'>, user: { id: string; roles: string[] }): Promise<FactorSummary> {
  const [totp, passkeys, remaining] = await Promise.all([totpStatus(deps, user.id), listPasskeys(deps, user.id), recoveryCodesRemaining(deps, user.id)]);
  return {
    totp: totp === 'active',
    passkeys,
    recoveryCodesRemaining: remaining,
    hasSecondFactor: totp === 'active' || passkeys.length > 0,
    required: mustHaveSecondFactor(deps.config.mfaRequired, user.roles),
  };
}
