/**
 * Secrets at rest (src/crypto/encryption.ts) and password storage (src/accounts/passwords.ts):
 * AES-256-GCM round trip, tampering and a wrong context both detected, the development key
 * file private (0600) and reused; argon2id with OWASP's minimum parameters recorded in the PHC
 * string (security rule 19), and the length-only password policy (rule 18).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import argon2 from 'argon2';
import { missingInstructions } from '../../src/accounts/argon2-build.ts';
import { createPasswordHasher } from '../../src/accounts/passwords.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblem } from '../../src/accounts/password-policy.ts';
import { loadConfig } from '../../src/config/config.ts';
import { simdLevel } from '../../scripts/tune-argon2.js';
import { createEncryptor, loadOrCreateDevelopmentKey } from '../../src/crypto/encryption.ts';

const tempDirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-crypto-'));
  tempDirs.push(dir);
  return dir;
};
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Flips one bit of one base64url part of a `v1.<iv>.<tag>.<ciphertext>` string. */
function flipBit(sealed: string, part: 1 | 2 | 3): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

describe('AES-256-GCM encryption of secrets at rest', () => {
  const key = randomBytes(32);
  const encryptor = createEncryptor(key);
  const context = 'client-secret:abc';

  test('round trip, with a fresh IV every time and no plaintext in the output', () => {
    for (const plaintext of ['s3cret-value', '', 'ü ñ 🔑 — unicode', 'x'.repeat(10_000)]) {
      const sealed = encryptor.encrypt(plaintext, context);
      assert.match(sealed, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/);
      assert.equal(encryptor.decrypt(sealed, context), plaintext);
      if (plaintext) assert.ok(!sealed.includes(plaintext) && !sealed.includes(Buffer.from(plaintext).toString('base64url')));
    }
    const a = encryptor.encrypt('same', context);
    const b = encryptor.encrypt('same', context);
    assert.notEqual(a, b, 'two encryptions of the same value must differ (random IV)');
    assert.notEqual(a.split('.')[1], b.split('.')[1]);
    assert.equal(Buffer.from(a.split('.')[1]!, 'base64url').length, 12, '96-bit GCM nonce');
    assert.equal(Buffer.from(a.split('.')[2]!, 'base64url').length, 16, '128-bit GCM tag');
  });

  test('tampering with the IV, the tag or the ciphertext is detected', () => {
    const sealed = encryptor.encrypt('client secret value', context);
    for (const part of [1, 2, 3] as const) {
      assert.throws(() => encryptor.decrypt(flipBit(sealed, part), context), `a flipped bit in part ${part} must not decrypt`);
    }
    const [v, iv, tag, ct] = sealed.split('.');
    assert.throws(() => encryptor.decrypt([v, iv, tag, ct!.slice(0, -2)].join('.'), context), 'truncated ciphertext');
    assert.throws(() => encryptor.decrypt([v, iv, Buffer.alloc(16).toString('base64url'), ct].join('.'), context), 'forged tag');
    assert.throws(() => encryptor.decrypt(['v2', iv, tag, ct].join('.'), context), /unreadable/, 'unknown version');
    assert.throws(() => encryptor.decrypt([v, iv, tag].join('.'), context), /unreadable/, 'missing part');
    assert.throws(() => encryptor.decrypt('garbage', context), /unreadable/);
  });

  test('the context is bound: a ciphertext copied to another row or column does not decrypt', () => {
    const sealed = encryptor.encrypt('client secret value', 'client-secret:abc');
    assert.throws(() => encryptor.decrypt(sealed, 'client-secret:abd'));
    assert.throws(() => encryptor.decrypt(sealed, 'signing-key:abc'));
    assert.throws(() => encryptor.decrypt(sealed, ''));
    assert.equal(encryptor.decrypt(sealed, 'client-secret:abc'), 'client secret value');
  });

  test('another key does not decrypt, and keys must be 32 bytes', () => {
    const sealed = encryptor.encrypt('client secret value', context);
    assert.throws(() => createEncryptor(randomBytes(32)).decrypt(sealed, context));
    assert.equal(createEncryptor(Buffer.from(key)).decrypt(sealed, context), 'client secret value');
    assert.throws(() => createEncryptor(randomBytes(16)), /32 bytes/);
    assert.throws(() => createEncryptor(randomBytes(33)), /32 bytes/);
  });
});

