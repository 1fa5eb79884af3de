import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { Services } from '../context.ts';

/**
 * Authenticator apps (RFC 6238 with the defaults every app accepts: SHA-1, 6 digits, 30 s).
 * ±1 time step of clock drift is accepted; the last accepted step is remembered and a code
 * of that step or an earlier one is refused, so a code is never accepted twice. The secret is
 * encrypted at rest, bound to the user id.
 */
const PERIOD = 30;
const secretContext = (userId: string) => `totp-secret:${userId}`;

type Deps = Pick<Services, 'db' | 'encryptor' | 'config'>;

/** Checks a code against a secret: the accepted time step, or undefined. Pure apart from the clock. */
export async function checkTotpCode(secret: string, code: string, afterTimeStep?: number, epoch?: number): Promise<number | undefined> {
  try {
    const result = await verify({
      secret,
      token: code,
      period: PERIOD,
      epochTolerance: PERIOD, // one step either side
      ...(afterTimeStep === undefined ? {} : { afterTimeStep }),
      ...(epoch === undefined ? {} : { epoch }),
    });
    const step = result.valid ? (result as { timeStep?: number }).timeStep : undefined;
    return typeof step === 'number' ? step : undefined;
  } catch {
    return undefined;
  }
}

export async function totpStatus(deps: Pick<Services, 'db'>, userId: string): Promise<'none' | 'pending' | 'active'> {
  const row = await deps.db.prisma.totpFactor.findUnique({ where: { userId }, select: { confirmedAt: true } });
  return !row ? 'none' : row.confirmedAt ? 'active' : 'pending';
}

export interface TotpEnrolment {
  secret: string;
  uri: string;
  qrSvgDataUrl: string;
}

/** Starts (or restarts) enrolment: a fresh secret that counts only once confirmed with a code. Refused when one is active. */
export async function startTotpEnrolment(deps: Deps, user: { id: string; email: string }): Promise<TotpEnrolment | undefined> {
  if ((await totpStatus(deps, user.id)) === 'active') return undefined;
  const secret = generateSecret();
  const secretEncrypted = deps.encryptor.encrypt(secret, secretContext(user.id));
  await deps.db.prisma.totpFactor.upsert({
    where: { userId: user.id },
    create: { userId: user.id, secretEncrypted },
    update: { secretEncrypted, confirmedAt: null, lastStep: null },
  });
  return describeEnrolment(deps, user, secret);
}

/** The pending enrolment again (e.g. after a wrong confirmation code), without changing the secret. */
export async function pendingTotpEnrolment(deps: Deps, user: { id: string; email: string }): Promise<TotpEnrolment | undefined> {
  const row = await deps.db.prisma.totpFactor.findUnique({ where: { userId: user.id } });
  if (!row || row.confirmedAt) return undefined;
  return describeEnrolment(deps, user, deps.encryptor.decrypt(row.secretEncrypted, secretContext(user.id)));
}

async function describeEnrolment(deps: Pick<Services, 'config'>, user: { email: string }, secret: string): Promise<TotpEnrolment> {
  const uri = generateURI({ issuer: `Latchkey (${new URL(deps.config.issuer).host})`, label: user.email, secret, period: PERIOD });
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return { secret, uri, qrSvgDataUrl: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` };
}

/** Confirms a pending enrolment with a first code; that code's step is remembered. */
export async function confirmTotpEnrolment(deps: Deps, userId: string, code: string): Promise<boolean> {
  const row = await deps.db.prisma.totpFactor.findUnique({ where: { userId } });
  if (!row || row.confirmedAt) return false;
  const step = await checkTotpCode(deps.encryptor.decrypt(row.secretEncrypted, secretContext(userId)), code);
  if (step === undefined) return false;
  const { rowCount } = await deps.db.sql.query(
    'UPDATE totp_factor SET confirmed_at = now(), last_step = $3 WHERE user_id = $1 AND secret_encrypted = $2 AND confirmed_at IS NULL',
    [userId, row.secretEncrypted, step],
  );
  return rowCount === 1;
}

/**
 * Verifies a sign-in code. The step is recorded with a conditional update, so of two requests
 * racing with the same code exactly one succeeds.
 */
export async function verifyTotp(deps: Deps, userId: string, code: string): Promise<boolean> {
  const row = await deps.db.prisma.totpFactor.findUnique({ where: { userId } });
  if (!row?.confirmedAt) return false;
  const step = await checkTotpCode(deps.encryptor.decrypt(row.secretEncrypted, secretContext(userId)), code, row.lastStep ?? undefined);
  if (step === undefined) return false;
  const { rowCount } = await deps.db.sql.query(
    'UPDATE totp_factor SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)',
    [userId, step],
  );
  return rowCount === 1;
}

export async function removeTotp(deps: Pick<Services, 'db'>, userId: string): Promise<boolean> {
  const { count } = await deps.db.prisma.totpFactor.deleteMany({ where: { userId } });
  return count > 0;
}
