import type Provider from 'oidc-provider';
import type { Services } from '../context.ts';
import { resolveCookieKeys, sharedSecret } from '../keys/shared-secrets.ts';
import { ensureSigningKeys, loadSigningJwks } from '../keys/signing-keys.ts';
import { PAIRWISE_SECRET_NAME } from './pairwise-subject.ts';
import { createProvider } from './provider.ts';

/** Everything the provider needs from storage, loaded once: keys (created on first start) and cookie keys. */
export async function buildProvider(services: Services): Promise<{ provider: Provider; cookieKeys: string[]; rebuild: () => Promise<Provider> }> {
  await ensureSigningKeys(services.db, services.encryptor);
  const cookieKeys = await resolveCookieKeys(services.config, services.db, services.encryptor);
  // DPoP nonces are HMACs under this secret; every instance must hold the same one.
  const dpopNonceSecret = await sharedSecret(services.db, services.encryptor, 'dpop-nonce');
  // Pairwise subjects are HMACs under this secret: the same on every instance, and never rotated (it would change every app's subjects).
  const pairwiseSecret = await sharedSecret(services.db, services.encryptor, PAIRWISE_SECRET_NAME);
  const rebuild = async () => createProvider(services, { jwks: await loadSigningJwks(services.db, services.encryptor), cookieKeys, dpopNonceSecret, pairwiseSecret });
  return { provider: await rebuild(), cookieKeys, rebuild };
}
