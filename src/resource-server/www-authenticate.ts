import type { AccessTokenError } from './access-token-error.ts';

/** Characters allowed inside a quoted auth-param value here (RFC 6750 §3 restricts error_description). */
const quote = (value: string) => `"${value.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '')}"`;

export interface ChallengeOptions {
  realm?: string;
  /** DPoP proof algorithms this API accepts, advertised in the DPoP challenge (RFC 9449 §7.1). */
  dpopAlgorithms?: readonly string[];
}

/**
 * The WWW-Authenticate header value for a refusal. Missing credentials get a challenge for
 * each scheme the API accepts; otherwise the challenge names the scheme the token was used with.
 */
export function wwwAuthenticateFor(error: AccessTokenError, options: ChallengeOptions = {}): string {
  const challenge = (scheme: 'Bearer' | 'DPoP', withError: boolean) => {
    const params: string[] = [];
    if (options.realm) params.push(`realm=${quote(options.realm)}`);
    if (withError && error.code) {
      params.push(`error=${quote(error.code)}`);
      params.push(`error_description=${quote(error.message)}`);
      if (error.requiredScopes.length) params.push(`scope=${quote(error.requiredScopes.join(' '))}`);
    }
    if (scheme === 'DPoP' && options.dpopAlgorithms?.length) params.push(`algs=${quote(options.dpopAlgorithms.join(' '))}`);
    return params.length ? `${scheme} ${params.join(', ')}` : scheme;
  };
  if (!error.code) return [challenge('Bearer', false), ...(options.dpopAlgorithms?.length ? [challenge('DPoP', false)] : [])].join(', ');
  return challenge(error.scheme, true);
}
