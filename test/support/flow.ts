/**
 * The relying party's side of a real authorization-code flow: openid-client v6 builds the
 * request and redeems the code, Chromium does what a user would on Latchkey's pages.
 */
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { repoRoot } from './latchkey.ts';

/**
 * The app's side of the redirect: a real listener on loopback that answers 200 to anything,
 * so the browser lands somewhere and the test reads the URL it landed on.
 */
export async function startAppServer(): Promise<{ origin: string; redirectUri: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('app page'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    redirectUri: `${origin}/callback`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export async function discover(issuer: string, clientId: string, clientSecret?: string): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(issuer), clientId, clientSecret, clientSecret ? undefined : oidc.None(), { execute: [oidc.allowInsecureRequests] });
}

export type ConsentAction = 'read-write' | 'read-only' | 'allow' | 'deny';

export interface BrowserStep {
  /** Credentials to type when the login page appears. */
  login?: { email: string; password: string };
  /** What to do if the consent page appears. */
  consent?: ConsentAction;
  /** Where to save a screenshot of the sign-in and consent pages for the docs (docs/images/<name>-login.png, -consent.png). */
  screenshots?: string;
}

export interface AuthorizeResult {
  callbackUrl: URL;
  verifier: string;
  state: string;
  nonce: string;
  sawLogin: boolean;
  sawConsent: boolean;
  consentText?: string;
}

export async function authorizeInBrowser(
  page: Page,
  config: oidc.Configuration,
  params: Record<string, string>,
  steps: BrowserStep,
  redirectUri: string,
): Promise<AuthorizeResult> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });

  return { ...(await followInBrowser(page, url, steps, redirectUri)), verifier, state, nonce };
}

/**
 * Follows an authorization URL in Chromium as the user would — signing in and answering the
 * consent page as `steps` say — until the browser lands on the app's redirect URI.
 */
export async function followInBrowser(
  page: Page,
  url: URL,
  steps: BrowserStep,
  redirectUri: string,
): Promise<Pick<AuthorizeResult, 'callbackUrl' | 'sawLogin' | 'sawConsent' | 'consentText'>> {
  let sawLogin = false;
  let sawConsent = false;
  let consentText: string | undefined;
  await page.goto(url.href);
  const arrived = () => page.url().startsWith(redirectUri);
  for (let step = 0; step < 6 && !arrived(); step++) {
    await page.waitForLoadState('domcontentloaded');
    if (await page.locator('form[action$="/login"]').count()) {
      if (!steps.login) throw new Error('login page appeared but the test gave no credentials');
      sawLogin = true;
      if (steps.screenshots) await page.screenshot({ path: path.join(repoRoot, 'docs/images', `${steps.screenshots}-login.png`), fullPage: true });
      await page.fill('#email', steps.login.email);
      await page.fill('#password', steps.login.password);
      await Promise.all([page.waitForNavigation(), page.click('form[action$="/login"] button[type=submit]')]);
      continue;
    }
    if (await page.locator('form[action$="/confirm"]').count()) {
      sawConsent = true;
      consentText = await page.locator('main').innerText();
      if (steps.screenshots) await page.screenshot({ path: path.join(repoRoot, 'docs/images', `${steps.screenshots}-consent.png`), fullPage: true });
      const action = steps.consent;
      if (!action) throw new Error('consent page appeared but the test expected none');
      if (action === 'deny') {
        await Promise.all([page.waitForNavigation(), page.click('button[formaction$="/abort"]')]);
        continue;
      }
      if (action === 'read-only' || action === 'read-write') {
        const radios = page.locator(`input[type=radio][value=${action}]`);
        for (let i = 0; i < (await radios.count()); i++) await radios.nth(i).check();
      }
      await Promise.all([page.waitForNavigation(), page.click('button[value=allow]')]);
      continue;
    }
    if (arrived()) break;
    const body = await page.locator('body').innerText();
    throw new Error(`unexpected page at ${page.url()}: ${body.slice(0, 500)}`);
  }
  if (!arrived()) throw new Error(`the flow never reached the redirect URI (at ${page.url()})`);
  return { callbackUrl: new URL(page.url()), sawLogin, sawConsent, consentText };
}

export async function redeem(config: oidc.Configuration, result: AuthorizeResult, resource?: string) {
  return oidc.authorizationCodeGrant(
    config,
    result.callbackUrl,
    { pkceCodeVerifier: result.verifier, expectedState: result.state, expectedNonce: result.nonce, idTokenExpected: true },
    resource ? { resource } : undefined,
  );
}

/** A user signs in to the app in Chromium (`authorizeInBrowser`) and the app redeems the code: its tokens. */
export async function signInAndRedeem(page: Page, config: oidc.Configuration, params: Record<string, string>, steps: BrowserStep, redirectUri: string) {
  return redeem(config, await authorizeInBrowser(page, config, params, steps, redirectUri));
}

/**
 * From a page of Latchkey's after the sign-in form (a second factor's "Continue" past the
 * recovery codes, the consent page) to the app: continues, allows, and waits for the redirect.
 */
export async function continueToApp(page: Page, redirectUri: string): Promise<URL> {
  for (let i = 0; i < 5 && !page.url().startsWith(redirectUri); i++) {
    if (await page.locator('#continue').count()) {
      await Promise.all([page.waitForNavigation(), page.click('#continue')]);
      continue;
    }
    if (await page.locator('form[action$="/confirm"]').count()) {
      await Promise.all([page.waitForNavigation(), page.click('button[value=allow]')]);
      continue;
    }
    await page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: 5000 });
  }
  if (!page.url().startsWith(redirectUri)) throw new Error(`expected the app, at ${page.url()}: ${(await page.locator('body').innerText()).slice(0, 300)}`);
  return new URL(page.url());
}

/**
 * The OAuth error an openid-client call was refused with, whichever way the server said it: in
 * the JSON body (ResponseBodyError: `error`, `error_description`), or — for a 401, where RFC 6749
 * §5.2 wants a `WWW-Authenticate` challenge and openid-client reports the challenge instead — in
 * the challenge's parameters (WWWAuthenticateChallengeError: `cause[].parameters`).
 */
export function oauthErrorOf(thrown: unknown): { error?: string; error_description?: string; status?: number } {
  const e = thrown as { error?: string; error_description?: string; status?: number; cause?: unknown };
  if (typeof e?.error === 'string') return { error: e.error, error_description: e.error_description, status: e.status };
  const challenge = Array.isArray(e?.cause) ? (e.cause as Array<{ parameters?: Record<string, string> }>)[0]?.parameters : undefined;
  return { error: challenge?.error, error_description: challenge?.error_description, status: e?.status };
}
