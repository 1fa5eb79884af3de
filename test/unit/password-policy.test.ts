/**
 * The password policy (src/accounts/password-policy.ts, NIST SP 800-63B §3.1.1.2): length by
 * whether a second factor backs the password, the shipped list of common passwords, the
 * account's own address; no composition rules.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  isCommonPassword,
  minimumPasswordLength,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  PASSWORD_MIN_LENGTH_WITH_SECOND_FACTOR,
  passwordProblem,
} from '../../src/accounts/password-policy.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('length: 15 characters alone, 8 with a second factor, 256 at most', () => {
  test('the limits', () => {
    assert.equal(PASSWORD_MIN_LENGTH, 15);
    assert.equal(PASSWORD_MIN_LENGTH_WITH_SECOND_FACTOR, 8);
    assert.equal(minimumPasswordLength(false), 15);
    assert.equal(minimumPasswordLength(true), 8);
  });

  test('a 9-character password is refused alone and accepted with a second factor', () => {
    assert.match(passwordProblem('tulip bed')!, /at least 15 characters/);
    assert.equal(passwordProblem('tulip bed', { hasSecondFactor: true }), undefined);
    assert.match(passwordProblem('tulipbe', { hasSecondFactor: true })!, /at least 8 characters/);
  });

  test('length counts characters (code points of the NFKC form), not UTF-16 units or bytes', () => {
    // Seven emoji are 14 UTF-16 units: still 7 characters, too short even with a second factor.
    assert.match(passwordProblem('🦊🦊🦊🦊🦊🦊🦊', { hasSecondFactor: true })!, /at least 8/);
    assert.equal(passwordProblem('🦊🦊🦊🦊🦊🦊🦊🐻', { hasSecondFactor: true }), undefined);
    // "e" + combining acute is one character after NFKC ("é"): 8 of them make 8 characters.
    assert.equal(passwordProblem('e\u0301'.repeat(8), { hasSecondFactor: true }), undefined);
    assert.match(passwordProblem('e\u0301'.repeat(7), { hasSecondFactor: true })!, /at least 8/);
  });

  test('over 256 is refused, whatever the factors', () => {
    assert.match(passwordProblem('x'.repeat(PASSWORD_MAX_LENGTH + 1), { hasSecondFactor: true })!, /at most 256/);
    assert.equal(passwordProblem('x'.repeat(PASSWORD_MAX_LENGTH)), undefined);
  });
});

describe('common passwords', () => {
  const list = readFileSync(path.join(repoRoot, 'resources/common-passwords.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));

  test('the shipped list holds about ten thousand entries, lower-case, none shorter than 8 characters, no duplicates', () => {
    assert.ok(list.length >= 10_000 && list.length < 11_000, String(list.length));
    assert.equal(new Set(list).size, list.length);
    for (const entry of list) {
      assert.equal(entry, entry.toLowerCase());
      assert.ok([...entry].length >= 8, entry);
    }
  });

  test('refused in any letter case, with or without a second factor', () => {
    for (const password of ['password1', 'Password1', 'PASSWORD1', 'iloveyou1', 'qwertyuiop', 'baseball', 'trustno1']) {
      assert.ok(isCommonPassword(password), password);
      assert.match(passwordProblem(password, { hasSecondFactor: true })!, /common passwords/, password);
    }
    for (const password of ['passwordpassword', 'qwertyuiopasdfgh', '1234567890123456', 'iloveyouiloveyou']) {
      assert.match(passwordProblem(password)!, /common passwords/, password);
    }
  });

  test('an uncommon password of the same length passes', () => {
    assert.equal(passwordProblem('violet harbour', { hasSecondFactor: true }), undefined);
    assert.equal(passwordProblem('violet harbour lantern'), undefined);
  });
});

describe('no composition rules, and not the account address', () => {
  test('letters only, digits only, one case: all accepted when long and uncommon', () => {
    for (const password of ['all lowercase words here', 'ONLYUPPERCASEPASSWORD', '8254 1937 6620 4418', 'lange Passphrase mit Umlauten äöü']) {
      assert.equal(passwordProblem(password), undefined, password);
    }
  });

  test('the e-mail address, or its local part, is refused', () => {
    assert.match(passwordProblem('Jane.Doe.Example@example.com', { email: 'jane.doe.example@example.com' })!, /e-mail address/);
    assert.match(passwordProblem('jane.doe.example', { email: 'jane.doe.example@example.com', hasSecondFactor: true })!, /e-mail address/);
    assert.equal(passwordProblem('jane.doe.example', { email: 'someone.else@example.com', hasSecondFactor: true }), undefined);
  });
});
