import assert from 'node:assert/strict';
import { test } from 'node:test';
import { routeLabel } from '../../src/observability/metrics.ts';
import { parseSince, sanitizeDetails } from '../../src/security/audit-log.ts';
import { keyOf } from '../../src/security/security-operations.ts';
import { escalatedSeconds, parseDuration } from '../../src/security/suspensions.ts';

test('automatic suspensions double per repeat, capped', () => {
  assert.deepEqual([1, 2, 3, 4, 10].map((l) => escalatedSeconds(l, 60, 3600)), [60, 120, 240, 480, 3600]);
  assert.equal(escalatedSeconds(1000, 60, 3600), 3600);
});

test('durations and times', () => {
  assert.equal(parseDuration('90'), 90);
  assert.equal(parseDuration('15m'), 900);
  assert.equal(parseDuration('2h'), 7200);
  assert.equal(parseDuration('1d'), 86400);
  for (const bad of ['', '0', '-1', '1w', '1.5h', '9999999d']) assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(parseSince('2h', 10_000_000).getTime(), 10_000_000 - 7_200_000);
  assert.throws(() => parseSince('yesterday'));
});

test('audit details lose secret-named keys and token-shaped values', () => {
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl';
  const out = sanitizeDetails({
    grantType: 'authorization_code',
    client_secret: 's',
    password: 'p',
    refresh_token: 'r',
    accessToken: 'a',
    code: 'c',
    nested: { clientSecret: 'x', value: jwt, ok: 1 },
    list: ['fine', 'A'.repeat(64)],
  });
  assert.deepEqual(out, { grantType: 'authorization_code', nested: { value: '[redacted]', ok: 1 }, list: ['fine', '[redacted]'] });
});

test('route labels are bounded', () => {
  assert.equal(routeLabel('/token'), '/token');
  assert.equal(routeLabel('/interaction/abc123/login'), '/interaction/:uid/login');
  assert.equal(routeLabel('/auth/xyz'), '/auth/:uid');
  assert.equal(routeLabel('/some/random/path?x'), 'other');
});

test('limiter keys drop NUL and control characters', () => {
  assert.equal(keyOf('a\u0000b\n'), 'ab');
  assert.equal(keyOf('\u0000'), undefined);
  assert.equal(keyOf('\ud800x'), '\ufffdx');
});

test('second-factor steps get a bounded route label too', () => {
  assert.equal(routeLabel('/interaction/abc/mfa/totp'), '/interaction/:uid/mfa/totp');
});
