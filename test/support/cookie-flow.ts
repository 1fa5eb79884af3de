/**
 * The user's side of an authorization without a browser: a cookie jar and a manual redirect
 * loop that signs in and allows consent on Latchkey's own forms. Cheaper than Chromium, and
 * every cookie, interaction uid and code is visible to the test (e.g. to look for them in the
 * database afterwards).
 */
import assert from 'node:assert/strict';

const FORM = 'application/x-www-form-urlencoded';

export interface CookieBrowser {
  request(url: string | URL, init?: RequestInit): Promise<Response>;
}

/** `seen(what, value)` is told every cookie value and interaction uid along the way. */
export function cookieBrowser(issuer: string, seen: (what: string, value: string) => void = () => {}): CookieBrowser {
  const jar = new Map<string, string>();
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  return {
    async request(url, init = {}) {
      const res = await fetch(new URL(url, issuer), { ...init, headers: { ...(init.headers as Record<string, string>), cookie: cookie() }, redirect: 'manual' });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const eq = pair!.indexOf('=');
        const [name, value] = [pair!.slice(0, eq), pair!.slice(eq + 1)];
        if (value) jar.set(name, value);
        else jar.delete(name);
        if (value && !name.endsWith('.sig')) seen(`cookie ${name}`, value);
      }
      return res;
    },
  };
}

export interface CookieFlowOptions {
  issuer: string;
  redirectUri: string;
  login: { email: string; password: string };
  browser?: CookieBrowser;
  seen?: (what: string, value: string) => void;
}

/**
 * Follows an authorization URL (e.g. `/auth?…`) through sign-in and consent ("allow", the
 * preselected access per API) to the redirect URI; returns the code and whether a login form
 * was shown.
 */
export async function authorizeWithCookies(start: string, options: CookieFlowOptions): Promise<{ code: string; sawLogin: boolean }> {
  const seen = options.seen ?? (() => {});
  const { request } = options.browser ?? cookieBrowser(options.issuer, seen);
  let sawLogin = false;
  let res = await request(start);
  for (let step = 0; step < 12; step++) {
    if (res.status === 303 || res.status === 302) {
      const location = new URL(res.headers.get('location')!, options.issuer);
      await res.arrayBuffer();
      if (location.href.startsWith(options.redirectUri)) {
        const code = location.searchParams.get('code');
        assert.ok(code, `no code in ${location.search}`);
        return { code, sawLogin };
      }
      const interaction = /^\/interaction\/([^/]+)$/.exec(location.pathname);
      if (interaction) seen('interaction uid', interaction[1]!);
      res = await request(location);
      continue;
    }
    assert.equal(res.status, 200, `unexpected ${res.status} at ${res.url}`);
    const html = await res.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    const action = /<form method="post" action="([^"]+\/(login|confirm))"/.exec(html);
    assert.ok(csrf && action, `a login or consent form at ${res.url}`);
    sawLogin ||= action[2] === 'login';
    const fields: Record<string, string> = action[2] === 'login' ? { csrf, ...options.login } : { csrf, decision: 'allow' };
    if (action[2] === 'confirm') for (const [, name, value] of html.matchAll(/name="(access:[^"]+)" value="([^"]+)"/g)) fields[name!] ??= value!;
    res = await request(action[1]!, { method: 'POST', headers: { 'content-type': FORM }, body: new URLSearchParams(fields) });
  }
  throw new Error('the authorization never reached the redirect URI');
}
