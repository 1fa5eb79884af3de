import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../crypto/constant-time.ts';

/**
 * Synchronizer tokens for our forms: an HMAC of something only this browser's flow knows
 * (the interaction uid, or the session uid on account pages) under the cookie key. Cookies are
 * SameSite=Lax as well; the token also stops same-site and login-CSRF attacks.
 */
export function csrfToken(secret: string, binding: string): string {
  return createHmac('sha256', secret).update(`csrf:${binding}`).digest('base64url');
}

export function csrfValid(secret: string, binding: string, presented: string | null | undefined): boolean {
  return Boolean(presented) && constantTimeEqual(presented!, csrfToken(secret, binding));
}
