import { existsSync } from 'node:fs';
import { ApiStore } from './apis/api-store.ts';
import { ClientStore } from './clients/client-store.ts';
import type { Config } from './config/config.ts';
import type { Encryptor } from './crypto/encryption.ts';
import { openEncryptionKey, recordKeyCheck } from './keys/key-check.ts';
import { createPasswordHasher, type PasswordHasher } from './accounts/passwords.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMailer, type Mailer } from './mail/mailer.ts';
import { openDatabase, type Database } from './storage/database.ts';
import { restrictToOwner } from './storage/data-dir.ts';
import { migrate } from './storage/migrator.ts';
import { SecurityEvents } from './security/security-events.ts';

/** What the server, the CLI and the tests share: configuration, storage, secrets, caches. */
export interface Services {
  config: Config;
  db: Database;
  encryptor: Encryptor;
  passwords: PasswordHasher;
  apis: ApiStore;
  clients: ClientStore;
  logger: Logger;
  /** Security events for the audit log and metrics (src/security/security-events.ts). */
  events: SecurityEvents;
  /** E-mail: SMTP, or DATA_DIR/outbox/ without SMTP_URL (src/mail/mailer.ts). */
  mailer: Mailer;
}

export async function createServices(config: Config, options: { logger?: Logger } = {}): Promise<Services> {
  const logger = options.logger ?? createLogger(config);
  const db = await openDatabase(config);
  let encryptor: Encryptor;
  try {
    // DATA_DIR is owner-only even if it existed before (the embedded database narrows its own on opening).
    if (db.kind === 'postgres' && existsSync(config.dataDir)) restrictToOwner(config.dataDir);
    // The key must open this database's secrets before anything is written, migrations included.
    const key = await openEncryptionKey(config, db.sql);
    encryptor = key.encryptor;
    const { applied } = await migrate(db.sql);
    if (applied.length) logger.info({ applied }, 'database migrated');
    await recordKeyCheck(key, db.sql);
  } catch (error) {
    await db.close();
    throw error;
  }
  const cacheTtlMs = config.cacheTtlSeconds * 1000;
  const events = new SecurityEvents();
  return {
    config,
    db,
    encryptor,
    passwords: createPasswordHasher(config.argon2),
    apis: new ApiStore(db, cacheTtlMs),
    clients: new ClientStore(db, encryptor, cacheTtlMs),
    logger,
    events,
    mailer: createMailer({ config, logger, events }),
  };
}
