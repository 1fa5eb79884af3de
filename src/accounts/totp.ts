import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { Services } from '../context.ts';
import { deleteEphemeral, getEphemeral, putEphemeral } from '../storage/ephemeral-store.ts';
import { advanceTotpStep, confirmTotpFactor, deleteTotpOf, deleteUnconfirmedTotp } from './factor-queries.ts';

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

/**
 * Who a pending enrolment belongs to (security rule 35): the sign-in interaction or the
 * account-page session that started it, and when it dies with it. Its secret is shown to that
 * owner only, and only that owner can confirm it. On 7cc3be5 the unconfirmed secret sat in the
 * user's totp_factor row and was shown again at the next sign-in: someone who knew the password
 * noted it, and once the owner confirmed it, held a working second factor.
 */
export interface EnrolmentOwner {
  kind: 'interaction' | 'session';
  id: string;
  expiresAt: Date;
}

/** Pending secrets live in the ephemeral store (purged when expired), never in totp_factor. */
const PENDING = 'LatchkeyTotpEnrolment';
const pendingKey = (owner: EnrolmentOwner, userId: string) => `${owner.kind}:${owner.id}:${userId}`;
interface PendingSecret {
  secretEncrypted: string;
}

/** Starts enrolment for this owner: always a fresh secret, replacing any this owner had. Refused when one is active. */
export async function startTotpEnrolment(deps: Deps, user: { id: string; email: string }, owner: EnrolmentOwner): Promise<TotpEnrolment | undefined> {
  if ((await totpStatus(deps, user.id)) === 'active') return undefined;
  // A row left unconfirmed by an earlier version (the secret was shared by every sign-in) is dropped.
  await deleteUnconfirmedTotp(deps.db.sql, user.id);
  const secret = generateSecret();
  const pending: PendingSecret = { secretEncrypted: deps.encryptor.encrypt(secret, secretContext(user.id)) };
  await putEphemeral(deps.db.sql, PENDING, pendingKey(owner, user.id), pending, owner.expiresAt);
  return describeEnrolment(deps, user, secret);
}

/** This owner's pending enrolment again (e.g. after a wrong confirmation code), same secret; undefined if it has none. */
export async function pendingTotpEnrolment(deps: Deps, user: { id: string; email: string }, owner: EnrolmentOwner): Promise<TotpEnrolment | undefined> {
  const pending = await getEphemeral<PendingSecret>(deps.db.sql, PENDING, pendingKey(owner, user.id));
  if (!pending) return undefined;
  return describeEnrolment(deps, user, deps.encryptor.decrypt(pending.secretEncrypted, secretContext(user.id)));
}

async function describeEnrolment(deps: Pick<Services, 'config'>, user: { email: string }, secret: string): Promise<TotpEnrolment> {
  const uri = generateURI({ issuer: `Latchkey (${new URL(deps.config.issuer).host})`, label: user.email, secret, period: PERIOD });
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return { secret, uri, qrSvgDataUrl: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` };
}

/**
 * Confirms this owner's pending enrolment with a first code: the secret becomes the user's
 * factor, that code's step is remembered, and the pending record is gone. False when the owner
 * has nothing pending, the code is wrong, or a factor became active meanwhile (another
 * enrolment confirmed first: the active one is never replaced).
 */
export async function confirmTotpEnrolment(deps: Deps, userId: string, owner: EnrolmentOwner, code: string): Promise<boolean> {
  const key = pendingKey(owner, userId);
  const pending = await getEphemeral<PendingSecret>(deps.db.sql, PENDING, key);
  if (!pending) return false;
  const step = await checkTotpCode(deps.encryptor.decrypt(pending.secretEncrypted, secretContext(userId)), code);
  if (step === undefined) return false;
  const confirmed = await confirmTotpFactor(deps.db.sql, userId, pending.secretEncrypted, step);
  await deleteEphemeral(deps.db.sql, PENDING, key);
  return confirmed;
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
  return advanceTotpStep(deps.db.sql, userId, step);
}

export async function removeTotp(deps: Pick<Services, 'db'>, userId: string): Promise<boolean> {
  return (await deleteTotpOf(deps.db.sql, userId)) > 0;
}
