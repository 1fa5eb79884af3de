/**
 * Why a request was refused, in RFC 6750 / RFC 9449 terms. Carries the HTTP status, the
 * error code and the authentication scheme to challenge with — never a stack trace or a
 * library's internal message.
 */
export type AccessTokenErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof';

export type AuthenticationScheme = 'Bearer' | 'DPoP';

const STATUS_BY_CODE: Record<AccessTokenErrorCode, number> = {
  invalid_request: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  invalid_dpop_proof: 401,
};

export class AccessTokenError extends Error {
  readonly code: AccessTokenErrorCode | undefined;
  readonly status: number;
  /** The scheme the client should use: DPoP for bound tokens and DPoP requests, else Bearer. */
  scheme: AuthenticationScheme;
  /** For insufficient_scope: the scopes the request needs. */
  readonly requiredScopes: readonly string[];

  constructor(
    code: AccessTokenErrorCode | undefined,
    description: string,
    options: { scheme?: AuthenticationScheme; requiredScopes?: readonly string[] } = {},
  ) {
    super(description);
    this.name = 'AccessTokenError';
    this.code = code;
    this.status = code ? STATUS_BY_CODE[code] : 401;
    this.scheme = options.scheme ?? 'Bearer';
    this.requiredScopes = options.requiredScopes ?? [];
  }

  /** The JSON body to send: error code and a short, safe description. */
  toJSON(): { error: string; error_description: string } {
    return { error: this.code ?? 'invalid_request', error_description: this.message };
  }
}

/** No credentials at all: RFC 6750 §3.1 says to answer 401 without an error code. */
export const missingAccessToken = () => new AccessTokenError(undefined, 'an access token is required');

export const invalidToken = (description: string, scheme: AuthenticationScheme = 'Bearer') =>
  new AccessTokenError('invalid_token', description, { scheme });

export const invalidDpopProof = (description: string) => new AccessTokenError('invalid_dpop_proof', description, { scheme: 'DPoP' });

export const insufficientScope = (requiredScopes: readonly string[], scheme: AuthenticationScheme = 'Bearer') =>
  new AccessTokenError('insufficient_scope', `this request needs the scope(s): ${requiredScopes.join(' ')}`, { scheme, requiredScopes });

/** Anything thrown that is not an AccessTokenError becomes a generic invalid_token (no details leak). */
export function asAccessTokenError(error: unknown, scheme: AuthenticationScheme = 'Bearer'): AccessTokenError {
  if (error instanceof AccessTokenError) return error;
  return invalidToken('the access token is invalid', scheme);
}
