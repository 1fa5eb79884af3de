import type { Context } from 'koa';
import { bufferedBody, problemWithJsonText, readAll } from './edge-input.ts';
import { FormTooLargeError } from './form-body.ts';

/**
 * Reads a small JSON object body for Latchkey's own endpoints (WebAuthn, admin API; the provider
 * parses its own). Undefined when the body is not a JSON object; a 413 over `maxBytes` and a 400
 * for text no endpoint can store (NUL, lone surrogates — see edge-input.ts, which usually
 * refused it already).
 */
export const MAX_JSON_BYTES = 64 * 1024;

class BadJsonError extends Error {
  readonly expose = true;
  readonly status = 400;
}

export async function readJson(ctx: Context, maxBytes = MAX_JSON_BYTES): Promise<Record<string, unknown> | undefined> {
  if (!ctx.is('application/json')) return undefined;
  const body = bufferedBody(ctx) ?? (await readAll(ctx, maxBytes, () => new FormTooLargeError()));
  if (body.length > maxBytes) throw new FormTooLargeError();
  const text = body.toString('utf8');
  const problem = problemWithJsonText(text);
  if (problem) throw new BadJsonError(`The request was refused: ${problem}.`);
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
