import type { Services } from '../context.ts';
import { CLOCK_TOLERANCE } from '../oidc/provider.ts';
import { rotateSigningKeys, type RotationResult } from './signing-keys.ts';

/**
 * `latchkey keys rotate` and the console's "Rotate keys", one rule: the old keys stay published
 * for the longest token lifetime (at least a day) plus the clock tolerance; the new keys sign
 * after KEY_PUBLISH_DELAY_SECONDS, or at once (`immediately`: a compromised key).
 */
export function rotateServerSigningKeys(services: Pick<Services, 'db' | 'encryptor' | 'config'>, immediately: boolean): Promise<RotationResult> {
  const { config } = services;
  return rotateSigningKeys(
    services.db,
    services.encryptor,
    Math.max(config.ttl.accessToken, config.ttl.idToken, 86400) + CLOCK_TOLERANCE,
    immediately ? 0 : config.keyPublishDelaySeconds,
  );
}
