import { createHmac, randomBytes } from 'node:crypto';
import type { Services } from '../context.ts';
import { sharedSecret } from '../keys/shared-secrets.ts';
import { deleteRecoveryCodesOf, markRecoveryCodeUsed, replaceRecoveryCodes } from './factor-queries.ts';
import { formatRecoveryCode, normalizeRecoveryCode, RECOVERY_ALPHABET, RECOVERY_CODE_COUNT } from './second-factor-policy.ts';

/**
 * Recovery codes: ten single-use codes, shown once. Stored as HMAC-SHA256 under a key held by
 * the server (the `recovery-code-key` secret, itself encrypted under ENCRYPTION_KEY). A slow
 * hash (argon2) protects low-entropy passwords; these codes carry 50 random bits each, so a
 * keyed fast hash is enough: a stolen database alone cannot be brute-forced without the key,
 * and a code is found with one indexed lookup instead of ten argon2 verifications.
 */
type Deps = Pick<Services, 'db' | 'encryptor'>;

const KEY_NAME = 'recovery-code-key';
const keyCache = new WeakMap<object, Promise<Buffer>>();

async function hmacKey(deps: Deps): Promise<Buffer> {
  let pending = keyCache.get(deps.db);
  if (!pending) {
    pending = sharedSecret(deps.db, deps.encryptor, KEY_NAME);
    pending.catch(() => keyCache.delete(deps.db));
    keyCache.set(deps.db, pending);
  }
  return pending;
}

function randomCode(): string {
  const bytes = randomBytes(10);
  let out = '';
  for (const b of bytes) out += RECOVERY_ALPHABET[b & 31];
  return out;
}

const hashCode = (key: Buffer, userId: string, normalized: string) => createHmac('sha256', key).update(`${userId}:${normalized}`).digest('base64url');

/** Replaces every code of the user with ten new ones, returned formatted for display (once). */
export async function generateRecoveryCodes(deps: Deps, userId: string): Promise<string[]> {
  const key = await hmacKey(deps);
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, randomCode);
  await replaceRecoveryCodes(deps.db.prisma, userId, codes.map((c) => hashCode(key, userId, c)));
  return codes.map(formatRecoveryCode);
}

/** Uses a code: true once, false ever after (a conditional update, so two racing uses cannot both pass). */
export async function useRecoveryCode(deps: Deps, userId: string, input: string): Promise<boolean> {
  const normalized = normalizeRecoveryCode(input);
  if (normalized.length !== 10) return false;
  const key = await hmacKey(deps);
  return markRecoveryCodeUsed(deps.db.sql, userId, hashCode(key, userId, normalized));
}

export async function recoveryCodesRemaining(deps: Pick<Services, 'db'>, userId: string): Promise<number> {
  return deps.db.prisma.recoveryCode.count({ where: { userId, usedAt: null } });
}

export async function deleteRecoveryCodes(deps: Pick<Services, 'db'>, userId: string): Promise<void> {
  await deleteRecoveryCodesOf(deps.db.sql, userId);
}
