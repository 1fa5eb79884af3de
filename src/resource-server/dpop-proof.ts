import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { invalidDpopProof } from './access-token-error.ts';
import { ASYMMETRIC_ALGORITHMS } from './algorithms.ts';
import type { ReplayCache } from './replay-cache.ts';

export interface DpopProofCheck {
  /** The DPoP request header value. */
  proof: string;
  /** The request's HTTP method. */
  method: string;
  /** The request's absolute URL as the client addressed it (query and fragment are ignored). */
  url: string;
  /** The access token the proof must be bound to (`ath`). */
  accessToken: string;
  /** The token's cnf.jkt: the proof key's thumbprint must equal it. */
  boundKeyThumbprint: string;
  algorithms: readonly string[];
  replayCache: ReplayCache;
  /** How old a proof may be, in seconds; default 60. */
  maxAgeSeconds?: number;
  clockToleranceSeconds?: number;
  nowSeconds?: number;
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/** RFC 9449 §4.3: `htu` is compared without query and fragment. */
export function normalizeHtu(url: string): string | undefined {
  const parsed = URL.parse(url);
  return parsed ? `${parsed.origin}${parsed.pathname}` : undefined;
}

export const accessTokenHash = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * Verifies a DPoP proof (RFC 9449 §4.3) for a request carrying a DPoP-bound access token.
 * Throws invalid_dpop_proof on any failure.
 */
export async function verifyDpopProof(check: DpopProofCheck): Promise<void> {
  const { proof } = check;
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(proof)) throw invalidDpopProof('the DPoP proof is malformed');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw invalidDpopProof('the DPoP proof is malformed');
  }
  if (header.typ !== 'dpop+jwt') throw invalidDpopProof('the DPoP proof must have typ dpop+jwt');
  const alg = header.alg;
  if (!alg || !ASYMMETRIC_ALGORITHMS.has(alg) || !check.algorithms.includes(alg)) throw invalidDpopProof('the DPoP proof algorithm is not accepted');
  const jwk = header.jwk as JWK | undefined;
  if (!jwk || typeof jwk !== 'object' || PRIVATE_JWK_MEMBERS.some((m) => m in jwk)) throw invalidDpopProof('the DPoP proof must embed a public key');

  let payload: Record<string, unknown>;
  try {
    const key = await importJWK(jwk, alg);
    ({ payload } = await jwtVerify(proof, key, { typ: 'dpop+jwt', algorithms: [alg] }));
  } catch {
    throw invalidDpopProof('the DPoP proof signature is invalid');
  }

  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw invalidDpopProof('the DPoP proof needs a jti');
  if (typeof payload.htm !== 'string' || payload.htm !== check.method.toUpperCase()) throw invalidDpopProof('the DPoP proof is for another HTTP method');
  if (typeof payload.htu !== 'string' || normalizeHtu(payload.htu) !== normalizeHtu(check.url)) throw invalidDpopProof('the DPoP proof is for another URL');

  const now = check.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = check.clockToleranceSeconds ?? 5;
  const maxAge = check.maxAgeSeconds ?? 60;
  if (typeof payload.iat !== 'number') throw invalidDpopProof('the DPoP proof needs an iat');
  if (payload.iat > now + tolerance) throw invalidDpopProof('the DPoP proof is issued in the future');
  if (payload.iat < now - maxAge - tolerance) throw invalidDpopProof('the DPoP proof is too old');

  if (payload.ath !== accessTokenHash(check.accessToken)) throw invalidDpopProof('the DPoP proof is not bound to this access token');
  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
  if (thumbprint !== check.boundKeyThumbprint) throw invalidDpopProof('the DPoP proof key is not the key the token is bound to');

  // Only a proof that passed every other check is recorded, so junk cannot fill the cache.
  const expiresAtMs = (payload.iat + maxAge + tolerance) * 1000;
  if (!check.replayCache.remember(`${thumbprint}:${payload.jti}`, expiresAtMs, now * 1000)) {
    throw invalidDpopProof('the DPoP proof was already used');
  }
}
