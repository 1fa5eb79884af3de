/** What a handler learns about a verified access token, whether it was a JWT or introspected. */
export interface VerifiedAccessToken {
  /**
   * 'user': issued to an app acting for a signed-in user, who consented; `subject` is that user.
   * 'machine': a client_credentials token, issued to an app acting for itself; `subject` is the
   * app's client_id (RFC 9068 §2.2). Rule: machine ⇔ `sub` equals `client_id` (an introspection
   * answer for a machine token names no `sub`). Latchkey user ids (UUIDs) and client ids
   * (22-character base64url) never coincide, and both are assigned by Latchkey, so a user's
   * token cannot pass for a machine token or the other way round.
   */
  kind: 'user' | 'machine';
  /**
   * The user for user tokens; the client_id for machine tokens. Check `kind` before treating it
   * as a user. The same user has the same `subject` whichever app sent the token: for a
   * third-party app's JWT, whose `sub` is the app's own pairwise subject, authenticateRequest
   * (and the Koa/Node helpers) fill it in through introspection; verifyAccessToken alone
   * leaves it undefined. Use `subject`, not `claims.sub`.
   */
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
/**
 * The machine/user rule (docs/protect-your-api.md): a client_credentials token's subject is the
 * client itself — `sub` equal to `client_id` in a JWT (RFC 9068 §2.2), no `sub` at all in an
 * introspection answer (RFC 7662 leaves it out when there is no user).
 */
export function tokenKind(claims: Record<string, unknown>): VerifiedAccessToken['kind'] {
  const clientId = typeof claims.client_id === 'string' && claims.client_id ? claims.client_id : undefined;
  if (clientId === undefined) return typeof claims.sub === 'string' && claims.sub ? 'user' : 'machine';
  return claims.sub === undefined || claims.sub === clientId ? 'machine' : 'user';
}

export function describeClaims(claims: Record<string, unknown>, source: VerifiedAccessToken['source']): VerifiedAccessToken {
  const cnf = claims.cnf as { jkt?: unknown } | undefined;
  const kind = tokenKind(claims);
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : undefined;
  return {
    kind,
    subject: kind === 'machine' ? clientId : typeof claims.sub === 'string' && !(source === 'jwt' && claims.subject_type === 'pairwise') ? claims.sub : undefined,
    clientId,
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
