import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Context, Middleware } from 'koa';
import { sendError } from './error-handler.ts';

/**
 * The first thing every request meets after the error handler: input no route can mean is
 * refused here with a 4xx, before any guard, router, oidc-provider or the database sees it.
 *
 * - path and query: each percent-decoded segment, name and value must be valid UTF-8 (no
 *   broken `%` escapes) without control characters (NUL above all: PostgreSQL's `text` and
 *   `jsonb` cannot hold it, so a NUL that reached a query was a 500);
 * - form and JSON bodies (up to MAX_BODY_BYTES; larger is 413): the same for every field name
 *   and value, line breaks and tabs allowed (text areas), lone surrogates refused (`"\ud800"`
 *   in JSON). The body is read once, here, and handed on: to our own readers (form-body.ts,
 *   json-body.ts) and, replayed as a fresh stream, to oidc-provider — so /token, /request and
 *   /reg are covered too, whatever the endpoint later does with the value.
 *
 * Refusals are `invalid_request` (RFC 6749 §5.2): JSON for API clients, the error page for
 * browsers (sendError).
 */
export const MAX_BODY_BYTES = 64 * 1024;

const BODY = Symbol('edge-input.body');

/** Control characters: none at all in a URL; in a body, tab and line breaks are text. */
const CONTROL_IN_URL = /[\u0000-\u001F\u007F]/;
const CONTROL_IN_BODY = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a decoded value cannot be accepted, or undefined when it can. Pure. */
export function problemWithText(text: string, where: 'url' | 'body'): string | undefined {
  if ((where === 'url' ? CONTROL_IN_URL : CONTROL_IN_BODY).test(text)) return 'contains a control character';
  if (LONE_SURROGATE.test(text)) return 'is not valid Unicode';
  return undefined;
}

/** Strict percent-decoding: undefined for a broken escape or bytes that are not UTF-8. */
export function decodeStrictly(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** Name/value pairs of a query string or urlencoded body, each decoded strictly (`+` is a space). */
function* formPairs(encoded: string): Generator<[name: string, value: string]> {
  for (const part of encoded.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    yield eq === -1 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
  }
}

/**
 * Nothing to decode and nothing to refuse: no escape and no control character. The common case
 * (token requests, most query strings) costs one scan. A lone surrogate cannot appear in text
 * that came off the wire without an escape (the body was decoded with `fatal: true`).
 */
const NEEDS_CHECK = /[%\u0000-\u001F\u007F]/;

/** Why a urlencoded text (query string or form body) is refused, naming the field. Pure. */
export function problemWithFormText(encoded: string, where: 'url' | 'body'): string | undefined {
  if (!NEEDS_CHECK.test(encoded)) return undefined;
  for (const [rawName, rawValue] of formPairs(encoded)) {
    const name = decodeStrictly(rawName.replaceAll('+', ' '));
    if (name === undefined) return 'a parameter name has invalid percent-encoding';
    const nameProblem = problemWithText(name, where);
    if (nameProblem) return `a parameter name ${nameProblem}`;
    const value = decodeStrictly(rawValue.replaceAll('+', ' '));
    const label = /^[\w.:-]{1,64}$/.test(name) ? `"${name}"` : 'a parameter';
    if (value === undefined) return `${label} has invalid percent-encoding`;
    const valueProblem = problemWithText(value, where);
    if (valueProblem) return `${label} ${valueProblem}`;
  }
  return undefined;
}

/** Why a URL path is refused: a segment that does not decode, or decodes to a control character. Pure. */
export function problemWithPath(path: string): string | undefined {
  if (!NEEDS_CHECK.test(path)) return undefined;
  for (const segment of path.split('/')) {
    const decoded = decodeStrictly(segment);
    if (decoded === undefined) return 'the path has invalid percent-encoding';
    const problem = problemWithText(decoded, 'url');
    if (problem) return `the path ${problem}`;
  }
  return undefined;
}

/**
 * Why a JSON body is refused: a string or member name with a NUL, another control character
 * or a lone surrogate, however deep. Text that is not JSON is left to the endpoint, which
 * answers it in its own words. Pure.
 */
export function problemWithJsonText(text: string): string | undefined {
  let problem: string | undefined;
  try {
    JSON.parse(text, (key, value) => {
      if (problem) return value;
      if (problemWithText(key, 'body')) problem = 'a member name';
      else if (typeof value === 'string' && problemWithText(value, 'body')) problem = /^[\w.:-]{1,64}$/.test(key) ? `"${key}"` : 'a value';
      return value;
    });
  } catch {
    return undefined;
  }
  return problem && `${problem} contains a control character or invalid Unicode`;
}

/** What the edge read of the request body, for our own readers (form-body.ts, json-body.ts). */
export function bufferedBody(ctx: Context): Buffer | undefined {
  return (ctx.state as Record<symbol, Buffer | undefined>)[BODY];
}

/**
 * Makes the consumed request stream readable again, from the start, for every later reader
 * (oidc-provider's selective_body.js reads `req.iterator()`; so does the token guard): each gets
 * the same bytes, with the request's own length and charset still true.
 */
function replayBody(req: IncomingMessage, body: Buffer): void {
  const fresh = () => Readable.from([body]);
  Object.defineProperty(req, 'readable', { get: () => true, configurable: true });
  Object.defineProperty(req, 'iterator', { value: (options?: { destroyOnReturn?: boolean }) => fresh().iterator(options), configurable: true });
  Object.defineProperty(req, Symbol.asyncIterator, { value: () => fresh()[Symbol.asyncIterator](), configurable: true });
}

class BodyTooLarge extends Error {}

/**
 * A refused body is still read (and thrown away) up to this much, so the client, still
 * sending, receives the 413 instead of a broken pipe; past it the connection is closed.
 */
const DISCARD_BYTES = 1024 * 1024;

/** Reads and drops the rest of a body: true when it ended within `limit` bytes. */
async function discardRest(req: IncomingMessage, limit: number): Promise<boolean> {
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) return false;
  }
  return true;
}

