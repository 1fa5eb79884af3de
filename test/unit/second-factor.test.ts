import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generate, generateSecret } from 'otplib';
import {
  describeWait, mustHaveSecondFactor, normalizeRecoveryCode, normalizeTotpCode, requestsMfa, ACR_MFA, RECOVERY_ALPHABET,
} from '../../src/accounts/second-factor-policy.ts';
import { checkTotpCode } from '../../src/accounts/totp.ts';
import { lockSeconds } from '../../src/security/second-factor-lockout.ts';

test('TOTP: ±1 step accepted, ±2 refused, and a step at or before the last accepted one refused', async () => {
  const secret = generateSecret();
  const now = 1_800_000_015; // mid-step
  const at = (steps: number) => generate({ secret, epoch: now + steps * 30 });
  const step = Math.floor(now / 30);
  assert.equal(await checkTotpCode(secret, await at(0), undefined, now), step);
  assert.equal(await checkTotpCode(secret, await at(-1), undefined, now), step - 1);
  assert.equal(await checkTotpCode(secret, await at(1), undefined, now), step + 1);
  assert.equal(await checkTotpCode(secret, await at(-2), undefined, now), undefined);
  assert.equal(await checkTotpCode(secret, await at(2), undefined, now), undefined);
  assert.equal(await checkTotpCode(secret, await at(0), step, now), undefined, 'replay of the last accepted step');
  assert.equal(await checkTotpCode(secret, await at(1), step, now), step + 1);
  assert.equal(await checkTotpCode(secret, 'abcdef', undefined, now), undefined);
});

test('policy: MFA_REQUIRED roles, everyone, nobody', () => {
  assert.equal(mustHaveSecondFactor({ everyone: false, roles: ['admin', 'developer'] }, ['developer']), true);
  assert.equal(mustHaveSecondFactor({ everyone: false, roles: ['admin', 'developer'] }, []), false);
  assert.equal(mustHaveSecondFactor({ everyone: true, roles: [] }, []), true);
  assert.equal(mustHaveSecondFactor({ everyone: false, roles: [] }, ['admin']), false);
  assert.equal(requestsMfa(`foo ${ACR_MFA}`), true);
  assert.equal(requestsMfa(undefined), false);
});

test('lock durations grow and are capped; waits read well', () => {
  assert.equal(lockSeconds(0), 300);
  assert.equal(lockSeconds(1), 600);
  assert.ok(lockSeconds(3) > lockSeconds(2));
  assert.equal(lockSeconds(50), 24 * 3600);
  assert.equal(describeWait(300), '5 minutes');
  assert.equal(describeWait(3900), '1 hour 5 minutes');
  assert.equal(describeWait(1), '1 second');
});

test('codes as typed', () => {
  assert.equal(normalizeTotpCode(' 123 456 '), '123456');
  assert.equal(normalizeTotpCode('12345'), undefined);
  assert.equal(normalizeRecoveryCode('ABCDE-12345'), 'abcde12345');
  assert.equal(RECOVERY_ALPHABET.length, 32);
});
