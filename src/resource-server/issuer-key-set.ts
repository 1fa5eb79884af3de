import { createRemoteJWKSet } from 'jose';
import { discoverIssuer } from './issuer-metadata.ts';

export type KeySet = ReturnType<typeof createRemoteJWKSet>;

/**
 * How long after a JWKS fetch a token naming an unknown `kid` may make the kit fetch it again.
 * jose refetches on an unknown `kid`, but not more often than this, so a flood of made-up kids
 * cannot hammer the issuer; a key rotated in is trusted once the kit has refetched, which is
 * why Latchkey publishes new keys KEY_PUBLISH_DELAY_SECONDS (at least 30 in production) before
 * they sign.
 */
export const DEFAULT_JWKS_COOLDOWN_SECONDS = 30;
/** The whole key set is refetched at least this often, whatever the tokens name. */
const CACHE_MAX_AGE_SECONDS = 600;

/** A TypeError (a mistake in the API's options, not a refused token) for a cooldown outside 1 s .. the cache's age. */
export function assertJwksCooldown(seconds: number): number {
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > CACHE_MAX_AGE_SECONDS) {
    throw new TypeError(`jwksCooldownSeconds must be 1 to ${CACHE_MAX_AGE_SECONDS} seconds, not ${seconds}`);
  }
  return seconds;
}

/** One remote JWKS per (jwks_uri, cooldown), shared by every verifier in the process. */
const keySets = new Map<string, KeySet>();

export async function keySetForIssuer(issuer: string, cooldownSeconds = DEFAULT_JWKS_COOLDOWN_SECONDS): Promise<KeySet> {
  const { jwks_uri } = await discoverIssuer(issuer);
  const cacheKey = `${cooldownSeconds} ${jwks_uri}`;
  let keySet = keySets.get(cacheKey);
  if (!keySet) {
    keySet = createRemoteJWKSet(new URL(jwks_uri), { cooldownDuration: cooldownSeconds * 1000, cacheMaxAge: CACHE_MAX_AGE_SECONDS * 1000, timeoutDuration: 5000 });
    keySets.set(cacheKey, keySet);
  }
  return keySet;
}
