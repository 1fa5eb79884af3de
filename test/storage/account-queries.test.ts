/**
 * The account lifecycle's statements (src/accounts/user-queries.ts, email-change-queries.ts,
 * email-token-queries.ts; src/storage/payload-queries.ts), as the libraries call them, against a
 * migrated database (PGlite, or TEST_DATABASE_URL: test-database.ts): sign-up's waiting account,
 * a reset link's new password, the e-mail change's one pending link and the move to the new
 * address, and what a password reset ends. Each rule is one an attacker leans on: a second
 * sign-up for someone else's address, a link used twice or by another account, an address taken
 * between the request and the click; and someone holding a user's data export, which must carry
 * no secret (no password hash, authenticator secret, recovery code hash or passkey key). The pages that drive them are tested in Chromium on the
 * embedded database (self-service.test.ts, account-email-change.test.ts); these run on both, so
 * npm test's SQL comparison (test/support/sql-coverage.ts) sees the statements on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { consumeChange, deleteChange, findPendingChange, replacePendingChange } from '../../src/accounts/email-change-queries.ts';
import { deleteEmailToken, findEmailToken, issueEmailToken, recordSecondFactorProof } from '../../src/accounts/email-token-queries.ts';
import {
  accountByEmail,
  accountById,
  deleteUnverifiedAccount,
  emailInUse,
  insertUnverifiedAccount,
  markVerified,
  moveToAddress,
  replacePendingPassword,
  setPasswordFromLink,
  setPasswordHash,
} from '../../src/accounts/user-queries.ts';
import { deleteSessionDevice, upsertSessionDevice } from '../../src/accounts/session-queries.ts';
import { exportAccountData } from '../../src/accounts/data-export.ts';
import { advancePasskeyCounter, insertPasskey, markRecoveryCodeUsed, replaceRecoveryCodes } from '../../src/accounts/factor-queries.ts';
import { ApiStore } from '../../src/apis/api-store.ts';
import { ClientStore } from '../../src/clients/client-store.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createEncryptor } from '../../src/crypto/encryption.ts';
import { auditRow, insertAuditRows } from '../../src/security/audit-log.ts';
import { deleteIssuedUnderGrants, deleteSessionOfAccount, deleteTokensOfAccount } from '../../src/storage/payload-queries.ts';
import type { Database } from '../../src/storage/database.ts';
import { openedDatabase } from './test-database.ts';

let db: Database;
let close: () => Promise<void>;
before(async () => ({ db, close } = await openedDatabase('account_queries')));
after(async () => close?.());

const address = (label: string) => `${label}-${randomBytes(4).toString('hex')}@example.com`;
const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

async function verifiedAccount(label: string) {
  const email = address(label);
  const id = (await insertUnverifiedAccount(db.sql, { email, passwordHash: 'h1' }))!;
  assert.equal(await markVerified(db.sql, id, email), true);
  return { id, email };
}

describe('sign-up and reset links', () => {
  test('a waiting account: a second sign-up replaces its password; the address is taken; the link verifies it once', async () => {
    const email = address('signup');
    const id = await insertUnverifiedAccount(db.sql, { email, passwordHash: 'first' });
    assert.ok(id);
    assert.equal(await insertUnverifiedAccount(db.sql, { email, passwordHash: 'someone else' }), undefined, 'the address is not given twice');
    assert.equal(await emailInUse(db.sql, email), true);
    assert.equal(await replacePendingPassword(db.sql, id, 'second'), true);
    assert.deepEqual(await accountByEmail(db.sql, email), { id, email, passwordHash: 'second', roles: [], emailVerified: false, disabled: false });
    assert.equal(await markVerified(db.sql, id, address('other')), false, 'only for the address the link was sent to');
    assert.equal(await markVerified(db.sql, id, email), true);
    assert.equal(await replacePendingPassword(db.sql, id, 'third'), false, 'a verified account is no longer a sign-up to replace');
    await deleteUnverifiedAccount(db.sql, id);
    assert.equal((await accountById(db.sql, id))?.passwordHash, 'second', 'a verified account is never deleted as a failed sign-up');
  });

  test('a sign-up whose e-mail could not be sent leaves nothing: its account and its link go', async () => {
    const email = address('unsent');
    const id = (await insertUnverifiedAccount(db.sql, { email, passwordHash: 'h' }))!;
    const { token } = await issueEmailToken(db.sql, { purpose: 'verify-email', userId: id, email });
    assert.ok(await findEmailToken(db.sql, 'verify-email', token));
    await deleteEmailToken(db.sql, token);
    assert.equal(await findEmailToken(db.sql, 'verify-email', token), undefined);
    await deleteUnverifiedAccount(db.sql, id);
    assert.equal(await accountById(db.sql, id), undefined);
    assert.equal(await emailInUse(db.sql, email), false);
  });

  test('a reset link sets the password and proves the address; a passkey proof is recorded on the link', async () => {
    const { id, email } = await verifiedAccount('reset');
    const { token } = await issueEmailToken(db.sql, { purpose: 'reset-password', userId: id, email });
    const link = (await findEmailToken(db.sql, 'reset-password', token))!;
    assert.equal(link.secondFactorAt, null);
    await recordSecondFactorProof(db.sql, link.id);
    assert.ok((await findEmailToken(db.sql, 'reset-password', token))!.secondFactorAt instanceof Date);
    assert.equal(await setPasswordFromLink(db.sql, id, address('elsewhere'), 'new'), false);
    assert.equal(await setPasswordFromLink(db.sql, id, email, 'new'), true);
    assert.equal((await accountById(db.sql, id))?.passwordHash, 'new');
    await setPasswordHash(db.prisma, id, 'changed on the account page');
    assert.equal((await accountById(db.sql, id))?.passwordHash, 'changed on the account page');
  });

  test('a password reset ends what apps hold for the account, and the session it names', async () => {
    const { id } = await verifiedAccount('ended');
    const row = (model: string, rowId: string, extra: { grant?: string; uid?: string } = {}) =>
      db.sql.query('INSERT INTO oidc_payload (model, id, payload, grant_id, uid, account_id) VALUES ($1, $2, $3, $4, $5, $6)', [model, rowId, '{}', extra.grant ?? null, extra.uid ?? null, id]);
    await row('Grant', 'grant-1');
    await row('RefreshToken', 'rt-1', { grant: 'grant-1' });
    await row('AccessToken', 'at-1', { grant: 'grant-2' });
    await row('Session', 'session-1', { uid: 'uid-1' });
    const left = async () => (await db.sql.query<{ model: string }>('SELECT model FROM oidc_payload WHERE account_id = $1 ORDER BY model', [id])).rows.map((r) => r.model);
    assert.equal(await deleteTokensOfAccount(db.sql, id), 2);
    assert.deepEqual(await left(), ['Grant', 'Session']);
    await row('AuthorizationCode', 'code-1', { grant: 'grant-1' });
    await deleteIssuedUnderGrants(db.sql, ['grant-1', 'grant-9']);
    assert.deepEqual(await left(), ['Grant', 'Session'], "the grant's code went, the grant row stays for its own revocation");
    assert.equal(await deleteSessionOfAccount(db.sql, 'someone-else', 'uid-1'), false, "another account's id does not end the session");
    await upsertSessionDevice(db.sql, { id: 'device-1', sessionUid: 'uid-1', userId: id, userAgent: 'Firefox', ip: '203.0.113.9' });
    assert.equal(await deleteSessionDevice(db.sql, 'someone-else', 'device-1'), undefined);
    assert.equal(await deleteSessionDevice(db.sql, id, 'device-1'), 'uid-1');
    assert.equal(await deleteSessionOfAccount(db.sql, id, 'uid-1'), true);
    assert.deepEqual(await left(), ['Grant']);
  });
});

describe('changing the e-mail address', () => {
  test('one pending change per user: a newer request replaces the older link; a link works once, for its user', async () => {
    const { id } = await verifiedAccount('changer');
    const other = await verifiedAccount('bystander');
    const newEmail = address('new');
    const expiresAt = new Date(Date.now() + 3600_000);
    const [older, newer] = [randomUUID(), randomUUID()];
    await replacePendingChange(db.sql, { tokenHash: hashOf(older), userId: id, newEmail: address('typo'), expiresAt });
    await replacePendingChange(db.sql, { tokenHash: hashOf(newer), userId: id, newEmail, expiresAt });
    assert.equal(await findPendingChange(db.sql, hashOf(older)), undefined);
    assert.equal((await findPendingChange(db.sql, hashOf(newer)))?.newEmail, newEmail);
    assert.equal(await consumeChange(db.sql, hashOf(newer), other.id), undefined, "another account's session cannot use the link");

    const moved = await db.sql.transaction(async (tx) => {
      const change = await consumeChange(tx, hashOf(newer), id);
      assert.equal(change?.newEmail, newEmail);
      return moveToAddress(tx, id, change!.newEmail);
    });
    assert.ok(moved?.oldEmail.startsWith('changer-'));
    assert.deepEqual(await accountByEmail(db.sql, newEmail).then((a) => [a?.id, a?.emailVerified]), [id, true]);
    assert.equal(await consumeChange(db.sql, hashOf(newer), id), undefined, 'used once');
    await deleteChange(db.sql, hashOf(newer));
  });

  test('an address another account took between the request and the click is not moved to', async () => {
    const { id, email } = await verifiedAccount('late');
    const taken = await verifiedAccount('quick');
    assert.equal(await db.sql.transaction((tx) => moveToAddress(tx, id, taken.email)), undefined);
    assert.equal((await accountById(db.sql, id))?.email, email);
  });
});

describe('second factors and the data export', () => {
  test('recovery codes: replaced as a set, each used once', async () => {
    const { id } = await verifiedAccount('codes');
    await replaceRecoveryCodes(db.prisma, id, ['hash-old']);
    await replaceRecoveryCodes(db.prisma, id, ['hash-a', 'hash-b']);
    assert.equal(await markRecoveryCodeUsed(db.sql, id, 'hash-old'), false, 'a replaced code is gone');
    assert.equal(await markRecoveryCodeUsed(db.sql, id, 'hash-a'), true);
    assert.equal(await markRecoveryCodeUsed(db.sql, id, 'hash-a'), false, 'a used code is refused');
  });

  test("a passkey's signature counter only moves forward (a cloned authenticator replays an old one)", async () => {
    const { id } = await verifiedAccount('counter');
    const passkey = (credentialId: string) =>
      insertPasskey(db.prisma, { id: credentialId, userId: id, name: 'Laptop', publicKey: Buffer.from('public key bytes'), counter: 0n, transports: ['internal'], deviceType: 'singleDevice', backedUp: false });
    const counting = `cred-${randomUUID()}`;
    await passkey(counting);
    assert.equal(await advancePasskeyCounter(db.sql, counting, 5, false), true);
    assert.equal(await advancePasskeyCounter(db.sql, counting, 5, false), false);
    assert.equal(await advancePasskeyCounter(db.sql, counting, 3, false), false);
    assert.equal(await advancePasskeyCounter(db.sql, counting, 6, true), true);
    // Synced passkeys commonly always say 0: accepted while the stored counter is 0 too.
    const zero = `cred-${randomUUID()}`;
    await passkey(zero);
    assert.equal(await advancePasskeyCounter(db.sql, zero, 0, true), true);
    assert.equal(await advancePasskeyCounter(db.sql, zero, 0, true), true);
  });

  test('"download my data": profile, sign-in methods and own audit events, and no secret', async () => {
    const { id, email } = await verifiedAccount('export');
    await db.prisma.totpFactor.create({ data: { userId: id, secretEncrypted: 'SEALED-TOTP-SECRET', confirmedAt: new Date() } });
    await replaceRecoveryCodes(db.prisma, id, ['RECOVERY-HASH-1', 'RECOVERY-HASH-2']);
    await markRecoveryCodeUsed(db.sql, id, 'RECOVERY-HASH-1');
    await insertPasskey(db.prisma, { id: `cred-${randomUUID()}`, userId: id, name: 'Phone', publicKey: Buffer.from('PASSKEY-PUBLIC-KEY'), counter: 0n, transports: [], deviceType: 'multiDevice', backedUp: true });
    await insertAuditRows({ db, logger: { warn() {}, error() {} } as never }, [auditRow({ type: 'signin.success', userId: id, ip: '203.0.113.4' } as never), auditRow({ type: 'signin.success', userId: 'someone-else' } as never)]);
    const config = loadConfig({});
    const services = { db, config, apis: new ApiStore(db, 1000), clients: new ClientStore(db, createEncryptor(randomBytes(32)), 1000) };

    const exported = await exportAccountData(services, id);
    assert.equal(exported.profile.email, email);
    assert.ok(exported.sign_in_methods.authenticator_app?.added_at);
    assert.deepEqual(exported.sign_in_methods.passkeys.map((p) => [p.name, p.synced]), [['Phone', true]]);
    assert.equal(exported.sign_in_methods.recovery_codes_left, 1);
    assert.deepEqual(exported.audit_events.map((e) => [e.type, e.ip]), [['signin.success', '203.0.113.4']], "only the user's own events");
    const text = JSON.stringify(exported);
    assert.ok(!text.includes('"h1"'), 'the export holds no password hash');
    for (const secret of ['SEALED-TOTP-SECRET', 'RECOVERY-HASH', 'PASSKEY-PUBLIC-KEY', Buffer.from('PASSKEY-PUBLIC-KEY').toString('base64')]) {
      assert.ok(!text.includes(secret), `the export holds no ${secret}`);
    }
  });
});
