import type Router from '@koa/router';
import type { Context } from 'koa';
import { factorSummary } from '../accounts/factors.ts';
import { generateRecoveryCodes, recoveryCodesRemaining, useRecoveryCode } from '../accounts/recovery-codes.ts';
import { secondFactorLockedFor } from '../accounts/second-factor-lockout.ts';
import { ACR_MFA, ACR_PASSWORD, codesRefusal, describeWait, mustHaveSecondFactor, normalizeTotpCode } from '../accounts/second-factor-policy.ts';
import { confirmTotpEnrolment, type EnrolmentOwner, pendingTotpEnrolment, startTotpEnrolment, totpStatus, verifyTotp } from '../accounts/totp.ts';
import { authenticationOptions, finishAuthentication, finishRegistration, registrationOptions } from '../accounts/webauthn.ts';
import { findUserById, type SignedInUser } from '../accounts/users.ts';
import type { Services } from '../context.ts';
import { csrfToken, csrfValid } from '../http/csrf.ts';
import { readForm } from '../http/form-body.ts';
import { readJson } from '../http/json-body.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { attemptFrom, type CredentialAttempts } from '../security/credential-attempts.ts';
import { requestFields } from '../security/security-events.ts';
import { getEphemeral, putEphemeral, takeEphemeral } from './ephemeral-store.ts';
import { saveInteractionResult, seeOther } from './interaction-result.ts';
import { appWantsMfa, STEP_UP_REASON } from './step-up.ts';

/**
 * The second step of sign-in, under /interaction/:uid (the interaction cookie's path). The
 * `login` prompt is resolved only once every required factor has passed; until then "first
 * factor OK for account X" lives in a server-side record keyed by the interaction uid that
 * expires with the interaction (ephemeral-store.ts).
 */
interface Pending {
  accountId: string;
  /** amr of the first factor: ['pwd'] after the password, or the session's amr on step-up */
  first: string[];
  stage: 'verify' | 'enroll' | 'done';
  /** for stage 'done' */
  amr?: string[];
  showCodes?: boolean;
  notice?: string;
}

type Interaction = Awaited<ReturnType<ProviderHolder['current']['interactionDetails']>>;
type Page = (ctx: Context, view: string, data: Record<string, unknown>, status?: number) => void;

const PENDING = 'LatchkeyMfaPending';

/** A TOTP enrolment started at sign-in belongs to the interaction, and expires with it. */
const enrolmentOwner = (interaction: Interaction): EnrolmentOwner => ({
  kind: 'interaction',
  id: interaction.uid,
  expiresAt: new Date((interaction.exp ?? Math.floor(Date.now() / 1000) + 3600) * 1000),
});
const unique = (values: string[]) => [...new Set(values)];

