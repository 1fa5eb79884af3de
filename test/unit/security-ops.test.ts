import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPath } from '../../src/http/canonical-path.ts';
import { RouteTable } from '../../src/http/route-table.ts';
import { closedLabel } from '../../src/observability/metrics.ts';
import { PROVIDER_ROUTES } from '../../src/oidc/provider-routes.ts';
import { parseSince, sanitizeDetails } from '../../src/security/audit-log.ts';
import { keyOf } from '../../src/security/rate-limits.ts';
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

const table = new RouteTable([
  ...PROVIDER_ROUTES,
  { method: 'GET', path: '/interaction/:uid' },
  { method: 'POST', path: '/interaction/:uid/login' },
  { method: 'POST', path: '/interaction/:uid/mfa/totp' },
  { method: 'GET', path: '/healthz' },
]);

test('route labels are the matched pattern or "other", never the raw path', () => {
  assert.equal(table.patternOf('/token'), '/token');
  assert.equal(table.patternOf('/interaction/abc123/login'), '/interaction/:uid/login');
  assert.equal(table.patternOf('/interaction/abc/mfa/totp'), '/interaction/:uid/mfa/totp');
  assert.equal(table.patternOf('/auth/xyz'), '/auth/:uid');
  assert.equal(table.patternOf('/interaction/x/0.123456'), undefined);
  assert.equal(table.patternOf('/TOKEN'), undefined);
  assert.equal(table.patternOf('/token/'), undefined);
  assert.equal(table.patternOf('/some/random/path'), undefined);
  assert.equal(closedLabel('client_credentials', new Set(['client_credentials'])), 'client_credentials');
  assert.equal(closedLabel('x'.repeat(50), new Set(['client_credentials'])), 'other');
});

test('one spelling per route: case, trailing slash, double slash, escapes and dot segments are refused', () => {
  const literals = table.literalSegments;
  for (const ok of ['/', '/token', '/interaction/AbC-123_x/login', '/reg/Some%20Client', '/auth/Q1w2E3']) {
    assert.deepEqual(checkPath(ok, literals), { canonical: true }, ok);
  }
  for (const bad of ['/TOKEN', '/Token', '/token/', '//token', '/token//introspection', '/%74oken', '/tok%65n', '/interaction/x/LOGIN',
    '/interaction/x/login/', '/interaction/x/%6Cogin', '/interaction/x/./login', '/interaction/x/../x/login', '/reg/a%2Fb', '/interaction/x/MFA/totp']) {
    assert.equal(checkPath(bad, literals).canonical, false, bad);
  }
});

test('limiter keys drop NUL and control characters', () => {
  assert.equal(keyOf('a\u0000b\n'), 'ab');
  assert.equal(keyOf('\u0000'), undefined);
  assert.equal(keyOf('\ud800x'), '\ufffdx');
});
