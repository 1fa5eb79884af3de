import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Services } from '../context.ts';
import { putEphemeral, takeEphemeral } from '../storage/ephemeral-store.ts';
import { advancePasskeyCounter, deletePasskey, insertPasskey } from './factor-queries.ts';

/**
 * Passkeys and security keys (WebAuthn, @simplewebauthn/server). The RP ID is the ISSUER's
 * host name and the only accepted origin is the ISSUER's origin. Challenges are kept server-side
 * for two minutes and taken (deleted) by the first verification, so each is used once. The
 * signature counter must grow for authenticators that keep one; the stored counter only moves
 * forward (conditional update), so a cloned authenticator replaying an old counter is refused.
 */
type Deps = Pick<Services, 'db' | 'config'>;

const CHALLENGE_TTL_MS = 120_000;

/** Loaded on the first ceremony: most processes (and every token request) never need it, and it costs ~10 MB and 0.1 s at start. */
const simpleWebAuthn = () => import('@simplewebauthn/server');

export function relyingParty(config: Pick<Services['config'], 'issuer'>) {
  const url = new URL(config.issuer);
  return { rpID: url.hostname, origin: url.origin, rpName: 'Latchkey' };
}

export type ChallengePurpose = 'register' | 'second-factor' | 'passkey' | 'reauth';

interface StoredChallenge {
  challenge: string;
  purpose: ChallengePurpose;
  userId?: string;
  userVerification: 'required' | 'preferred';
}

const challengeId = (binding: string, purpose: ChallengePurpose) => `${purpose}:${binding}`;

export interface Passkey {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  deviceType: string;
  backedUp: boolean;
}

export async function listPasskeys(deps: Pick<Services, 'db'>, userId: string): Promise<Passkey[]> {
  return deps.db.prisma.webauthnCredential.findMany({
    where: { userId },
    orderBy: { createdAt: 'asc' },
    select: { id: true, name: true, createdAt: true, lastUsedAt: true, deviceType: true, backedUp: true },
  });
}

/** Registration options for a signed-in (or password-verified) user. `binding` ties the challenge to the page's session or interaction. */
export async function registrationOptions(deps: Deps, user: { id: string; email: string }, binding: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { rpID, rpName } = relyingParty(deps.config);
  const existing = await deps.db.prisma.webauthnCredential.findMany({ where: { userId: user.id }, select: { id: true, transports: true } });
  const options = await (await simpleWebAuthn()).generateRegistrationOptions({
    rpName,
    rpID,
    userName: user.email,
    userID: new TextEncoder().encode(user.id),
    userDisplayName: user.email,
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports })),
    // A discoverable credential so it can also sign in on its own (passkey); UV preferred so
    // plain security keys without a PIN still work as a second factor.
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    timeout: CHALLENGE_TTL_MS,
  });
  await putChallenge(deps, binding, { challenge: options.challenge, purpose: 'register', userId: user.id, userVerification: 'preferred' });
  return options;
}

export async function finishRegistration(
  deps: Deps,
  userId: string,
  binding: string,
  response: RegistrationResponseJSON,
  name: string,
): Promise<{ ok: true; id: string } | { ok: false; reason: string }> {
  const stored = await takeChallenge(deps, binding, 'register');
  if (!stored || stored.userId !== userId) return { ok: false, reason: 'The request expired. Try again.' };
  const { rpID, origin } = relyingParty(deps.config);
  let verification;
  try {
    verification = await (await simpleWebAuthn()).verifyRegistrationResponse({
      response,
      expectedChallenge: stored.challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      requireUserVerification: false,
    });
  } catch {
    return { ok: false, reason: 'The security key response could not be verified.' };
  }
  if (!verification.verified) return { ok: false, reason: 'The security key response could not be verified.' };
  const { credential, credentialDeviceType, credentialBackedUp } = verification.registrationInfo;
  const taken = await deps.db.prisma.webauthnCredential.findUnique({ where: { id: credential.id }, select: { id: true } });
  if (taken) return { ok: false, reason: 'This passkey is already registered.' };
  await insertPasskey(deps.db.prisma, {
    id: credential.id,
    userId,
    name: name.trim().slice(0, 60) || 'Passkey',
    publicKey: Buffer.from(credential.publicKey),
    counter: BigInt(credential.counter),
    transports: credential.transports ?? [],
    deviceType: credentialDeviceType,
    backedUp: credentialBackedUp,
  });
  return { ok: true, id: credential.id };
}

