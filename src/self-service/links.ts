import type { Config } from '../config/config.ts';

/**
 * Pure: the interaction uid a page may send the user back to, or undefined. Only the uid is
 * taken from the request, and only in the shape oidc-provider gives uids: the path back is
 * always built here (`/interaction/<uid>`), so no request can make it point anywhere else.
 */
export function returnUid(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(value) ? value : undefined;
}

/** What the sign-in page shows (views/login.eta): pass `selfServiceLinks(config)` with the page's data. */
export function selfServiceLinks(config: Pick<Config, 'signup' | 'passwordReset'>) {
  return { signupOpen: config.signup === 'open', passwordReset: config.passwordReset };
}
