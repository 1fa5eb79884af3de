import { z } from 'zod';

/**
 * The closed set of errors Latchkey's own code raises (as oidc-provider's lib/helpers/errors.js
 * does for OAuth). Each kind has one meaning; each surface translates it once:
 *   - JSON APIs and pages: `http/error-handler.ts` (status + `error`/`error_description`, or the error page)
 *   - CLI: `cli/commands.ts` (exit code + message)
 *   - control socket: `admin/control-socket.ts` (the kind travels, the CLI rebuilds the error)
 * Anything that is not a LatchkeyError (nor a zod validation error, which is bad input) is a bug
 * on our side: `internal`, logged, and answered without detail.
 */
export const ERROR_KINDS = {
  /** what the caller sent is malformed or not allowed; the message says which field and why */
  invalid_input: { status: 400, exitCode: 2, code: 'invalid_request' },
  /** the caller did not prove who they are (missing or wrong credentials) */
  unauthenticated: { status: 401, exitCode: 1, code: 'invalid_token' },
  /** the caller is known but may not do this */
  forbidden: { status: 403, exitCode: 1, code: 'access_denied' },
  /** the thing named does not exist (or the caller may not know it does) */
  not_found: { status: 404, exitCode: 2, code: 'not_found' },
  /** the request is well-formed but clashes with the current state (a duplicate, a thing in use) */
  conflict: { status: 409, exitCode: 2, code: 'conflict' },
  /** too many attempts; try again later */
  too_many_requests: { status: 429, exitCode: 1, code: 'too_many_requests' },
  /** a dependency (database, mail server) is not available right now */
  unavailable: { status: 503, exitCode: 1, code: 'temporarily_unavailable' },
  /** a bug or an unexpected failure on our side; never shown in detail */
  internal: { status: 500, exitCode: 1, code: 'server_error' },
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

export class LatchkeyError extends Error {
  override name = 'LatchkeyError';
  readonly kind: ErrorKind;
  /** the input field at fault, when there is one (`email`, `scopes.0.name`) */
  readonly field?: string;

  constructor(kind: ErrorKind, message: string, field?: string) {
    super(message);
    this.kind = kind;
    this.field = field;
  }
}

/** A problem with what the caller asked for: shown as is, exit code 2 in the CLI, 400 over HTTP. */
export class InputError extends LatchkeyError {
  constructor(message: string, field?: string) {
    super('invalid_input', message, field);
  }
}

/** The thing asked for does not exist. */
export class NotFoundError extends LatchkeyError {
  constructor(message: string) {
    super('not_found', message);
  }
}

/** The request clashes with the current state (already exists, still in use). */
export class ConflictError extends LatchkeyError {
  constructor(message: string) {
    super('conflict', message);
  }
}

/** The caller may not do this. */
export class ForbiddenError extends LatchkeyError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

/** What every surface needs to answer an error: its kind, and a message safe to show. */
export interface ErrorAnswer {
  kind: ErrorKind;
  message: string;
  field?: string;
}

/** Zod's first issue, named by its field: "email: Invalid email address". */
export function describeZodError(error: z.ZodError): { message: string; field?: string } {
  const issue = error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : undefined;
  const text = issue?.message ?? 'invalid input';
  return { message: field ? `${field}: ${text}` : text, field };
}

/**
 * Sorts any thrown value into the closed set. `status`/`expose` errors from Koa (ctx.throw,
 * http-errors) keep their 4xx meaning; anything else is internal and its message is not shown.
 */
export function answerFor(error: unknown): ErrorAnswer {
  if (error instanceof LatchkeyError) return { kind: error.kind, message: error.message, field: error.field };
  if (error instanceof z.ZodError) return { kind: 'invalid_input', ...describeZodError(error) };
  const { status, expose, message } = (error ?? {}) as { status?: number; expose?: boolean; message?: string };
  if (expose && status && status >= 400 && status < 500) {
    const kind = (Object.keys(ERROR_KINDS) as ErrorKind[]).find((k) => ERROR_KINDS[k].status === status) ?? 'invalid_input';
    return { kind, message: message || 'The request was invalid.' };
  }
  return { kind: 'internal', message: 'Something went wrong on our side. Please try again.' };
}

/** Rebuilds an error that crossed a process boundary (the control socket) from its kind. */
export function errorOfKind(kind: unknown, message: string, field?: string): LatchkeyError {
  const known = typeof kind === 'string' && kind in ERROR_KINDS ? (kind as ErrorKind) : 'internal';
  return new LatchkeyError(known, message, field);
}
