import type { Middleware } from 'koa';
import { useRecoveryCode } from '../accounts/recovery-codes.ts';
import { codeFactorStep } from './code-factor-step.ts';
import type { InteractionDeps } from './interaction-deps.ts';

/** POST /interaction/:uid/mfa/recovery: a one-time recovery code as the second factor. */
export function recoveryCodeStep(deps: InteractionDeps): Middleware {
  return codeFactorStep(deps, 'recovery_code', 'recovery_code', (pending, value) => useRecoveryCode(deps.services, pending.accountId, value));
}
