import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { answerFor, ConflictError, ERROR_KINDS, errorOfKind, InputError, LatchkeyError, NotFoundError } from '../../src/errors.ts';

test('each kind of the closed error set keeps its meaning on every surface', () => {
  assert.deepEqual(answerFor(new InputError('email: not an e-mail address', 'email')), { kind: 'invalid_input', message: 'email: not an e-mail address', field: 'email' });
  assert.equal(answerFor(new NotFoundError('no such client')).kind, 'not_found');
  assert.equal(answerFor(new ConflictError('in use')).kind, 'conflict');
  assert.equal(ERROR_KINDS.invalid_input.status, 400);
  assert.equal(ERROR_KINDS.not_found.status, 404);
  assert.equal(ERROR_KINDS.internal.exitCode, 1);
  assert.equal(ERROR_KINDS.invalid_input.exitCode, 2);
});

test('a zod failure is bad input naming the field', () => {
  const result = z.object({ limit: z.coerce.number().int() }).safeParse({ limit: 'abc' });
  assert.equal(result.success, false);
  const answer = answerFor(result.error);
  assert.equal(answer.kind, 'invalid_input');
  assert.equal(answer.field, 'limit');
  assert.match(answer.message, /^limit: /);
});

test('an unexpected error is internal and its message is not shown', () => {
  const answer = answerFor(new TypeError('Cannot read properties of undefined (reading "secret")'));
  assert.equal(answer.kind, 'internal');
  assert.doesNotMatch(answer.message, /secret|undefined/);
  // Koa's ctx.throw(400) keeps its meaning; a thrown 500 with expose does not leak
  assert.equal(answerFor(Object.assign(new Error('bad'), { status: 400, expose: true })).kind, 'invalid_input');
  assert.equal(answerFor(Object.assign(new Error('boom'), { status: 500, expose: false })).kind, 'internal');
});

test('an error rebuilt after the control socket keeps its kind; an unknown kind is internal', () => {
  const rebuilt = errorOfKind('not_found', 'no client with id x');
  assert.ok(rebuilt instanceof LatchkeyError);
  assert.equal(rebuilt.kind, 'not_found');
  assert.equal(errorOfKind('nonsense', 'x').kind, 'internal');
  assert.equal(errorOfKind(undefined, 'x').kind, 'internal');
});