describe('development key file', () => {
  test('created with mode 0600 in a private directory, then reused', () => {
    const dataDir = path.join(tempDir(), 'data');
    const key = loadOrCreateDevelopmentKey(dataDir);
    assert.equal(key.length, 32);
    const file = path.join(dataDir, 'encryption.key');
    assert.equal(statSync(file).mode & 0o777, 0o600, 'key file readable by the owner only');
    assert.equal(statSync(dataDir).mode & 0o077, 0, 'data directory not open to group or others');
    const content = readFileSync(file, 'utf8');
    assert.deepEqual(Buffer.from(content.trim(), 'base64'), key);

    const again = loadOrCreateDevelopmentKey(dataDir);
    assert.deepEqual(again, key, 'the same key comes back on the next start');
    assert.equal(readFileSync(file, 'utf8'), content, 'the file is not rewritten');
    // What one process sealed, the next one opens.
    const sealed = createEncryptor(key).encrypt('kept across restarts', 'ctx');
    assert.equal(createEncryptor(again).decrypt(sealed, 'ctx'), 'kept across restarts');
  });

  test('two data directories get different keys', () => {
    assert.notDeepEqual(loadOrCreateDevelopmentKey(tempDir()), loadOrCreateDevelopmentKey(tempDir()));
  });

  test('a damaged key file is refused instead of silently replaced', () => {
    const dataDir = tempDir();
    writeFileSync(path.join(dataDir, 'encryption.key'), `${randomBytes(16).toString('base64')}\n`, { mode: 0o600 });
    assert.throws(() => loadOrCreateDevelopmentKey(dataDir), /32-byte/);
  });
});

