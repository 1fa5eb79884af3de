import { createLocalJWKSet, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { ClientStore } from '../clients/client-store.ts';
import { SIGNING_ALGORITHMS } from '../keys/signing-keys.ts';
import { LIST_SIZE, positionState, statusListPath, type StatusPosition } from '../revocation/token-status.ts';
import type { SqlClient } from '../storage/sql.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID } from '../clients/account-console-client.ts';
import { introspectionAllowedPolicy } from './introspection-policy.ts';
import { isPairwiseAccessToken, SUBJECT_TYPE_CLAIM } from './pairwise-access-token.ts';

/** RFC 7662 §2.2: all that is said about a token the caller may not know about. */
const INACTIVE = Object.freeze({ active: false });
type IntrospectionAnswer = Record<string, unknown> & { active: boolean };

/** Members of a private JWK that must not reach a verification key set. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const;

export interface JwtIntrospectionDeps {
  issuer: string;
  /** The provider's signing keys (private JWKs, as given to oidc-provider); only their public parts are used. */
  jwks: JWK[];
  clockTolerance: number;
  clients: ClientStore;
  sql: SqlClient;
}

/**
 * The RFC 7662 answer for a JWT access token (RFC 9068) issued by this Latchkey, as oidc-provider
 * answers an opaque one:
 * - `active: false` unless the token is an `at+jwt` signed by one of the provider's keys (held
 *   in memory: no key lookup), from this issuer and not expired (with the provider's clock tolerance);
 * - `active: false` when its Token Status List position is revoked — grant gone, client suspended
 *   or gone, user disabled or gone — checked against current state with one indexed query, so an
 *   introspecting API learns of a revocation at once rather than after the list's cache time.
 *   A token without a status reference to this issuer cannot be checked and is inactive;
 * - `active: false` when the introspection policy does not let the caller see it (a client its
 *   own tokens, an API the tokens issued for it; src/oidc/introspection-policy.ts);
 * - otherwise `active: true`, `token_type` (DPoP when bound to a key, else Bearer) and the
 *   token's claims: scope, client_id, sub, aud, exp, iat, iss, jti, cnf, acr/amr…
 *   For a third-party app's token, whose `sub` is the app's pairwise subject, the API it was
 *   issued for is told the user's account id instead (the app itself keeps its pairwise `sub`):
 *   how the resource-server kit learns which user such a token is for (docs/protect-your-api.md).
 */
export function jwtIntrospectionAnswer(deps: JwtIntrospectionDeps) {
  const publicKeys = deps.jwks.map((jwk) => {
    const copy: Record<string, unknown> = { ...jwk };
    for (const member of PRIVATE_MEMBERS) delete copy[member];
    return copy as JWK;
  });
  const keys = createLocalJWKSet({ keys: publicKeys });
  const allowed = introspectionAllowedPolicy(deps.clients);
  const statusListBase = deps.issuer.replace(/\/$/, '');

  /**
   * Two steps, so the work that does not depend on the caller (signature, revocation query)
   * runs while oidc-provider authenticates the caller: `answerFor(token)` starts it, and the
   * function it resolves to gives the answer for an authenticated caller.
   */
  return async (token: string): Promise<(caller: { clientId: string }) => Promise<IntrospectionAnswer>> => {
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, {
        issuer: deps.issuer,
        typ: 'at+jwt',
        algorithms: [...SIGNING_ALGORITHMS],
        clockTolerance: deps.clockTolerance,
        requiredClaims: ['exp', 'iat', 'client_id', 'aud'],
      }));
    } catch {
      return async () => INACTIVE;
    }
    const clientId = claims.client_id;
    const position = statusPositionOf(claims, statusListBase);
    if (typeof clientId !== 'string' || !position) return async () => INACTIVE;
    // Only a token signed by our keys costs a query; it is awaited below, or dropped unawaited when the caller failed to authenticate.
    const state = positionState(deps.sql, position, [ACCOUNT_CONSOLE_CLIENT_ID]);
    state.catch(() => {});
    return async (caller) => {
      if (!(await allowed(undefined, caller, { clientId, aud: claims.aud }))) return INACTIVE;
      const { revoked, accountId } = await state;
      if (revoked) return INACTIVE;
      const jkt = (claims.cnf as { jkt?: unknown } | undefined)?.jkt;
      const answer: IntrospectionAnswer = { ...claims, active: true, token_type: typeof jkt === 'string' ? 'DPoP' : 'Bearer' };
      if (caller.clientId !== clientId && isPairwiseAccessToken(claims)) {
        // The caller is the API (the policy lets no other client see another's token).
        if (!accountId) return INACTIVE;
        answer.sub = accountId;
        delete answer[SUBJECT_TYPE_CLAIM];
      }
      return answer;
    };
  };
}

/** The token's `status.status_list` reference, when it names one of this issuer's lists. */
function statusPositionOf(claims: JWTPayload, statusListBase: string): StatusPosition | undefined {
  const ref = (claims.status as { status_list?: { idx?: unknown; uri?: unknown } } | undefined)?.status_list;
  if (!ref || typeof ref.idx !== 'number' || !Number.isInteger(ref.idx) || ref.idx < 0 || ref.idx >= LIST_SIZE || typeof ref.uri !== 'string') return undefined;
  const list = Number(/\/(0|[1-9]\d{0,8})$/.exec(ref.uri)?.[1] ?? NaN);
  if (!Number.isInteger(list) || ref.uri !== `${statusListBase}${statusListPath(list)}`) return undefined;
  return { list, idx: ref.idx };
}
