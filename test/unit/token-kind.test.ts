/**
 * The kit's rule for machine and user tokens (docs/protect-your-api.md): a token is a machine
 * (client_credentials) token exactly when its subject is its client — `sub` equal to
 * `client_id` in a JWT (RFC 9068 §2.2), no `sub` in an introspection answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeClaims, tokenKind } from '../../src/resource-server/verified-access-token.ts';

const CLIENT = 'Qm9vdHN0cmFwQ2xpZW50SWQ';
const USER = '6f1c1f8e-58a1-4c55-9d0a-2f4a3b7c9e10';

test('a JWT whose sub is its client_id is a machine token; its subject is the client', () => {
  const token = describeClaims({ sub: CLIENT, client_id: CLIENT, scope: 'notes:read', aud: 'https://notes.example.com/api', exp: 1 }, 'jwt');
  assert.equal(token.kind, 'machine');
  assert.equal(token.subject, CLIENT);
});

test('a token for a user (sub is not the client) is a user token; its subject is the user', () => {
  const token = describeClaims({ sub: USER, client_id: CLIENT, scope: 'notes:read', exp: 1 }, 'jwt');
  assert.equal(token.kind, 'user');
  assert.equal(token.subject, USER);
});

test('an introspection answer without sub is a machine token, with sub a user token', () => {
  assert.equal(tokenKind({ active: true, client_id: CLIENT }), 'machine');
  assert.equal(describeClaims({ active: true, client_id: CLIENT }, 'introspection').subject, CLIENT);
  assert.equal(tokenKind({ active: true, client_id: CLIENT, sub: USER }), 'user');
});

test('a token naming no user is never a user token', () => {
  assert.equal(tokenKind({}), 'machine');
  assert.equal(tokenKind({ client_id: '' }), 'machine');
  assert.equal(tokenKind({ sub: USER }), 'user');
});
