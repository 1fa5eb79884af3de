import { Readable } from 'node:stream';
import { decodeProtectedHeader } from 'jose';
import type { Context, Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { bufferedBody } from '../http/edge-input.ts';
import { PROVIDER_PATHS } from './provider-routes.ts';

/**
 * Stands in for the JWT while oidc-provider handles the request: not JWT-shaped, and no token's
 * value (stored keys are hashes of random values), so the provider answers `{ active: false }`
 * after the same lookups an opaque token costs.
 */
const STAND_IN = 'latchkey-jwt-introspected-separately';

/** Starts checking a token (before the caller is known); resolves to the answer for a caller. */
type AnswerFor = (token: string) => Promise<(caller: { clientId: string }) => Promise<Record<string, unknown>>>;

/**
 * RFC 7662 introspection of JWT access tokens, for provider.use(). oidc-provider refuses any
 * JWT-shaped `token` at its introspection endpoint with 400 unsupported_token_type
 * (lib/shared/reject_structured_tokens.js) and has no hook between client authentication and
 * that refusal; answering after the refusal would report every gateway's introspection as a
 * failure (the `introspection.error` event feeds the audit log). So:
 *
 * 1. before the provider, a JWT-shaped `token` in the form body is set aside and a stand-in
 *    takes its place;
 * 2. the provider handles the request as any other introspection: client authentication by
 *    every method the client may use, its failure events (which the lock-outs count), CORS,
 *    `Cache-Control: no-store`; for the stand-in it answers `{ active: false }`;
 * 3. after it, and only when it answered 200 to an authenticated client, the answer for the
 *    JWT replaces that body (src/oidc/jwt-introspection-answer.ts; its signature check and
 *    revocation query run meanwhile, so the JWT costs about what an opaque token does).
 * Any failure along the way leaves the provider's own answer: inactive, or its error.
 */
export function introspectJwtAccessTokens(answerFor: AnswerFor): Middleware {
  return async function jwtIntrospection(ctx, next) {
    if (ctx.method !== 'POST' || ctx.path !== PROVIDER_PATHS.introspection) return next();
    const jwt = takeJwtFromBody(ctx);
    const answering = jwt ? answerFor(jwt) : undefined;
    answering?.catch(() => {}); // awaited below unless the provider refused the caller
    await next();
    if (!answering) return;
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    if (ctx.status !== 200 || oidc?.route !== 'introspection' || !oidc.client || (ctx.body as { active?: unknown } | undefined)?.active !== false) return;
    ctx.body = await (await answering)({ clientId: oidc.client.clientId });
  };
}

/**
 * The body's `token` when it is a JWT, replaced by the stand-in in the body the provider will
 * read. The body is the one the edge read and checked (src/http/edge-input.ts), as UTF-8; a
 * body sent in another charset is left alone (and its JWT refused as before).
 */
function takeJwtFromBody(ctx: Context): string | undefined {
  const body = ctx.is('application/x-www-form-urlencoded') ? bufferedBody(ctx) : undefined;
  if (!body || !['', 'utf-8', 'utf8'].includes((ctx.request.charset ?? '').toLowerCase())) return undefined;
  const form = new URLSearchParams(body.toString('utf8'));
  const tokens = form.getAll('token');
  // Several tokens are the provider's to refuse (invalid_request), as they are for opaque ones.
  if (tokens.length !== 1 || !isJwtShaped(tokens[0]!)) return undefined;
  form.set('token', STAND_IN);
  replaceBody(ctx, Buffer.from(form.toString(), 'utf8'));
  return tokens[0];
}

/** The same test oidc-provider applies before refusing a token as structured. */
function isJwtShaped(token: string): boolean {
  try {
    return Boolean(decodeProtectedHeader(token));
  } catch {
    return false;
  }
}

/** Makes the request stream yield `body` instead (as the edge replays the one it read), with a matching Content-Length. */
function replaceBody(ctx: Context, body: Buffer): void {
  const fresh = () => Readable.from([body]);
  Object.defineProperty(ctx.req, 'readable', { get: () => true, configurable: true });
  Object.defineProperty(ctx.req, 'iterator', { value: (options?: { destroyOnReturn?: boolean }) => fresh().iterator(options), configurable: true });
  Object.defineProperty(ctx.req, Symbol.asyncIterator, { value: () => fresh()[Symbol.asyncIterator](), configurable: true });
  ctx.req.headers['content-length'] = String(body.length);
}
