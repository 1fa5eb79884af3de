/** Signature algorithms a resource server may accept: asymmetric only, never `none` or HMAC. */
export const ASYMMETRIC_ALGORITHMS = new Set([
  'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519',
]);

export const DEFAULT_TOKEN_ALGORITHMS: readonly string[] = ['ES256', 'RS256'];
export const DEFAULT_DPOP_ALGORITHMS: readonly string[] = ['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519'];

/** Throws at configuration time (not per request) when an allow-list names a symmetric or `none` algorithm. */
export function assertAsymmetric(algorithms: readonly string[], what: string): readonly string[] {
  if (!algorithms.length) throw new TypeError(`${what}: the algorithm allow-list is empty`);
  for (const alg of algorithms) {
    if (!ASYMMETRIC_ALGORITHMS.has(alg)) throw new TypeError(`${what}: algorithm ${alg} is not allowed (asymmetric algorithms only)`);
  }
  return algorithms;
}