/**
 * Authentication options. With a user (second factor, re-authentication): that user's
 * credentials. Without one (passkey sign-in): any discoverable credential, user verification required.
 */
export async function authenticationOptions(
  deps: Deps,
  binding: string,
  purpose: Exclude<ChallengePurpose, 'register'>,
  userId?: string,
): Promise<PublicKeyCredentialRequestOptionsJSON | undefined> {
  const { rpID } = relyingParty(deps.config);
  const allow = userId ? await deps.db.prisma.webauthnCredential.findMany({ where: { userId }, select: { id: true, transports: true } }) : [];
  if (userId && !allow.length) return undefined;
  const userVerification = purpose === 'passkey' ? 'required' : 'preferred';
  const options = await (await simpleWebAuthn()).generateAuthenticationOptions({
    rpID,
    allowCredentials: allow.map((c) => ({ id: c.id, transports: c.transports })),
    userVerification,
    timeout: CHALLENGE_TTL_MS,
  });
  await putChallenge(deps, binding, { challenge: options.challenge, purpose, userId, userVerification });
  return options;
}

export type AuthenticationOutcome =
  | { ok: true; userId: string; credentialId: string; userVerified: boolean }
  | { ok: false; reason: 'expired' | 'unknown_credential' | 'wrong_user' | 'invalid' | 'counter'; credentialId?: string; userId?: string };

export async function finishAuthentication(
  deps: Deps,
  binding: string,
  purpose: Exclude<ChallengePurpose, 'register'>,
  response: AuthenticationResponseJSON,
): Promise<AuthenticationOutcome> {
  const stored = await takeChallenge(deps, binding, purpose);
  if (!stored) return { ok: false, reason: 'expired' };
  const row = typeof response?.id === 'string' ? await deps.db.prisma.webauthnCredential.findUnique({ where: { id: response.id } }) : null;
  if (!row) return { ok: false, reason: 'unknown_credential' };
  if (stored.userId && row.userId !== stored.userId) return { ok: false, reason: 'wrong_user', userId: stored.userId };
  const userHandle = response.response?.userHandle;
  if (userHandle && Buffer.from(userHandle, 'base64url').toString('utf8') !== row.userId) return { ok: false, reason: 'wrong_user', userId: row.userId };
  const { rpID, origin } = relyingParty(deps.config);
  let verification;
  try {
    verification = await (await simpleWebAuthn()).verifyAuthenticationResponse({
      response,
      expectedChallenge: stored.challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      credential: { id: row.id, publicKey: new Uint8Array(row.publicKey), counter: Number(row.counter), transports: row.transports },
      requireUserVerification: stored.userVerification === 'required',
    });
  } catch (error) {
    const counter = /counter/i.test((error as Error).message);
    return { ok: false, reason: counter ? 'counter' : 'invalid', credentialId: row.id, userId: row.userId };
  }
  if (!verification.verified) return { ok: false, reason: 'invalid', credentialId: row.id, userId: row.userId };
  const { newCounter, userVerified, credentialBackedUp } = verification.authenticationInfo;
  if (!(await advancePasskeyCounter(deps.db.sql, row.id, newCounter, credentialBackedUp))) return { ok: false, reason: 'counter', credentialId: row.id, userId: row.userId };
  return { ok: true, userId: row.userId, credentialId: row.id, userVerified };
}

export async function removePasskey(deps: Pick<Services, 'db'>, userId: string, id: string): Promise<boolean> {
  return deletePasskey(deps.db.prisma, userId, id);
}

async function putChallenge(deps: Deps, binding: string, value: StoredChallenge) {
  await putEphemeral(deps.db.sql, 'LatchkeyWebauthnChallenge', challengeId(binding, value.purpose), value, new Date(Date.now() + CHALLENGE_TTL_MS));
}

async function takeChallenge(deps: Deps, binding: string, purpose: ChallengePurpose): Promise<StoredChallenge | undefined> {
  const stored = await takeEphemeral<StoredChallenge>(deps.db.sql, 'LatchkeyWebauthnChallenge', challengeId(binding, purpose));
  return stored?.purpose === purpose ? stored : undefined;
}

