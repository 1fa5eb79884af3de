/**
 * loadConfig (src/config/config.ts): the defaults a local trial gets, what production refuses
 * (each with a one-line reason), and malformed values rejected with a ConfigError that names
 * the setting. The last test runs the real `latchkey serve` in production mode with an http
 * issuer and checks that it refuses to start, with exit code 2 and that one line.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { availableParallelism } from 'node:os';
import path from 'node:path';
import { assertSafeForProduction, ConfigError, loadConfig } from '../../src/config/config.ts';
import { openDatabase } from '../../src/storage/database.ts';
import { repoRoot } from '../support/latchkey.ts';

const encryptionKey = randomBytes(32).toString('base64');
const cookieKeys = `${randomBytes(24).toString('base64url')},${randomBytes(24).toString('base64url')}`;
const production = {
  NODE_ENV: 'production',
  ISSUER: 'https://id.example.com',
  COOKIE_KEYS: cookieKeys,
  ENCRYPTION_KEY: encryptionKey,
  SMTP_URL: 'smtp://latchkey:secret@mail.example.com:587',
};

/** Runs `fn`, expects a ConfigError, and returns its message. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${(error as Error)?.name}: ${(error as Error)?.message}`);
    return error.message;
  }
  assert.fail('expected loadConfig to throw');
}

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('defaults', () => {
  test('an empty environment gives port 3000, issuer http://localhost:3000, ./data resolved, no DATABASE_URL', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.issuer, 'http://localhost:3000');
    assert.equal(config.dataDir, path.resolve('./data'));
    assert.ok(path.isAbsolute(config.dataDir));
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.env, 'development');
    assert.equal(config.production, false);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.trustProxyHops, 0);
    assert.equal(config.encryptionKey, undefined, 'development without ENCRYPTION_KEY uses a key file');
    assert.equal(config.cookieKeys, undefined, 'development without COOKIE_KEYS generates and stores keys');
    assert.deepEqual(config.argon2, { memoryCost: 19456, timeCost: 2, parallelism: 1, maxConcurrent: Math.min(4, availableParallelism()) });
    assert.equal(loadConfig({ ARGON2_MAX_CONCURRENT: '6' }).argon2.maxConcurrent, 6);
    assert.ok(config.ttl.authorizationCode <= 60, 'authorization codes live at most 60 s by default');
  });

  test('the issuer follows PORT and loses a trailing slash', () => {
    assert.equal(loadConfig({ PORT: '8080' }).issuer, 'http://localhost:8080');
    assert.equal(loadConfig({ ISSUER: 'https://id.example.com/' }).issuer, 'https://id.example.com');
    assert.equal(loadConfig({ DATA_DIR: 'some/where' }).dataDir, path.resolve('some/where'));
  });

  test('without DATABASE_URL the embedded database (PGlite) is opened in DATA_DIR', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-config-'));
    tempDirs.push(dataDir);
    const config = loadConfig({ DATA_DIR: dataDir });
    assert.equal(config.databaseUrl, undefined);
    const db = await openDatabase(config);
    try {
      assert.equal(db.kind, 'pglite');
      const { rows } = await db.sql.query<{ one: number }>('SELECT 1 AS one');
      assert.equal(rows[0]!.one, 1);
    } finally {
      await db.close();
    }
  });

  test('a postgres:// DATABASE_URL is taken as is', () => {
    const url = 'postgres://latchkey:secret@db.internal:5432/latchkey';
    assert.equal(loadConfig({ DATABASE_URL: url }).databaseUrl, url);
    assert.equal(loadConfig({ DATABASE_URL: 'postgresql://db/latchkey' }).databaseUrl, 'postgresql://db/latchkey');
  });
});

describe('production refuses unsafe settings, with a one-line reason', () => {
  const refusals: Array<[string, Record<string, string>, RegExp]> = [
    ['an http issuer', { ...production, ISSUER: 'http://id.example.com' }, /ISSUER must be https/],
    ['the default (http://localhost) issuer', { NODE_ENV: 'production', COOKIE_KEYS: cookieKeys, ENCRYPTION_KEY: encryptionKey }, /ISSUER must be https/],
    ['missing COOKIE_KEYS', { ...production, COOKIE_KEYS: '' }, /COOKIE_KEYS/],
    ['missing ENCRYPTION_KEY', { ...production, ENCRYPTION_KEY: '' }, /ENCRYPTION_KEY/],
    // Password reset is on by default and sends e-mail: the outbox in DATA_DIR is for laptops only.
    ['no SMTP_URL with password reset on', { ...production, SMTP_URL: '' }, /SMTP_URL is not set, and PASSWORD_RESET=on sends e-mail/],
    ['no SMTP_URL with open sign-up', { ...production, SMTP_URL: '', SIGNUP: 'open', PASSWORD_RESET: 'off' }, /SMTP_URL is not set, and SIGNUP=open sends e-mail/],
    ['no SMTP_URL with sign-up by invitation', { ...production, SMTP_URL: '', SIGNUP: 'invite', PASSWORD_RESET: 'off' }, /SIGNUP=invite/],
  ];
  for (const [what, env, reason] of refusals) {
    test(what, () => {
      const env2 = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
      const message = configError(() => loadConfig(env2));
      assert.match(message, reason);
      assert.match(message, /^refusing to start in production: /);
      assert.ok(!message.includes('\n'), `reason must fit on one line: ${JSON.stringify(message)}`);
      // The same settings are fine outside production.
      assert.doesNotThrow(() => loadConfig({ ...env2, NODE_ENV: 'development' }));
    });
  }

  test('a complete https configuration is accepted', () => {
    const config = loadConfig({ ...production, DATABASE_URL: 'postgres://latchkey@db:5432/latchkey', TRUST_PROXY: 'true' });
    assert.equal(config.production, true);
    assert.equal(config.issuer, 'https://id.example.com');
    assert.deepEqual(config.encryptionKey, Buffer.from(encryptionKey, 'base64'));
    assert.equal(config.encryptionKey!.length, 32);
    assert.deepEqual(config.cookieKeys, cookieKeys.split(','));
    assert.equal(config.trustProxyHops, 1);
    assert.equal(loadConfig({ ...production, DATABASE_URL: 'postgres://latchkey@db:5432/latchkey', TRUST_PROXY: '2' }).trustProxyHops, 2);
    assert.doesNotThrow(() => assertSafeForProduction(config));
  });

  test('without SMTP_URL, production starts only with sign-up closed and password reset off', () => {
    const { SMTP_URL: _, ...withoutSmtp } = production;
    const config = loadConfig({ ...withoutSmtp, SIGNUP: 'closed', PASSWORD_RESET: 'off' });
    assert.equal(config.mail.smtpUrl, undefined);
    assert.equal(config.passwordReset, false);
  });

  test('SMTP_URL must be smtp:// or smtps://, MAIL_FROM defaults to no-reply at the issuer host', () => {
    assert.match(configError(() => loadConfig({ SMTP_URL: 'http://mail.example.com' })), /SMTP_URL must be an smtp:\/\/ or smtps:\/\/ URL/);
    const config = loadConfig({ ...production });
    assert.equal(config.mail.from, 'Latchkey <no-reply@id.example.com>');
    assert.equal(config.signup, 'closed');
    assert.equal(config.passwordReset, true);
  });

  test('a hex ENCRYPTION_KEY works as well as base64', () => {
    const hex = randomBytes(32).toString('hex');
    assert.deepEqual(loadConfig({ ...production, ENCRYPTION_KEY: hex }).encryptionKey, Buffer.from(hex, 'hex'));
  });

  test('`latchkey serve` with an http issuer in production exits 2 with that one line, before listening', () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-config-'));
    tempDirs.push(dataDir);
    const result = spawnSync(process.execPath, ['src/cli/bin.js', 'serve'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...production, ISSUER: 'http://id.example.com', PORT: '0', DATA_DIR: dataDir },
    });
    assert.equal(result.status, 2, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
    assert.match(lines[0]!, /refusing to start in production: ISSUER must be https/);
  });
});

describe('malformed values are rejected', () => {
  const rejections: Array<[string, Record<string, string>, RegExp]> = [
    ['a DATABASE_URL that is not postgres://', { DATABASE_URL: 'mysql://root@localhost/latchkey' }, /DATABASE_URL/],
    ['a DATABASE_URL that is not a URL', { DATABASE_URL: 'latchkey.db' }, /DATABASE_URL/],
    ['an ENCRYPTION_KEY shorter than 32 bytes', { ENCRYPTION_KEY: randomBytes(16).toString('base64') }, /ENCRYPTION_KEY must be 32 bytes/],
    ['an ENCRYPTION_KEY longer than 32 bytes', { ENCRYPTION_KEY: randomBytes(48).toString('base64') }, /ENCRYPTION_KEY must be 32 bytes/],
    ['a short ENCRYPTION_KEY in hex', { ENCRYPTION_KEY: 'abcdef0123456789' }, /ENCRYPTION_KEY must be 32 bytes/],
    ['a COOKIE_KEYS entry shorter than 32 characters', { COOKIE_KEYS: `${'k'.repeat(40)},short` }, /COOKIE_KEYS/],
    ['a PORT that is not a number', { PORT: 'eighty' }, /PORT/],
    ['a PORT out of range', { PORT: '70000' }, /PORT/],
    ['an ISSUER that is not a URL', { ISSUER: 'id.example.com' }, /ISSUER/],
    ['an ISSUER with another scheme', { ISSUER: 'ftp://id.example.com' }, /ISSUER/],
    ['an ISSUER with a query', { ISSUER: 'https://id.example.com/?tenant=1' }, /ISSUER/],
    ['an unknown NODE_ENV', { NODE_ENV: 'staging' }, /NODE_ENV/],
    ['an unknown LOG_LEVEL', { LOG_LEVEL: 'verbose' }, /LOG_LEVEL/],
    ['argon2 memory below the OWASP minimum', { ARGON2_MEMORY_KIB: '4096' }, /ARGON2_MEMORY_KIB/],
    ['argon2 time cost below 2', { ARGON2_TIME_COST: '1' }, /ARGON2_TIME_COST/],
    ['a TTL of zero', { ACCESS_TOKEN_TTL: '0' }, /ACCESS_TOKEN_TTL/],
    ['a TRUST_PROXY that is neither a boolean nor a number of proxies', { TRUST_PROXY: 'maybe' }, /TRUST_PROXY/],
  ];
  for (const [what, env, reason] of rejections) {
    test(what, () => {
      const message = configError(() => loadConfig(env));
      assert.match(message, reason);
      assert.ok(!message.includes('\n'), `reason must fit on one line: ${JSON.stringify(message)}`);
    });
  }

  test('rejection messages do not echo the secret value', () => {
    const secret = randomBytes(16).toString('base64');
    const message = configError(() => loadConfig({ ENCRYPTION_KEY: secret }));
    assert.ok(!message.includes(secret));
    const dbMessage = configError(() => loadConfig({ DATABASE_URL: 'mysql://root:hunter2-db-password@db/latchkey' }));
    assert.ok(!dbMessage.includes('hunter2-db-password'));
    const shortCookie = 'tooshort-cookie-key';
    assert.ok(!configError(() => loadConfig({ COOKIE_KEYS: shortCookie })).includes(shortCookie));
  });
});
