import { randomBytes } from 'node:crypto';
import type { Config } from '../config/config.ts';
import type { Encryptor } from '../crypto/encryption.ts';
import type { Database } from '../storage/database.ts';

/**
 * Cookie signing keys come from COOKIE_KEYS (required in production). In development one is
 * generated on first start and stored encrypted in the database, so restarts keep sessions and
 * several development instances on one PostgreSQL agree.
 */
export async function resolveCookieKeys(config: Config, db: Database, encryptor: Encryptor): Promise<string[]> {
  if (config.cookieKeys) return config.cookieKeys;
  const name = 'cookie-keys';
  const candidate = encryptor.encrypt(randomBytes(32).toString('base64url'), `secret:${name}`);
  await db.sql.query('INSERT INTO secret (name, value_encrypted) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, candidate]);
  const { rows } = await db.sql.query<{ value_encrypted: string }>('SELECT value_encrypted FROM secret WHERE name = $1', [name]);
  return [encryptor.decrypt(rows[0]!.value_encrypted, `secret:${name}`)];
}
