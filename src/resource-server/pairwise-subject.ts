import { invalidToken } from './access-token-error.ts';
import { introspectAccessToken, type IntrospectionOptions } from './introspection.ts';
import type { VerifiedAccessToken } from './verified-access-token.ts';

/**
 * A third-party app's JWT access token carries the app's own pairwise subject (`sub`, with
 * `subject_type: "pairwise"`), which the app can read but which no other app sees. The API
 * learns the user behind it from token introspection, which tells the API (and only the API
 * the token was issued for) the user's id. The answer never changes for a given app and
 * subject, so it is asked once and remembered: after the first request of a user through an
 * app, that app's tokens cost no round trip.
 */
export const isPairwise = (claims: Readonly<Record<string, unknown>>) => claims.subject_type === 'pairwise';

const DEFAULT_MAX_ENTRIES = 10_000;
/** Per issuer and introspection client: `<client_id> <pairwise sub>` → the user's id. */
const resolved = new Map<string, Map<string, string>>();

export async function resolvePairwiseSubject(
  token: string,
  verified: VerifiedAccessToken,
  context: { issuer: string; audience: string | readonly string[]; clockToleranceSeconds?: number; introspection?: IntrospectionOptions },
): Promise<VerifiedAccessToken> {
  const pairwiseSub = verified.claims.sub;
  if (typeof pairwiseSub !== 'string' || !verified.clientId) throw invalidToken('the access token is invalid');
  // Without introspection credentials the user cannot be known; never hand the app's subject over as the user.
  if (!context.introspection) throw invalidToken("this API cannot resolve the user of a third-party app's token (no introspection credentials)");
  const cacheKey = `${context.issuer} ${context.introspection.clientId}`;
  let cache = resolved.get(cacheKey);
  if (!cache) resolved.set(cacheKey, (cache = new Map()));
  const key = `${verified.clientId} ${pairwiseSub}`;
  let subject = cache.get(key);
  if (subject === undefined) {
    const answer = await introspectAccessToken(token, context, context.introspection);
    if (answer.kind !== 'user' || typeof answer.subject !== 'string' || answer.clientId !== verified.clientId) throw invalidToken('the access token is invalid');
    subject = answer.subject;
    const max = context.introspection.maxCacheEntries ?? DEFAULT_MAX_ENTRIES;
    while (cache.size >= max) cache.delete(cache.keys().next().value as string);
    cache.set(key, subject);
  }
  return { ...verified, subject };
}

/** For tests: forget every resolved subject. */
export function clearPairwiseSubjectCache(): void {
  resolved.clear();
}
