import { asAccessTokenError } from './access-token-error.ts';
import { dpopAlgorithmsOf, type ResourceServerOptions } from './authenticate-request.ts';
import { wwwAuthenticateFor } from './www-authenticate.ts';

/** Status, headers and JSON body for a refused request — the same for every framework adapter. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
}

export function refusalFor(error: unknown, options: Pick<ResourceServerOptions, 'realm' | 'dpop'>): Refusal {
  const refusal = asAccessTokenError(error);
  return {
    status: refusal.status,
    headers: {
      'www-authenticate': wwwAuthenticateFor(refusal, { realm: options.realm, dpopAlgorithms: dpopAlgorithmsOf(options as ResourceServerOptions) }),
      'cache-control': 'no-store',
    },
    body: refusal.toJSON(),
  };
}
