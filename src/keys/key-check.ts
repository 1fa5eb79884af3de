import { keyFingerprint } from '../crypto/key-fingerprint.ts';
import { ConfigError, type Config } from '../config/config.ts';
import { insertSecretIfAbsent, secretContext } from './shared-secrets.ts';
import { keyContext } from './signing-keys.ts';
import type { SqlClient } from '../storage/sql.ts';
import { createDevelopmentKey, createEncryptor, developmentKeyFile, readDevelopmentKey, type Encryptor } from '../crypto/encryption.ts';

/**
 * One database, one encryption key. Every process that opens the database (server instances,
 * the CLI) proves it holds the key the database's secrets are encrypted with before it writes
 * anything: a key stored under another key (a stray DATA_DIR/encryption.key on a CLI machine)
 * would otherwise leave signing keys no instance can read, and brick every restart.
 *
 * The proof is a row in `secret` written by the first process on an empty database: the
 * AES-GCM encryption of a fixed text under the key, with a short fingerprint of the key in
 * clear so that a refusal can say which key the database expects.
 */
export class EncryptionKeyMismatchError extends ConfigError {
  override name = 'EncryptionKeyMismatchError';
}

export type KeySource = { kind: 'environment' } | { kind: 'file'; file: string } | { kind: 'generated'; file: string };

const CHECK_NAME = 'encryption-key-check';
const CHECK_TEXT = 'latchkey encryption key check v1';

export function describeKeySource(source: KeySource): string {
  switch (source.kind) {
    case 'environment':
      return 'ENCRYPTION_KEY (from the environment or .env)';
    case 'file':
      return `the development key file ${source.file} (ENCRYPTION_KEY is not set)`;
    case 'generated':
      return `a key generated just now into ${source.file} (ENCRYPTION_KEY is not set)`;
  }
}

const ADVICE = 'Give every process on this database the ENCRYPTION_KEY the running instances use; nothing was written.';

export interface OpenedKey {
  encryptor: Encryptor;
  source: KeySource;
  fingerprint: string;
}

/**
 * The encryption key for this process, checked against the database before anything is written
 * (migrations included). A development key file is generated only for a database that holds
 * no secrets yet. Throws EncryptionKeyMismatchError, in words, otherwise.
 */
export async function openEncryptionKey(config: Pick<Config, 'encryptionKey' | 'dataDir'>, sql: SqlClient): Promise<OpenedKey> {
  const expected = await storedCheck(sql);
  let key = config.encryptionKey;
  let source: KeySource = { kind: 'environment' };
  if (!key) {
    const file = developmentKeyFile(config.dataDir);
    key = readDevelopmentKey(config.dataDir);
    source = { kind: 'file', file };
    if (!key) {
      if (expected || (await sampleSecret(sql))) {
        throw new EncryptionKeyMismatchError(
          `ENCRYPTION_KEY is not set and ${file} does not exist, but this database already holds secrets encrypted under a key` +
            `${expected ? ` (fingerprint ${expected.fingerprint})` : ''}: a new key would not open them, so none was created. ${ADVICE}`,
        );
      }
      key = createDevelopmentKey(config.dataDir);
      source = { kind: 'generated', file };
    }
  }
  const opened = { encryptor: createEncryptor(key), source, fingerprint: keyFingerprint(key) };
  if (expected) assertOpens(opened, expected);
  else await assertOpensExistingSecret(opened, sql);
  return opened;
}

/**
 * Records the check on a database that has none yet (after migrations), and re-reads it: of two
 * processes starting together on an empty database with different keys, the second refuses.
 */
export async function recordKeyCheck(opened: OpenedKey, sql: SqlClient): Promise<void> {
  const value = `${opened.fingerprint} ${opened.encryptor.encrypt(CHECK_TEXT, CHECK_NAME)}`;
  await insertSecretIfAbsent(sql, CHECK_NAME, value);
  const stored = await storedCheck(sql);
  if (stored) assertOpens(opened, stored);
}

interface StoredCheck {
  fingerprint: string;
  sealed: string;
}

async function storedCheck(sql: SqlClient): Promise<StoredCheck | undefined> {
  if (!(await tableExists(sql, 'secret'))) return undefined;
  const { rows } = await sql.query<{ value_encrypted: string }>('SELECT value_encrypted FROM secret WHERE name = $1', [CHECK_NAME]);
  const value = rows[0]?.value_encrypted;
  if (!value) return undefined;
  const [fingerprint = '', sealed = ''] = value.split(' ');
  return { fingerprint, sealed };
}

function assertOpens(opened: OpenedKey, check: StoredCheck): void {
  if (decrypts(opened.encryptor, check.sealed, CHECK_NAME, CHECK_TEXT)) return;
  throw new EncryptionKeyMismatchError(
    `${describeKeySource(opened.source)} is not the key this database's secrets are encrypted with ` +
      `(this key's fingerprint is ${opened.fingerprint}, the database's is ${check.fingerprint}). ${ADVICE}`,
  );
}

/** A database from before the check row: one of its encrypted values must open under the key. */
async function assertOpensExistingSecret(opened: OpenedKey, sql: SqlClient): Promise<void> {
  const sample = await sampleSecret(sql);
  if (!sample || decrypts(opened.encryptor, sample.sealed, sample.context)) return;
  throw new EncryptionKeyMismatchError(
    `${describeKeySource(opened.source)} (fingerprint ${opened.fingerprint}) does not open the secrets already in this database ` +
      `(${sample.what} does not decrypt under it). ${ADVICE}`,
  );
}

/** An encrypted value already in the database (signing keys first: every started database has them). */
async function sampleSecret(sql: SqlClient): Promise<{ sealed: string; context: string; what: string } | undefined> {
  if (await tableExists(sql, 'signing_key')) {
    const { rows } = await sql.query<{ kid: string; jwk_encrypted: string }>('SELECT kid, jwk_encrypted FROM signing_key ORDER BY created_at LIMIT 1');
    if (rows[0]) return { sealed: rows[0].jwk_encrypted, context: keyContext(rows[0].kid), what: `signing key ${rows[0].kid}` };
  }
  if (await tableExists(sql, 'secret')) {
    const { rows } = await sql.query<{ name: string; value_encrypted: string }>('SELECT name, value_encrypted FROM secret WHERE name <> $1 ORDER BY name LIMIT 1', [CHECK_NAME]);
    if (rows[0]) return { sealed: rows[0].value_encrypted, context: secretContext(rows[0].name), what: `secret ${rows[0].name}` };
  }
  return undefined;
}

function decrypts(encryptor: Encryptor, sealed: string, context: string, expected?: string): boolean {
  try {
    const plain = encryptor.decrypt(sealed, context);
    return expected === undefined || plain === expected;
  } catch {
    return false;
  }
}

async function tableExists(sql: SqlClient, table: string): Promise<boolean> {
  const { rows } = await sql.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [`public.${table}`]);
  return Boolean(rows[0]?.found);
}
