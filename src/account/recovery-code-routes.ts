import type Router from '@koa/router';
import type { Context } from 'koa';
import { factorSummary } from '../accounts/factors.ts';
import { generateRecoveryCodes } from '../accounts/recovery-codes.ts';
import { codesToShow, forgetCodesToShow, holdCodesToShow } from '../accounts/shown-recovery-codes.ts';
import { readForm } from '../http/form-body.ts';
import type { AccountKit, SignedIn } from './account-kit.ts';

/**
 * Recovery codes on the account page, POST → redirect → GET: creating codes redirects to
 * GET /account/recovery-codes, which shows them (with copy, download and "I have saved them")
 * until the user says they are saved or 15 minutes pass; a reload shows the same codes. After
 * that the page shows how many are left, never the codes again.
 */
export async function createRecoveryCodes(kit: AccountKit, ctx: Context, signedIn: SignedIn): Promise<void> {
  const codes = await generateRecoveryCodes(kit.services, signedIn.user.id);
  await holdCodesToShow(kit.services, signedIn.sessionUid, codes);
  kit.event(ctx, 'recovery_code.generated', signedIn.user, { count: codes.length });
}

export function recoveryCodeRoutes(router: Router, kit: AccountKit) {
  router.post('/recovery-codes', async (ctx) => {
    const signedIn = await kit.reauthGuard(ctx, await readForm(ctx), 'any', '/account');
    if (!signedIn) return;
    const summary = await factorSummary(kit.services, signedIn.user);
    if (!summary.hasSecondFactor) return kit.seeOther(ctx, '/account');
    await createRecoveryCodes(kit, ctx, signedIn);
    kit.seeOther(ctx, '/account/recovery-codes');
  });

  router.get('/recovery-codes', async (ctx) => {
    const signedIn = await kit.signedIn(ctx);
    if (!signedIn) return ctx.redirect('/account');
    const codes = await codesToShow(kit.services, signedIn.sessionUid);
    const summary = await factorSummary(kit.services, signedIn.user);
    kit.page(ctx, 'recovery-codes', {
      title: 'Recovery codes',
      codes,
      remaining: summary.recoveryCodesRemaining,
      hasSecondFactor: summary.hasSecondFactor,
      csrf: kit.csrf(signedIn),
    });
  });

  router.post('/recovery-codes/saved', async (ctx) => {
    const signedIn = await kit.formGuard(ctx, await readForm(ctx));
    if (!signedIn) return;
    await forgetCodesToShow(kit.services, signedIn.sessionUid);
    kit.seeOther(ctx, '/account');
  });
}
