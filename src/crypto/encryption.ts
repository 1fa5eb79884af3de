import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * AES-256-GCM for secrets at rest (signing keys, client secrets, generated cookie keys).
 * Format: `v1.<iv>.<tag>.<ciphertext>`, base64url. The version prefix leaves room for key rotation.
 * `context` is bound as additional authenticated data, so a ciphertext copied into another
 * row or column does not decrypt.
 */
export interface Encryptor {
  encrypt(plaintext: string, context: string): string;
  decrypt(sealed: string, context: string): string;
}

export function createEncryptor(key: Buffer): Encryptor {
  if (key.length !== 32) throw new Error('encryption key must be 32 bytes');
  return {
    encrypt(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(context));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv, cipher.getAuthTag(), ciphertext].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    },
    decrypt(sealed, context) {
      const [version, iv, tag, ciphertext] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('unreadable ciphertext');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}

/**
 * Development convenience: without ENCRYPTION_KEY, a key is generated once into
 * DATA_DIR/encryption.key, readable by the owner only. Production refuses to start instead;
 * src/keys/key-check.ts decides whether generating one is allowed (never for a database that
 * already holds secrets).
 */
export const developmentKeyFile = (dataDir: string) => path.join(dataDir, 'encryption.key');

/** The key in DATA_DIR/encryption.key, or undefined when there is no such file. */
export function readDevelopmentKey(dataDir: string): Buffer | undefined {
  const file = developmentKeyFile(dataDir);
  if (!existsSync(file)) return undefined;
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  return key;
}

export function createDevelopmentKey(dataDir: string): Buffer {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  const file = developmentKeyFile(dataDir);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return key;
}

export function loadOrCreateDevelopmentKey(dataDir: string): Buffer {
  return readDevelopmentKey(dataDir) ?? createDevelopmentKey(dataDir);
}
