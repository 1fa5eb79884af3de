/** What a handler learns about a verified access token, whether it was a JWT or introspected. */
export interface VerifiedAccessToken {
  /** The user (absent for client_credentials tokens). */
  subject?: string;
  clientId?: string;
  scopes: readonly string[];
  audience: readonly string[];
  /** Seconds since the epoch. */
  expiresAt: number;
  acr?: string;
  amr?: readonly string[];
  /** JWK SHA-256 thumbprint the token is bound to (RFC 9449 cnf.jkt), if DPoP-bound. */
  boundKeyThumbprint?: string;
  /** How it was checked. */
  source: 'jwt' | 'introspection';
  /** All claims as received (JWT payload or introspection response). */
  claims: Readonly<Record<string, unknown>>;
}

const asStrings = (value: unknown): string[] =>
  typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/** Builds the handler-facing view from JWT claims or an introspection response (they share names). */
export function describeClaims(claims: Record<string, unknown>, source: VerifiedAccessToken['source']): VerifiedAccessToken {
  const cnf = claims.cnf as { jkt?: unknown } | undefined;
  return {
    subject: typeof claims.sub === 'string' ? claims.sub : undefined,
    clientId: typeof claims.client_id === 'string' ? claims.client_id : undefined,
    scopes: typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [],
    audience: asStrings(claims.aud),
    expiresAt: typeof claims.exp === 'number' ? claims.exp : 0,
    acr: typeof claims.acr === 'string' ? claims.acr : undefined,
    amr: Array.isArray(claims.amr) ? asStrings(claims.amr) : undefined,
    boundKeyThumbprint: typeof cnf?.jkt === 'string' ? cnf.jkt : undefined,
    source,
    claims,
  };
}
