/**
 * The encryption key against a database from before the key-check row (src/keys/key-check.ts),
 * on both databases (PGlite, or TEST_DATABASE_URL: test-database.ts). Such a database — made by
 * a version without the check, or restored from its backup — has no proof row, so the key must
 * open a secret already in it. The attacker is an operator's mistake rather than a person: a CLI
 * or a new instance holding another key would otherwise write secrets nobody can read later.
 * A server on a new PostgreSQL database never takes this path (its tables do not exist yet when
 * the key is checked), so without this file it ran on the embedded database only.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createEncryptor } from '../../src/crypto/encryption.ts';
import { EncryptionKeyMismatchError, openEncryptionKey } from '../../src/keys/key-check.ts';
import { insertSecretIfAbsent, secretContext } from '../../src/keys/shared-secrets.ts';
import { keyContext } from '../../src/keys/signing-keys.ts';
import { migratedDatabase, type TestDatabase } from './test-database.ts';

const right = randomBytes(32);
const wrong = randomBytes(32);
// (never read: ENCRYPTION_KEY is given, so no development key file is looked for)
const dataDir = '/nonexistent';
let signingKeyDb: TestDatabase;
let secretOnlyDb: TestDatabase;

before(async () => {
  [signingKeyDb, secretOnlyDb] = await Promise.all([migratedDatabase('key_check_signing'), migratedDatabase('key_check_secret')]);
});
after(async () => Promise.all([signingKeyDb?.close(), secretOnlyDb?.close()]));

test('an empty migrated database without the check row accepts any key', async () => {
  const opened = await openEncryptionKey({ encryptionKey: wrong, dataDir }, signingKeyDb.sql);
  assert.equal(opened.source.kind, 'environment');
});

test('a signing key sealed under the right key: the right key opens, another is refused with both fingerprints', async () => {
  const kid = `kid-${randomBytes(3).toString('hex')}`;
  const sealed = createEncryptor(right).encrypt(JSON.stringify({ kty: 'OKP' }), keyContext(kid));
  await signingKeyDb.sql.query('INSERT INTO signing_key (kid, alg, jwk_encrypted) VALUES ($1, $2, $3)', [kid, 'EdDSA', sealed]);
  await openEncryptionKey({ encryptionKey: right, dataDir }, signingKeyDb.sql);
  await assert.rejects(openEncryptionKey({ encryptionKey: wrong, dataDir }, signingKeyDb.sql), (error: Error) => {
    assert.ok(error instanceof EncryptionKeyMismatchError);
    assert.match(error.message, new RegExp(`signing key ${kid} does not decrypt`));
    return true;
  });
});

test('no signing key but a shared secret: it decides the same way', async () => {
  await insertSecretIfAbsent(secretOnlyDb.sql, 'cookie-keys', createEncryptor(right).encrypt('k1,k2', secretContext('cookie-keys')));
  await openEncryptionKey({ encryptionKey: right, dataDir }, secretOnlyDb.sql);
  await assert.rejects(openEncryptionKey({ encryptionKey: wrong, dataDir }, secretOnlyDb.sql), /secret cookie-keys does not decrypt/);
});
