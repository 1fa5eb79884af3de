import { createRemoteJWKSet } from 'jose';
import { discoverIssuer } from './issuer-metadata.ts';

export type KeySet = ReturnType<typeof createRemoteJWKSet>;

/**
 * The issuer's signing keys, one remote JWKS per jwks_uri shared by every verifier in the
 * process. jose refetches when a token names an unknown `kid`, but not more often than the
 * cooldown, so a flood of made-up kids cannot hammer the issuer.
 */
const KEY_SET_OPTIONS = { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5000 };

const keySets = new Map<string, KeySet>();

export async function keySetForIssuer(issuer: string): Promise<KeySet> {
  const { jwks_uri } = await discoverIssuer(issuer);
  let keySet = keySets.get(jwks_uri);
  if (!keySet) {
    keySet = createRemoteJWKSet(new URL(jwks_uri), KEY_SET_OPTIONS);
    keySets.set(jwks_uri, keySet);
  }
  return keySet;
}
