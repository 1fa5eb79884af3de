import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.ts';
import type { Encryptor } from '../crypto/encryption.ts';
import type { Database } from '../storage/database.ts';
import type { SqlClient } from '../storage/sql.ts';

/**
 * Instance-wide secrets in the `secret` table, encrypted under ENCRYPTION_KEY and bound to their
 * name. This file is the table's one writer: the shared secrets below and the encryption-key
 * check (key-check.ts) both insert through insertSecretIfAbsent.
 */
export const secretContext = (name: string) => `secret:${name}`;

/** Stores a value under a name unless one is there already: the first process to insert wins. */
export async function insertSecretIfAbsent(sql: SqlClient, name: string, valueEncrypted: string): Promise<void> {
  await sql.query('INSERT INTO secret (name, value_encrypted) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, valueEncrypted]);
}

/**
 * A random secret generated once and stored encrypted in the database, so every instance on
 * one database (and every restart) uses the same value. The first instance to insert wins.
 */
export async function sharedSecret(db: Database, encryptor: Encryptor, name: string): Promise<Buffer> {
  const context = secretContext(name);
  const candidate = encryptor.encrypt(randomBytes(32).toString('base64url'), context);
  await insertSecretIfAbsent(db.sql, name, candidate);
  const { rows } = await db.sql.query<{ value_encrypted: string }>('SELECT value_encrypted FROM secret WHERE name = $1', [name]);
  return Buffer.from(encryptor.decrypt(rows[0]!.value_encrypted, context), 'base64url');
}

/**
 * Cookie signing keys come from COOKIE_KEYS (required in production). In development one is
 * generated on first start and shared through the database.
 */
export async function resolveCookieKeys(config: Config, db: Database, encryptor: Encryptor): Promise<string[]> {
  if (config.cookieKeys) return config.cookieKeys;
  return [(await sharedSecret(db, encryptor, 'cookie-keys')).toString('base64url')];
}