export function secondFactorStep(services: Services, holder: ProviderHolder, csrfSecret: string, page: Page, attempts: CredentialAttempts) {
  const { db } = services;
  const details = (ctx: Context) => holder.current.interactionDetails(ctx.req, ctx.res);
  const savePending = (interaction: Interaction, pending: Pending) =>
    putEphemeral(db.sql, PENDING, interaction.uid, pending, new Date((interaction.exp ?? Math.floor(Date.now() / 1000) + 3600) * 1000));
  const loadPending = (uid: string) => getEphemeral<Pending>(db.sql, PENDING, uid);

  /**
   * Resolves the login prompt. The interaction loaded at the start of the request receives the
   * result (what provider.interactionResult does after reading the cookie and loading it a
   * second time). `clearPending` is false only where no pending record was ever consulted: the
   * password alone was enough (see afterPassword).
   */
  const finish = async (ctx: Context, interaction: Interaction, accountId: string, amr: string[], opts: { json?: boolean; clearPending?: boolean } = {}) => {
    if (opts.clearPending !== false) await takeEphemeral(db.sql, PENDING, interaction.uid);
    const acr = amr.length >= 2 ? ACR_MFA : ACR_PASSWORD;
    services.events.emit({
      type: 'signin.success', actor: accountId, userId: accountId, clientId: String(interaction.params.client_id), details: { amr }, ...requestFields(ctx),
    });
    const returnTo = await saveInteractionResult(interaction, { login: { accountId, amr, acr } });
    if (opts.json) {
      ctx.body = { redirect: returnTo };
      return;
    }
    seeOther(ctx, returnTo);
  };

  /** Renders the page for the current stage. */
  const render = async (ctx: Context, interaction: Interaction, pending: Pending, extra: Record<string, unknown> = {}, status = 200) => {
    const user = await findUserById(services, pending.accountId);
    if (!user || user.disabled) {
      await takeEphemeral(db.sql, PENDING, interaction.uid);
      return page(ctx, 'error', { title: 'Error', message: 'This account cannot sign in.', code: 'account_unavailable' }, 403);
    }
    const uid = interaction.uid;
    const csrf = csrfToken(csrfSecret, uid);
    const base = { uid, csrf, email: user.email, ...extra };
    if (pending.stage === 'enroll') {
      // The secret belongs to this interaction: a later sign-in gets a new one (security rule 35).
      const owner = enrolmentOwner(interaction);
      const enrolment = (await pendingTotpEnrolment(services, user, owner)) ?? (await startTotpEnrolment(services, user, owner));
      if (!enrolment) {
        // A factor became active meanwhile (another sign-in confirmed one): prove it instead.
        const verify: Pending = { ...pending, stage: 'verify' };
        await savePending(interaction, verify);
        return render(ctx, interaction, verify, extra, status);
      }
      return page(ctx, 'mfa-enroll', { title: 'Set up a second factor', ...base, enrolment, required: true }, status);
    }
    if (pending.stage === 'done') {
      let codes: string[] | undefined;
      if (pending.showCodes) {
        codes = await generateRecoveryCodes(services, user.id);
        services.events.emit({ type: 'recovery_code.generated', actor: user.id, userId: user.id, details: { count: codes.length }, ...requestFields(ctx) });
        await savePending(interaction, { ...pending, showCodes: false });
      }
      return page(ctx, 'mfa-done', { title: 'Signed in', ...base, codes, notice: pending.notice, continueAction: `/interaction/${uid}/mfa/continue` }, status);
    }
    const summary = await factorSummary(services, user);
    const lockedFor = await secondFactorLockedFor(services, user.id);
    return page(ctx, 'mfa', {
      title: 'Second step',
      ...base,
      totp: summary.totp,
      passkeys: summary.passkeys.length > 0,
      recoveryCodes: summary.recoveryCodesRemaining > 0,
      locked: lockedFor ? `Too many wrong codes. Codes are locked for this account; try again in ${describeWait(lockedFor)}, or use a security key.` : undefined,
    }, status);
  };

  /** GET /interaction/:uid while the login prompt is pending: true when this module rendered the page. */
  async function show(ctx: Context, interaction: Interaction): Promise<boolean> {
    if (interaction.prompt.name !== 'login') return false;
    let pending = await loadPending(interaction.uid);
    const reasons = interaction.prompt.reasons;
    if (!pending && interaction.session?.accountId && reasons.length > 0 && reasons.every((r) => r === STEP_UP_REASON)) {
      // Step-up: the session has a first factor only; ask for the second without the password again.
      const user = await findUserById(services, interaction.session.accountId);
      if (!user || user.disabled) return false;
      const summary = await factorSummary(services, user);
      pending = { accountId: user.id, first: (interaction.session.amr as string[] | undefined) ?? ['pwd'], stage: summary.hasSecondFactor ? 'verify' : 'enroll' };
      await savePending(interaction, pending);
    }
    if (!pending) return false;
    await render(ctx, interaction, pending);
    return true;
  }

  /**
   * After a correct password: finish, or go on to the second step (or to enrolment). The user
   * row came with whether a second factor is enrolled (verifyPasswordSignIn), and the client's
   * require-MFA flag comes from the client registry's cache: no further queries on the
   * password-only path.
   */
  async function afterPassword(ctx: Context, interaction: Interaction, user: SignedInUser, options: { requireSecondFactor?: boolean } = {}): Promise<void> {
    const required = mustHaveSecondFactor(services.config.mfaRequired, user.roles);
    const stored = await services.clients.find(String(interaction.params.client_id));
    // As oidc-provider sees it: a suspended or unapproved client has no metadata.
    const client = stored && !stored.suspended && !stored.approvalPending ? stored.metadata : undefined;
    const wanted = user.hasSecondFactor || required || options.requireSecondFactor || appWantsMfa(interaction.params.acr_values, client);
    // No pending record is created on this path. One left by an earlier attempt in this
    // interaction (another account's password, then this one) is not deleted: the interaction
    // is resolved now and its uid never comes back (resume destroys it), and such a record
    // could only ever finish a sign-in whose first factor was proven; it expires with the interaction.
    if (!wanted) return finish(ctx, interaction, user.id, ['pwd'], { clearPending: false });
    await savePending(interaction, { accountId: user.id, first: ['pwd'], stage: user.hasSecondFactor ? 'verify' : 'enroll' });
    ctx.status = 303;
    ctx.redirect(`/interaction/${interaction.uid}`);
  }

  const formStep = async (ctx: Context, stage: Pending['stage']) => {
    const form = await readForm(ctx);
    const interaction = await details(ctx);
    if (!csrfValid(csrfSecret, interaction.uid, form.get('csrf'))) {
      page(ctx, 'error', { title: 'Error', message: 'The form was stale or forged. Go back and try again.', code: 'csrf' }, 403);
      return undefined;
    }
    const pending = interaction.prompt.name === 'login' ? await loadPending(interaction.uid) : undefined;
    if (!pending || pending.stage !== stage) {
      page(ctx, 'error', { title: 'Error', message: 'This sign-in step is not expected now. Go back to the app and start again.', code: 'unexpected_step' }, 400);
      return undefined;
    }
    return { form, interaction, pending };
  };

  /** A code factor (TOTP or recovery code) behind the per-account attempt limit. */
  const codeStep = async (ctx: Context, method: 'totp' | 'recovery_code', check: (pending: Pending, value: string) => Promise<boolean>, field: string) => {
    const step = await formStep(ctx, 'verify');
    if (!step) return;
    const { form, interaction, pending } = step;
    const clientId = String(interaction.params.client_id);
    const attempt = attemptFrom(ctx, { kind: 'code', step: `mfa/${method}`, userId: pending.accountId });
    const gate = await attempts.begin(attempt);
    if (!gate.allowed) {
      ctx.set('Retry-After', String(Math.ceil(Math.min(gate.retryAfterSeconds, 86_400))));
      return render(ctx, interaction, pending, { error: codesRefusal(gate.retryAfterSeconds) }, 429);
    }
    const ok = await check(pending, (form.get(field) ?? '').slice(0, 64));
    const { lockedSeconds } = await attempts.finish(attempt, ok);
    if (!ok) {
      services.events.emit({ type: 'signin.mfa.failure', userId: pending.accountId, clientId, details: { method }, ...requestFields(ctx) });
      if (lockedSeconds) {
        ctx.set('Retry-After', String(lockedSeconds));
        return render(ctx, interaction, pending, { error: codesRefusal(lockedSeconds) }, 429);
      }
      return render(ctx, interaction, pending, { error: method === 'totp' ? 'That code is not right, or was already used. Wait for the next code and try again.' : 'That recovery code is not valid or was already used.' }, 401);
    }
    const amr = unique([...pending.first, 'otp']);
    if (method === 'recovery_code') {
      const remaining = await recoveryCodesRemaining(services, pending.accountId);
      services.events.emit({ type: 'recovery_code.used', actor: pending.accountId, userId: pending.accountId, clientId, details: { remaining }, ...requestFields(ctx) });
      const notice = `Recovery code accepted. You have ${remaining} recovery code${remaining === 1 ? '' : 's'} left.` +
        (remaining <= 3 ? ' Create new ones on your account page.' : '');
      const done: Pending = { ...pending, stage: 'done', amr, notice };
      await savePending(interaction, done);
      return render(ctx, interaction, done);
    }
    return finish(ctx, interaction, pending.accountId, amr);
  };

  function register(router: Router) {
    router.post('/mfa/totp', (ctx) =>
      codeStep(ctx, 'totp', async (pending, value) => {
        const code = normalizeTotpCode(value);
        return code !== undefined && verifyTotp(services, pending.accountId, code);
      }, 'code'),
    );
    router.post('/mfa/recovery', (ctx) => codeStep(ctx, 'recovery_code', (pending, value) => useRecoveryCode(services, pending.accountId, value), 'recovery_code'));

    router.post('/mfa/enroll/totp', async (ctx) => {
      const step = await formStep(ctx, 'enroll');
      if (!step) return;
      const { form, interaction, pending } = step;
      const code = normalizeTotpCode(form.get('code') ?? '');
      if (!code || !(await confirmTotpEnrolment(services, pending.accountId, enrolmentOwner(interaction), code))) {
        return render(ctx, interaction, pending, { error: 'That code is not right. Check the time on your phone and try the next code.' }, 400);
      }
      services.events.emit({ type: 'factor.totp.enrolled', actor: pending.accountId, userId: pending.accountId, ...requestFields(ctx) });
      await savePending(interaction, { ...pending, stage: 'done', amr: unique([...pending.first, 'otp']), showCodes: true });
      ctx.status = 303;
      ctx.redirect(`/interaction/${interaction.uid}`);
    });

    router.post('/mfa/continue', async (ctx) => {
      const step = await formStep(ctx, 'done');
      if (!step) return;
      await finish(ctx, step.interaction, step.pending.accountId, step.pending.amr ?? step.pending.first);
    });

    // WebAuthn: JSON endpoints called by views/assets/webauthn.js, CSRF token in a header.
    const jsonStep = async (ctx: Context) => {
      const body = await readJson(ctx);
      const interaction = await details(ctx);
      ctx.set('Cache-Control', 'no-store');
      if (!csrfValid(csrfSecret, interaction.uid, ctx.get('x-csrf-token'))) {
        ctx.status = 403;
        ctx.body = { error: 'The page was stale. Reload it and try again.' };
        return undefined;
      }
      if (interaction.prompt.name !== 'login') {
        ctx.status = 400;
        ctx.body = { error: 'You are already signed in.' };
        return undefined;
      }
      return { body: body ?? {}, interaction, pending: await loadPending(interaction.uid) };
    };
    const fail = (ctx: Context, status: number, error: string) => {
      ctx.status = status;
      ctx.body = { error };
    };

    router.post('/webauthn/options', async (ctx) => {
      const step = await jsonStep(ctx);
      if (!step) return;
      const { interaction, pending } = step;
      if (!pending) {
        ctx.body = await authenticationOptions(services, interaction.uid, 'passkey');
        return;
      }
      if (pending.stage === 'verify') {
        const options = await authenticationOptions(services, interaction.uid, 'second-factor', pending.accountId);
        return options ? void (ctx.body = options) : fail(ctx, 400, 'No security key is registered for this account.');
      }
      if (pending.stage === 'enroll') {
        const user = await findUserById(services, pending.accountId);
        if (!user) return fail(ctx, 400, 'This account cannot sign in.');
        ctx.body = await registrationOptions(services, user, interaction.uid);
        return;
      }
      fail(ctx, 400, 'This sign-in step is not expected now.');
    });

    router.post('/webauthn/verify', async (ctx) => {
      const step = await jsonStep(ctx);
      if (!step) return;
      const { interaction, pending, body } = step;
      const clientId = String(interaction.params.client_id);
      const credential = body.credential as never;
      if (pending?.stage === 'enroll') {
        const result = await finishRegistration(services, pending.accountId, interaction.uid, credential, String(body.name ?? ''));
        if (!result.ok) return fail(ctx, 400, result.reason);
        services.events.emit({ type: 'factor.webauthn.registered', actor: pending.accountId, userId: pending.accountId, details: { credentialId: result.id }, ...requestFields(ctx) });
        await savePending(interaction, { ...pending, stage: 'done', amr: unique([...pending.first, 'hwk']), showCodes: true });
        ctx.body = { redirect: `/interaction/${interaction.uid}` };
        return;
      }
      const purpose = pending ? 'second-factor' : 'passkey';
      if (pending && pending.stage !== 'verify') return fail(ctx, 400, 'This sign-in step is not expected now.');
      const attempt = attemptFrom(ctx, { kind: 'passkey', step: pending ? 'mfa/webauthn' : 'passkey', userId: pending?.accountId });
      const gate = await attempts.begin(attempt);
      if (!gate.allowed) return fail(ctx, 429, `Too many attempts. Try again in ${describeWait(gate.retryAfterSeconds)}.`);
      const outcome = await finishAuthentication(services, interaction.uid, purpose, credential);
      await attempts.finish({ ...attempt, userId: outcome.userId ?? attempt.userId }, outcome.ok);
      if (!outcome.ok) {
        services.events.emit({
          type: pending ? 'signin.mfa.failure' : 'signin.failure', userId: outcome.userId, clientId,
          details: { method: pending ? 'webauthn' : 'passkey', reason: outcome.reason }, ...requestFields(ctx),
        });
        const message = outcome.reason === 'expired' ? 'The request expired. Try again.'
          : outcome.reason === 'counter' ? 'This security key looks cloned (its signature counter went backwards). It was refused.'
          : 'This passkey or security key was not accepted.';
        return fail(ctx, 401, message);
      }
      const user = await findUserById(services, outcome.userId);
      if (!user || user.disabled) return fail(ctx, 401, 'This passkey or security key was not accepted.');
      if (pending) return finish(ctx, interaction, user.id, unique([...pending.first, 'hwk']), { json: true });
      if (!outcome.userVerified) return fail(ctx, 401, 'Your device did not verify you (PIN or biometrics). Sign in with your password instead.');
      return finish(ctx, interaction, user.id, ['hwk', 'user'], { json: true });
    });
  }

  return { show, afterPassword, register, totpStatus: (id: string) => totpStatus(services, id) };
}
