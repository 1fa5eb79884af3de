/**
 * The pure rules of self-service (src/self-service/links.ts, and the libraries in src/accounts/):
 * the only return path a request can name, the shape of an e-mailed token, what the sign-in page
 * links to, and invitations refused while sign-up is closed (before anything is stored or sent).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/config.ts';
import { isTokenShaped } from '../../src/accounts/email-token-queries.ts';
import { inviteUser } from '../../src/accounts/invitations.ts';
import { returnUid, selfServiceLinks } from '../../src/self-service/links.ts';

test('a return path is an interaction uid and nothing else: no URL, path or odd character gets through', () => {
  assert.equal(returnUid('uvTCJkO2bEqfd8xhMbLsU'), 'uvTCJkO2bEqfd8xhMbLsU');
  for (const value of ['https://evil.example', '//evil.example', '../account', 'abc', 'a b c d e f g h', 'x'.repeat(65), 'abcdefgh\u0000', ['uvTCJkO2bEqfd8xhMbLsU'], undefined]) {
    assert.equal(returnUid(value), undefined, String(value));
  }
});

test('an e-mailed token is 43 base64url characters', () => {
  assert.equal(isTokenShaped('A'.repeat(43)), true);
  for (const value of ['A'.repeat(42), 'A'.repeat(44), `${'A'.repeat(42)}=`, `${'A'.repeat(42)}\u0000`, 42, null]) assert.equal(isTokenShaped(value), false);
});

test('the sign-in page links: Create account only with SIGNUP=open, Forgot password? unless PASSWORD_RESET=off', () => {
  assert.deepEqual(selfServiceLinks(loadConfig({})), { signupOpen: false, passwordReset: true });
  assert.deepEqual(selfServiceLinks(loadConfig({ SIGNUP: 'open' })), { signupOpen: true, passwordReset: true });
  assert.deepEqual(selfServiceLinks(loadConfig({ SIGNUP: 'invite', PASSWORD_RESET: 'off' })), { signupOpen: false, passwordReset: false });
});

test('latchkey user invite is refused while SIGNUP=closed, before touching the database or the mail', async () => {
  const untouchable = new Proxy({}, { get: () => assert.fail('nothing may be used') });
  await assert.rejects(
    inviteUser({ config: loadConfig({}), db: untouchable, passwords: untouchable, mailer: untouchable } as never, { email: 'a@example.com' }),
    (error: Error & { kind?: string }) => error.kind === 'invalid_input' && /SIGNUP=closed/.test(error.message),
  );
});