/**
 * Reads the whole body, refusing more than `limit` bytes (with `tooLarge()`) without destroying
 * the socket under the request. Also the fallback of form-body.ts and json-body.ts when the
 * edge is not installed.
 */
export async function readAll(ctx: Context, limit: number, tooLarge: () => Error = () => new BodyTooLarge()): Promise<Buffer> {
  if ((ctx.request.length ?? 0) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  // destroyOnReturn: false — stopping early must not destroy the request (and with it the
  // socket, which later middleware still reads, e.g. ctx.ip): the response says Connection: close.
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

function decodeBody(body: Buffer, charset: string | undefined): string | undefined {
  try {
    return new TextDecoder(charset || 'utf-8', { fatal: true }).decode(body);
  } catch {
    return undefined;
  }
}

export function edgeInput(): Middleware {
  return async (ctx, next) => {
    const refuse = (status: number, message: string) => {
      sendError(ctx, status, 'invalid_request', message);
    };
    const urlProblem = problemWithPath(ctx.path) ?? problemWithFormText(ctx.querystring, 'url');
    if (urlProblem) return refuse(400, `The request was refused: ${urlProblem}.`);

    const kind = ctx.is('application/x-www-form-urlencoded', 'application/json');
    if (kind) {
      let body: Buffer;
      try {
        body = await readAll(ctx, MAX_BODY_BYTES);
      } catch (error) {
        if (!(error instanceof BodyTooLarge)) throw error;
        const declared = ctx.request.length;
        const drained = (declared === undefined || declared <= DISCARD_BYTES) && (await discardRest(ctx.req, DISCARD_BYTES));
        // What is left unread would be taken for the next request: the connection cannot be reused.
        if (!drained) ctx.set('Connection', 'close');
        return refuse(413, 'The request was too large.');
      }
      const text = decodeBody(body, ctx.request.charset);
      if (text === undefined) return refuse(400, 'The request was refused: the body is not valid text in its character set.');
      const bodyProblem = kind === 'application/json' ? problemWithJsonText(text) : problemWithFormText(text, 'body');
      if (bodyProblem) return refuse(400, `The request was refused: ${bodyProblem}.`);
      // Our readers get the text as UTF-8, whatever the charset it came in.
      const utf8 = !ctx.request.charset || /^utf-?8$/i.test(ctx.request.charset);
      (ctx.state as Record<symbol, Buffer>)[BODY] = utf8 ? body : Buffer.from(text, 'utf8');
      replayBody(ctx.req, body);
    }
    await next();
  };
}
