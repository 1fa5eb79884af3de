import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { Services } from '../context.ts';
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
    pending = (async () => {
      const context = `secret:${KEY_NAME}`;
      await deps.db.prisma.secret.createMany({
        data: [{ name: KEY_NAME, valueEncrypted: deps.encryptor.encrypt(randomBytes(32).toString('base64url'), context) }],
        skipDuplicates: true,
      });
      const row = await deps.db.prisma.secret.findUniqueOrThrow({ where: { name: KEY_NAME } });
      return Buffer.from(deps.encryptor.decrypt(row.valueEncrypted, context), 'base64url');
    })();
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
  await deps.db.prisma.$transaction([
    deps.db.prisma.recoveryCode.deleteMany({ where: { userId } }),
    deps.db.prisma.recoveryCode.createMany({ data: codes.map((c) => ({ id: randomUUID(), userId, codeHash: hashCode(key, userId, c) })) }),
  ]);
  return codes.map(formatRecoveryCode);
}

/** Uses a code: true once, false ever after (a conditional update, so two racing uses cannot both pass). */
export async function useRecoveryCode(deps: Deps, userId: string, input: string): Promise<boolean> {
  const normalized = normalizeRecoveryCode(input);
  if (normalized.length !== 10) return false;
  const key = await hmacKey(deps);
  const { rowCount } = await deps.db.sql.query(
    'UPDATE recovery_code SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL',
    [userId, hashCode(key, userId, normalized)],
  );
  return rowCount === 1;
}

export async function recoveryCodesRemaining(deps: Pick<Services, 'db'>, userId: string): Promise<number> {
  return deps.db.prisma.recoveryCode.count({ where: { userId, usedAt: null } });
}

export async function deleteRecoveryCodes(deps: Pick<Services, 'db'>, userId: string): Promise<void> {
  await deps.db.prisma.recoveryCode.deleteMany({ where: { userId } });
}
