import { createHash } from 'node:crypto';
import { invalidToken } from './access-token-error.ts';
import { discoverIssuer } from './issuer-metadata.ts';
import { describeClaims, type VerifiedAccessToken } from './verified-access-token.ts';

export interface IntrospectionOptions {
  /** The API's own introspection credentials (printed once by `latchkey api create`). */
  clientId: string;
  clientSecret: string;
  /** How long an active answer is reused, in seconds; default 5, at most 60. Revocation takes effect within this window. */
  cacheSeconds?: number;
  /** Upper bound on cached answers; default 10 000. */
  maxCacheEntries?: number;
}

const MAX_CACHE_SECONDS = 60;
const FETCH_TIMEOUT_MS = 5000;

interface CachedAnswer {
  claims: Record<string, unknown>;
  until: number;
}

/** Cached active answers per issuer+client, keyed by the token's SHA-256 (the token itself is never stored). */
const caches = new Map<string, Map<string, CachedAnswer>>();

function cacheFor(issuer: string, clientId: string): Map<string, CachedAnswer> {
  const key = `${issuer} ${clientId}`;
  let cache = caches.get(key);
  if (!cache) caches.set(key, (cache = new Map()));
  return cache;
}

/** RFC 6749 §2.3.1: client_secret_basic form-encodes id and secret before base64. */
const basicAuthorization = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function askIssuer(issuer: string, token: string, options: IntrospectionOptions): Promise<Record<string, unknown>> {
  let endpoint: string | undefined;
  try {
    endpoint = (await discoverIssuer(issuer)).introspection_endpoint;
  } catch {
    throw invalidToken('the access token cannot be checked right now');
  }
  if (!endpoint) throw invalidToken('the issuer offers no token introspection');
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: basicAuthorization(options.clientId, options.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch {
    throw invalidToken('the access token cannot be checked right now');
  }
  if (!response.ok) throw invalidToken('the access token cannot be checked right now');
  return (await response.json()) as Record<string, unknown>;
}

/**
 * Checks a token with the issuer's RFC 7662 introspection endpoint, authenticating as this
 * API. Active answers are cached for at most `cacheSeconds` (and never past the token's
 * exp); inactive answers are not cached. Also checks iss, aud and exp of the answer.
 */
export async function introspectAccessToken(
  token: string,
  context: { issuer: string; audience: string | readonly string[]; clockToleranceSeconds?: number },
  options: IntrospectionOptions,
): Promise<VerifiedAccessToken> {
  const cache = cacheFor(context.issuer, options.clientId);
  const key = createHash('sha256').update(token).digest('base64url');
  const now = Date.now();
  let claims = cache.get(key);
  if (claims && claims.until <= now) {
    cache.delete(key);
    claims = undefined;
  }
  let answer = claims?.claims;
  if (!answer) {
    answer = await askIssuer(context.issuer, token, options);
    if (answer.active !== true) throw invalidToken('the access token is not active');
    const seconds = Math.min(Math.max(options.cacheSeconds ?? 5, 0), MAX_CACHE_SECONDS);
    const exp = typeof answer.exp === 'number' ? answer.exp * 1000 : now;
    const until = Math.min(now + seconds * 1000, exp);
    if (until > now) {
      const max = options.maxCacheEntries ?? 10_000;
      while (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(key, { claims: answer, until });
    }
  }
  const verified = describeClaims(answer, 'introspection');
  if (answer.iss !== undefined && answer.iss !== context.issuer) throw invalidToken('the access token was not issued by the expected issuer');
  const audiences = typeof context.audience === 'string' ? [context.audience] : context.audience;
  if (!verified.audience.some((a) => audiences.includes(a))) throw invalidToken('the access token is not meant for this API');
  const tolerance = context.clockToleranceSeconds ?? 5;
  if (verified.expiresAt && verified.expiresAt + tolerance < Math.floor(now / 1000)) throw invalidToken('the access token has expired');
  return verified;
}
