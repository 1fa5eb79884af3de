import type { Config } from '../config/config.ts';

/**
 * The addresses of the self-service pages (src/self-service/routes.ts serves them), which the
 * sign-up, invitation and password-reset e-mails link to. The token travels in the query of the
 * link (the request log records route patterns, never URLs: src/observability/request-log.ts;
 * pages send no Referer: views/layout.eta).
 */
export const SIGNUP_PATH = '/signup';
export const VERIFY_EMAIL_PATH = '/signup/verify';
export const INVITE_PATH = '/invite';
export const RESET_PATH = '/reset-password';
export const RESET_CHOOSE_PATH = '/reset-password/choose';

export const linkWithToken = (config: Pick<Config, 'issuer'>, path: string, token: string) => `${config.issuer}${path}?token=${token}`;