describe('argon2id password hashing', () => {
  const defaults = loadConfig({}).argon2;
  const hasher = createPasswordHasher(defaults);
  const password = 'correct horse battery staple';

  test('argon2 loads and hashes: $argon2id$ with m=19456,t=2,p=1 in the PHC string', async () => {
    assert.equal(typeof argon2.hash, 'function', 'the native argon2 module loaded');
    const hash = await hasher.hash(password);
    // PHC string: $argon2id$v=19$<params>$<salt>$<hash>; node-argon2 lists the parameters as m,p,t.
    const match = /^\$argon2id\$v=19\$([a-z]=\d+(?:,[a-z]=\d+)*)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$/.exec(hash);
    assert.ok(match, `not an argon2id PHC string: ${hash}`);
    const params = Object.fromEntries(match[1]!.split(',').map((kv) => kv.split('=')));
    assert.deepEqual(params, { m: '19456', t: '2', p: '1' });
    assert.ok(!hash.includes(password));
    const second = await hasher.hash(password);
    assert.notEqual(second, hash, 'a fresh salt per hash');
  });

  test('verify: right password true, wrong password false, unknown account (undefined) false', async () => {
    const hash = await hasher.hash(password);
    assert.equal(await hasher.verify(hash, password), true);
    assert.equal(await hasher.verify(hash, `${password} `), false);
    assert.equal(await hasher.verify(hash, 'Correct horse battery staple'), false);
    assert.equal(await hasher.verify(hash, ''), false);
    assert.equal(await hasher.verify(undefined, password), false);
    // Not even the dummy password used for timing equalisation opens a missing account.
    assert.equal(await hasher.verify(undefined, 'latchkey-dummy-password-for-timing'), false);
    assert.equal(await hasher.verify('not-a-phc-string', password), false, 'a damaged stored hash fails closed, without throwing');
  });

  test('weaker or different parameters are flagged for rehashing on next sign-in', async () => {
    const current = await hasher.hash(password);
    assert.equal(hasher.needsRehash(current), false);
    const weak = await argon2.hash(password, { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    assert.equal(await hasher.verify(weak, password), true, 'old hashes still verify');
    assert.equal(hasher.needsRehash(weak), true);
    const stronger = createPasswordHasher({ ...defaults, timeCost: 3 });
    assert.equal(stronger.needsRehash(current), true);
  });

  test('the addon as built here (SSE2, AVX2 or AVX-512: scripts/tune-argon2.js) verifies a hash made by the default build', async () => {
    // Made by argon2 0.45.1 built the default way (SSE2), password 'pw one two three'.
    const fromDefaultBuild = '$argon2id$v=19$m=19456,p=1,t=2$k8J01/t41z0f+TedGr5K9Q$6XD/dlYBwzANAHmx+SwuB5uKPKoFqYc84JEafvP6rR0';
    assert.equal(await hasher.verify(fromDefaultBuild, 'pw one two three'), true);
    assert.equal(await hasher.verify(fromDefaultBuild, 'pw one two four'), false);
  });

  test('the SIMD level chosen for the argon2 build follows the CPU flags', () => {
    assert.deepEqual(simdLevel(new Set(['sse2', 'avx', 'avx2', 'avx512f'])), { level: 'avx512f', cflags: '-mavx2 -mavx512f' });
    assert.deepEqual(simdLevel(new Set(['sse2', 'avx2'])), { level: 'avx2', cflags: '-mavx2' });
    assert.equal(simdLevel(new Set(['sse2', 'avx'])), undefined, 'no AVX2: the default build stays');
    assert.equal(simdLevel(new Set(['avx512f'])), undefined, 'AVX-512 without AVX2 is not a combination to build for');
    // A node_modules built for one CPU and copied to another is refused at start-up, naming what is missing.
    assert.deepEqual(missingInstructions('avx512f', new Set(['avx2'])), ['avx512f']);
    assert.deepEqual(missingInstructions('avx2', new Set(['sse2'])), ['avx2']);
    assert.deepEqual(missingInstructions('avx2', new Set(['avx2', 'avx512f'])), []);
  });

  test('a burst of hashes larger than the concurrency limit all complete', async () => {
    const limited = createPasswordHasher({ ...defaults, maxConcurrent: 1 });
    const hashes = await Promise.all(Array.from({ length: 4 }, (_, i) => limited.hash(`${password} ${i}`)));
    assert.equal(new Set(hashes).size, 4);
    for (const [i, hash] of hashes.entries()) assert.equal(await limited.verify(hash, `${password} ${i}`), true);
  });
});

describe('passwordProblem: length only, no composition rules', () => {
  test('limits are 15 and 256 characters', () => {
    assert.equal(PASSWORD_MIN_LENGTH, 15);
    assert.ok(PASSWORD_MAX_LENGTH >= 64);
  });

  test('too short is refused with the minimum in the reason', () => {
    for (const short of ['', 'a', 'abcdefgh', 'x'.repeat(PASSWORD_MIN_LENGTH - 1)]) {
      const problem = passwordProblem(short);
      assert.ok(problem, `"${short}" must be refused`);
      assert.match(problem, /at least 15 characters/);
    }
  });

  test('15 to 256 characters are accepted, whatever their composition', () => {
    for (const ok of ['x'.repeat(15).replace(/^x{3}/, 'abc'), 'all lowercase words here', 'ONLYUPPERCASEPASSWORD', '1234 5678 9012 3456', 'p'.repeat(64), 'q'.repeat(256), 'lange Passphrase mit Umlauten äöü']) {
      assert.equal(passwordProblem(ok), undefined, `"${ok.slice(0, 40)}" (${ok.length}) must be accepted`);
    }
  });

  test('longer than 256 characters is refused', () => {
    const problem = passwordProblem('z'.repeat(PASSWORD_MAX_LENGTH + 1));
    assert.ok(problem);
    assert.match(problem, /at most 256 characters/);
  });
});
