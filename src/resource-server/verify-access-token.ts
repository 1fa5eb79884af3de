import { errors as joseErrors, jwtVerify } from 'jose';
import { invalidToken } from './access-token-error.ts';
import { assertAsymmetric, DEFAULT_TOKEN_ALGORITHMS } from './algorithms.ts';
import { assertJwksCooldown, DEFAULT_JWKS_COOLDOWN_SECONDS, keySetForIssuer, type KeySet } from './issuer-key-set.ts';
import { assertNotRevoked, statusReferenceOf, type StatusListOptions } from './status-list.ts';
import { assertTokenMeets, type TokenRequirements } from './token-requirements.ts';
import { describeClaims, type VerifiedAccessToken } from './verified-access-token.ts';

export interface JwtVerificationOptions extends TokenRequirements {
  /** The issuer URL exactly as it appears in `iss` (its discovery document lists the JWKS). */
  issuer: string;
  /** This API's audience (the resource indicator it was registered with). */
  audience: string | readonly string[];
  /** Signature algorithms accepted; default ES256 and RS256. `none` and HS* are refused. */
  algorithms?: readonly string[];
  /** Seconds of clock skew tolerated for exp/nbf/iat; default 5. */
  clockToleranceSeconds?: number;
  /**
   * Seconds after a JWKS fetch before a token naming an unknown `kid` makes the kit fetch the
   * JWKS again; default 30, from 1 to 600. A rotated-in key is trusted once the kit has
   * refetched, so keep this below the issuer's KEY_PUBLISH_DELAY_SECONDS; a longer cooldown
   * asks less of the issuer when tokens with made-up kids arrive.
   */
  jwksCooldownSeconds?: number;
  /**
   * Revocation feed (Token Status List). On by default for tokens that carry a `status`
   * claim: the referenced list is fetched, verified and cached (see StatusListOptions), and
   * a revoked token is refused. `false` turns the check off (tokens then stay valid until exp).
   */
  statusList?: StatusListOptions | false;
}

export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

/** A token that is not shaped like a JWS (three base64url parts) — e.g. an opaque token. */
export const looksLikeJwt = (token: string) => /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);

function describeJoseFailure(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the access token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'the access token is not meant for this API';
    if (error.claim === 'iss') return 'the access token was not issued by the expected issuer';
    if (error.claim === 'nbf') return 'the access token is not valid yet';
    if (error.claim === 'typ') return 'the token is not an access token (typ must be at+jwt)';
    return `the access token's ${error.claim} claim is invalid`;
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'the access token is signed with an algorithm this API does not accept';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the access token signature is invalid';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'the access token was signed with an unknown key';
  return 'the access token is invalid';
}

/**
 * Verifies a JWT access token (RFC 9068) from the issuer: signature against the issuer's
 * JWKS, `typ: at+jwt`, algorithm allow-list, iss, aud, exp/nbf with a small tolerance, then
 * the required scopes / acr / amr. Throws AccessTokenError; returns the verified token.
 * This does not look at DPoP: a bound token is returned with `boundKeyThumbprint` set, and
 * the caller (authenticateRequest) decides whether the proof is there.
 */
export async function verifyAccessToken(token: string, options: JwtVerificationOptions, keySet?: KeySet): Promise<VerifiedAccessToken> {
  const algorithms = options.algorithms ? assertAsymmetric(options.algorithms, 'verifyAccessToken') : DEFAULT_TOKEN_ALGORITHMS;
  const jwksCooldown = options.jwksCooldownSeconds === undefined ? DEFAULT_JWKS_COOLDOWN_SECONDS : assertJwksCooldown(options.jwksCooldownSeconds);
  if (typeof token !== 'string' || !looksLikeJwt(token)) throw invalidToken('the access token is malformed');
  let keys: KeySet;
  try {
    keys = keySet ?? (await keySetForIssuer(options.issuer, jwksCooldown));
  } catch {
    throw invalidToken('the access token cannot be checked right now');
  }
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      issuer: options.issuer,
      audience: options.audience as string | string[],
      typ: 'at+jwt',
      algorithms: algorithms as string[],
      clockTolerance: options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp'],
    }));
  } catch (error) {
    throw invalidToken(describeJoseFailure(error));
  }
  if (options.statusList !== false) {
    const reference = statusReferenceOf(payload);
    if (reference) {
      await assertNotRevoked(
        reference,
        { issuer: options.issuer, keys, algorithms, clockToleranceSeconds: options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS },
        options.statusList,
      );
    }
  }
  const verified = describeClaims(payload, 'jwt');
  assertTokenMeets(verified, options, verified.boundKeyThumbprint ? 'DPoP' : 'Bearer');
  return verified;
}
