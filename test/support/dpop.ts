/** Hand-made DPoP proofs (RFC 9449) for tests, so a test can reuse or bend one on purpose. */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { accessTokenHash } from '../../src/resource-server/dpop-proof.ts';

export interface DpopKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: Record<string, unknown>;
}

export async function newDpopKey(): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)) } };
}

export async function dpopProof(
  key: DpopKey,
  claims: { htm: string; htu: string; accessToken?: string; iat?: number; jti?: string },
): Promise<string> {
  return new SignJWT({
    htm: claims.htm,
    htu: claims.htu,
    jti: claims.jti ?? randomUUID(),
    ...(claims.accessToken ? { ath: accessTokenHash(claims.accessToken) } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
    .setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000))
    .sign(key.privateKey);
}
