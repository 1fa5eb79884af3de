import { asAccessTokenError, invalidToken, missingAccessToken, AccessTokenError, type AuthenticationScheme } from './access-token-error.ts';
import { assertAsymmetric, DEFAULT_DPOP_ALGORITHMS } from './algorithms.ts';
import { verifyDpopProof } from './dpop-proof.ts';
import { introspectAccessToken, type IntrospectionOptions } from './introspection.ts';
import { isPairwise, resolvePairwiseSubject } from './pairwise-subject.ts';
import { ReplayCache } from './replay-cache.ts';
import { assertTokenMeets } from './token-requirements.ts';
import type { VerifiedAccessToken } from './verified-access-token.ts';
import { looksLikeJwt, verifyAccessToken, type JwtVerificationOptions } from './verify-access-token.ts';

export interface ResourceServerOptions extends JwtVerificationOptions {
  /**
   * RFC 7662 introspection credentials: opaque tokens are checked with them, and a third-party
   * app's JWT (pairwise `sub`) is resolved to its user with them; without them both are refused.
   */
  introspection?: IntrospectionOptions;
  dpop?: {
    /** Proof algorithms accepted; default ES256, RS256, PS256, EdDSA. */
    algorithms?: readonly string[];
    /** How old a proof may be, in seconds; default 60. */
    maxAgeSeconds?: number;
    /** Replay cache for proof `jti`s; default one shared by the whole process. */
    replayCache?: ReplayCache;
  };
  /** realm for WWW-Authenticate. */
  realm?: string;
}

/** The parts of an HTTP request the check needs, whatever the framework. */
export interface RequestCredentials {
  method: string;
  /** Absolute URL the client addressed (used for the DPoP `htu` check). */
  url: string;
  authorization?: string | null;
  dpop?: string | null;
}

const sharedReplayCache = new ReplayCache();

/** Splits `Authorization: <scheme> <token>`; only Bearer and DPoP are recognised. */
export function parseAuthorization(header: string | null | undefined): { scheme: AuthenticationScheme; token: string } | undefined {
  if (!header) return undefined;
  const match = /^(Bearer|DPoP)[ ]+([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
  if (!match) throw new AccessTokenError('invalid_request', 'the Authorization header must be "Bearer <token>" or "DPoP <token>"');
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
}

export const dpopAlgorithmsOf = (options: ResourceServerOptions) =>
  options.dpop?.algorithms ? assertAsymmetric(options.dpop.algorithms, 'dpop.algorithms') : DEFAULT_DPOP_ALGORITHMS;

async function checkToken(token: string, options: ResourceServerOptions): Promise<VerifiedAccessToken> {
  if (looksLikeJwt(token)) {
    // Requirements are checked after the DPoP decision, so the right scheme is challenged.
    const verified = await verifyAccessToken(token, { ...options, scopes: undefined, acrValues: undefined, amr: undefined, kind: undefined });
    // A third-party app's token names the app's own pairwise subject: the user is found through introspection (once per app and user).
    return verified.kind === 'user' && isPairwise(verified.claims) ? resolvePairwiseSubject(token, verified, options) : verified;
  }
  if (!options.introspection) throw invalidToken('the access token is malformed');
  return introspectAccessToken(token, options, options.introspection);
}

/**
 * The whole check for one request: read the token from the Authorization header, verify it
 * (JWT, or introspection for opaque tokens), demand and verify a DPoP proof for DPoP-bound
 * tokens (refusing them as plain bearer tokens), then the required scopes / acr / amr.
 * Throws AccessTokenError, whose `scheme` tells which challenge to send.
 */
export async function authenticateRequest(request: RequestCredentials, options: ResourceServerOptions): Promise<VerifiedAccessToken> {
  const credentials = parseAuthorization(request.authorization);
  if (!credentials) throw missingAccessToken();
  const { scheme, token } = credentials;
  try {
    const verified = await checkToken(token, options);
    if (verified.boundKeyThumbprint) {
      if (scheme !== 'DPoP') throw invalidToken('this access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof', 'DPoP');
      const proof = request.dpop;
      if (!proof) throw new AccessTokenError('invalid_dpop_proof', 'a DPoP proof is required', { scheme: 'DPoP' });
      await verifyDpopProof({
        proof,
        method: request.method,
        url: request.url,
        accessToken: token,
        boundKeyThumbprint: verified.boundKeyThumbprint,
        algorithms: dpopAlgorithmsOf(options),
        replayCache: options.dpop?.replayCache ?? sharedReplayCache,
        maxAgeSeconds: options.dpop?.maxAgeSeconds,
        clockToleranceSeconds: options.clockToleranceSeconds,
      });
    } else if (scheme === 'DPoP') {
      throw invalidToken('this access token is not DPoP-bound: send it with the Bearer scheme', 'DPoP');
    }
    assertTokenMeets(verified, options, scheme);
    return verified;
  } catch (error) {
    const refusal = asAccessTokenError(error, scheme);
    if (scheme === 'DPoP') refusal.scheme = 'DPoP';
    throw refusal;
  }
}
