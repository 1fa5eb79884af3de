import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { csrfToken, csrfValid } from '../http/csrf.ts';

/**
 * CSRF tokens for pages no one is signed in to (sign-up, password reset, links from e-mails):
 * there is no session or interaction to bind the token to, so the browser gets a random,
 * signed, HttpOnly cookie and the token is the HMAC of it (src/http/csrf.ts). Another site can
 * make the browser send the cookie but cannot read the token from our page.
 */
const COOKIE = 'latchkey.forms';

export function formBinding(csrfSecret: string, production: boolean) {
  const bindingOf = (value: string) => `self-service:${value}`;
  return {
    /** The token for this browser's forms, setting the cookie if it has none. */
    token(ctx: Context): string {
      let value = ctx.cookies.get(COOKIE, { signed: true });
      if (!value || !/^[A-Za-z0-9_-]{22}$/.test(value)) {
        value = randomBytes(16).toString('base64url');
        ctx.cookies.set(COOKIE, value, { httpOnly: true, sameSite: 'lax', secure: production, signed: true, path: '/', overwrite: true });
      }
      return csrfToken(csrfSecret, bindingOf(value));
    },
    valid(ctx: Context, presented: string | null | undefined): boolean {
      const value = ctx.cookies.get(COOKIE, { signed: true });
      return Boolean(value) && csrfValid(csrfSecret, bindingOf(value!), presented);
    },
  };
}
