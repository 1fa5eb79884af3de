/**
 * Plain HTTP as an attacker (or a careful client) would send it: fetch with a cookie jar, a
 * chosen client address (X-Forwarded-For, for servers started with TRUST_PROXY), no redirects
 * followed, and the sign-in steps of Latchkey's pages done by hand.
 */
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';

export const FORM = 'application/x-www-form-urlencoded';

export class Jar {
  cookies = new Map<string, string>();
  store(res: Response) {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export interface Sent {
  status: number;
  headers: Headers;
  text: string;
}

export type SendInit = RequestInit & { ip?: string; jar?: Jar };

/** One request; a 5xx fails the test at once, whatever it was. `send.issuer` is the server's issuer. */
export function sender(issuer: string) {
  return Object.assign(async function send(path: string, init: SendInit = {}): Promise<Sent> {
    const headers = new Headers(init.headers);
    if (init.ip) headers.set('x-forwarded-for', init.ip);
    if (init.jar) headers.set('cookie', init.jar.header());
    // `path` is sent exactly as written (no URL normalisation of case, slashes or escapes).
    const res = await fetch(`${issuer}${path}`, { redirect: 'manual', ...init, headers });
    init.jar?.store(res);
    const text = await res.text();
    assert.ok(res.status < 500, `${init.method ?? 'GET'} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return { status: res.status, headers: res.headers, text };
  }, { issuer });
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export interface SignIn {
  interaction: string;
  csrf: string;
  jar: Jar;
  page: Sent;
}

/** Starts a sign-in at the authorization endpoint: the interaction path, its CSRF token, the cookies. */
export async function startSignIn(send: ReturnType<typeof sender>, client: { client_id: string; redirect_uri: string; scope?: string }, ip?: string): Promise<SignIn> {
  const jar = new Jar();
  const verifier = oidc.randomPKCECodeVerifier();
  const params = new URLSearchParams({
    client_id: client.client_id,
    response_type: 'code',
    scope: client.scope ?? 'openid email',
    redirect_uri: client.redirect_uri,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: oidc.randomState(),
  });
  const auth = await send(`/auth?${params}`, { ip, jar });
  assert.equal(auth.status, 303, auth.text);
  const interaction = new URL(auth.headers.get('location')!, 'http://x').pathname;
  const page = await send(interaction, { ip, jar });
  return { interaction, csrf: csrfOf(page.text), jar, page };
}

export const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

/** POSTs a form to `path` with the sign-in's cookies and CSRF token. */
export const postForm = (send: ReturnType<typeof sender>, s: { jar: Jar; csrf: string }, path: string, fields: Record<string, string>, ip?: string) =>
  send(path, { method: 'POST', ip, jar: s.jar, headers: { 'content-type': FORM }, body: new URLSearchParams({ csrf: s.csrf, ...fields }).toString() });

/**
 * A password sign-in over HTTP, started by the app's authorization request: the answer to the
 * password form (303 onwards when it worked, 401 when refused) and the cookie jar, which then
 * holds a browser session the account page accepts.
 */
export async function passwordSignIn(
  send: ReturnType<typeof sender>,
  client: { client_id: string; redirect_uri: string },
  login: { email: string; password: string },
  ip?: string,
): Promise<{ status: number; jar: Jar; text: string }> {
  const signIn = await startSignIn(send, client, ip);
  const answer = await postForm(send, signIn, `${signIn.interaction}/login`, login, ip);
  const location = answer.headers.get('location');
  // Resuming the authorization request is what establishes the provider's session cookie.
  if (answer.status === 303 && location?.startsWith(send.issuer)) await send(location.slice(send.issuer.length), { ip, jar: signIn.jar });
  return { status: answer.status, jar: signIn.jar, text: answer.text };
}
