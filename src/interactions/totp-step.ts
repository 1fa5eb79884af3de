import type { Middleware } from 'koa';
import { normalizeTotpCode } from '../accounts/second-factor-policy.ts';
import { verifyTotp } from '../accounts/totp.ts';
import { codeFactorStep } from './code-factor-step.ts';
import type { InteractionDeps } from './interaction-deps.ts';

/** POST /interaction/:uid/mfa/totp: the authenticator app's code as the second factor. */
export function totpStep(deps: InteractionDeps): Middleware {
  return codeFactorStep(deps, 'totp', 'code', async (pending, value) => {
    const code = normalizeTotpCode(value);
    return code !== undefined && verifyTotp(deps.services, pending.accountId, code);
  });
}
