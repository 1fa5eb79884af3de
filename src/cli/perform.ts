import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import { ForbiddenError, InputError, LatchkeyError } from '../errors.ts';
import { discoverIssuer, type IssuerMetadata } from '../resource-server/issuer-metadata.ts';

/**
 * `latchkey perform …`: a first token without writing code, as Ory Hydra's `hydra perform` does.
 * A real OAuth client on plain fetch and jose (both always installed; openid-client is only a
 * test dependency): discovery, client authentication, PKCE, state, nonce and RFC 9207's `iss`
 * for the authorization-code flow, then the token response and the claims of each token,
 * verified against the issuer's JWKS (signature, iss, aud, exp, typ).
 *
 * Errors are the closed set (errors.ts): a refused client (`invalid_client`) is unauthenticated
 * (exit 1), a refused request (`invalid_scope`, `invalid_grant`, …) bad input (exit 2), a user
 * who denies access forbidden (exit 1), an issuer that does not answer unavailable (exit 1).
 */

export interface PerformCommon {
  issuer: string;
  clientId: string;
  /** absent: a public client (token_endpoint_auth_method none) */
  clientSecret?: string;
  scope?: string;
  resources: string[];
}

export interface AuthorizationCodeOptions extends PerformCommon {
  /** loopback port of the redirect URI http://127.0.0.1:<port>/callback (0: any free port) */
  port: number;
  prompt?: string;
  /** how long to wait for the browser to come back */
  timeoutSeconds: number;
  /** where the URL to open (and progress) is written; the result goes to stdout */
  tell: (line: string) => void;
}

export interface PerformResult {
  token_response: Record<string, unknown>;
  access_token_claims?: JWTPayload;
  /** set when the access token is opaque (not a JWT): it is checked by introspection, not here */
  access_token_note?: string;
  id_token_claims?: JWTPayload;
  verified_with: string;
}

const FETCH_TIMEOUT_MS = 10_000;

async function metadataOf(issuer: string): Promise<IssuerMetadata & { token_endpoint: string; authorization_endpoint: string }> {
  let metadata: IssuerMetadata;
  try {
    metadata = await discoverIssuer(issuer);
  } catch (error) {
    throw new LatchkeyError('unavailable', `cannot reach the issuer ${issuer} (ISSUER): ${(error as Error).message}`);
  }
  return metadata as IssuerMetadata & { token_endpoint: string; authorization_endpoint: string };
}

/** RFC 6749 §2.3.1: client_secret_basic, id and secret form-urlencoded before base64. */
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function tokenRequest(options: PerformCommon, endpoint: string, parameters: URLSearchParams): Promise<Record<string, unknown>> {
  for (const resource of options.resources) parameters.append('resource', resource);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (options.clientSecret !== undefined) headers.authorization = basic(options.clientId, options.clientSecret);
  else parameters.set('client_id', options.clientId);
  let response: Response;
  try {
    response = await fetch(endpoint, { method: 'POST', headers, body: parameters, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (error) {
    throw new LatchkeyError('unavailable', `the token endpoint ${endpoint} did not answer: ${(error as Error).message}`);
  }
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: described below by status
  }
  if (response.ok && typeof body.access_token === 'string') return body;
  const error = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
  const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
  const message = `the token endpoint refused the request (${error}${description})`;
  if (error === 'invalid_client') {
    throw new LatchkeyError('unauthenticated', `${message}; check --client-id and the client secret (--client-secret-stdin or LATCHKEY_CLIENT_SECRET)`);
  }
  if (response.status >= 500 || !body.error) throw new LatchkeyError('unavailable', message);
  throw new InputError(message);
}

/** Verifies each JWT in the token response against the issuer's JWKS and returns its claims. */
async function verifyTokens(
  options: PerformCommon,
  metadata: IssuerMetadata,
  tokens: Record<string, unknown>,
  nonce?: string,
): Promise<PerformResult> {
  const keys = createRemoteJWKSet(new URL(metadata.jwks_uri));
  const result: PerformResult = { token_response: tokens, verified_with: metadata.jwks_uri };
  const accessToken = String(tokens.access_token);
  if (/^[\w-]+\.[\w-]+\.[\w-]+$/.test(accessToken)) {
    // The audience is the API the token names; what is checked is that the issuer signed it for
    // that API, that it is an access token (RFC 9068 typ) and that it has not expired.
    const audience = decodeJwt(accessToken).aud;
    const { payload } = await jwtVerify(accessToken, keys, {
      issuer: options.issuer,
      typ: 'at+jwt',
      algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      requiredClaims: ['exp', 'aud'],
      ...(options.resources.length ? { audience: options.resources } : audience ? { audience: audience as string | string[] } : {}),
    }).catch((error: Error) => {
      throw new LatchkeyError('unauthenticated', `the access token did not verify: ${error.message}`);
    });
    result.access_token_claims = payload;
  } else {
    result.access_token_note = 'opaque (not a JWT): an API checks it by introspection; ask for an API with --resource to get a JWT';
  }
  if (typeof tokens.id_token === 'string') {
    const { payload } = await jwtVerify(tokens.id_token, keys, {
      issuer: options.issuer,
      audience: options.clientId,
      algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
      requiredClaims: ['exp', 'iat', 'sub'],
    }).catch((error: Error) => {
      throw new LatchkeyError('unauthenticated', `the ID token did not verify: ${error.message}`);
    });
    if (nonce !== undefined && payload.nonce !== nonce) throw new LatchkeyError('unauthenticated', 'the ID token does not carry the nonce sent');
    result.id_token_claims = payload;
  }
  return result;
}

/** `latchkey perform client-credentials`: a machine token for a service app. */
export async function performClientCredentials(options: PerformCommon): Promise<PerformResult> {
  if (options.clientSecret === undefined) {
    throw new InputError('a client secret is required: pipe it to --client-secret-stdin or set LATCHKEY_CLIENT_SECRET');
  }
  const metadata = await metadataOf(options.issuer);
  const parameters = new URLSearchParams({ grant_type: 'client_credentials' });
  if (options.scope) parameters.set('scope', options.scope);
  const tokens = await tokenRequest(options, metadata.token_endpoint, parameters);
  return verifyTokens(options, metadata, tokens);
}

const random = () => randomBytes(32).toString('base64url');

const page = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>${title}</h1><p>${text}</p></body>`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * `latchkey perform authorization-code`: listens on http://127.0.0.1:<port>/callback, tells the
 * URL to open, and when the browser comes back with a code (matching state, and the issuer's
 * `iss`), redeems it with the PKCE verifier.
 */
export async function performAuthorizationCode(options: AuthorizationCodeOptions): Promise<PerformResult> {
  const metadata = await metadataOf(options.issuer);
  const scope = options.scope ?? 'openid';
  const verifier = random();
  const state = random();
  const nonce = scope.split(' ').includes('openid') ? random() : undefined;

  let settle!: { resolve: (url: URL) => void; reject: (error: Error) => void };
  const callback = new Promise<URL>((resolve, reject) => (settle = { resolve, reject }));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    // Only the answer to our own request counts: anything without our state is ignored.
    if (url.searchParams.get('state') !== state) {
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' }).end(page('Unexpected request', 'This does not answer the request latchkey perform made (the state differs).'));
      return;
    }
    const error = url.searchParams.get('error');
    const [title, text] = error
      ? ['Not authorized', `${escapeHtml(error)}: ${escapeHtml(url.searchParams.get('error_description') ?? '')}. Return to the terminal.`]
      : ['Signed in', 'latchkey perform has the authorization code. You can close this window and return to the terminal.'];
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', connection: 'close' }).end(page(title, text));
    settle.resolve(url);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new InputError(`port ${options.port} on 127.0.0.1 is in use; choose another with --port (and register its redirect URI)`) : error),
    );
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  const timer = setTimeout(
    () => settle.reject(new LatchkeyError('unavailable', `no answer on ${redirectUri} within ${options.timeoutSeconds} s`)),
    options.timeoutSeconds * 1000,
  );
  try {
    const url = new URL(metadata.authorization_endpoint);
    const parameters: Record<string, string | undefined> = {
      client_id: options.clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope,
      state,
      nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      prompt: options.prompt,
    };
    for (const [key, value] of Object.entries(parameters)) if (value !== undefined) url.searchParams.set(key, value);
    for (const resource of options.resources) url.searchParams.append('resource', resource);

    options.tell(`Listening on ${redirectUri} (this must be one of the app's redirect URIs).`);
    options.tell('Open this URL in a browser and sign in:');
    options.tell('');
    options.tell(url.href);
    options.tell('');
    const answer = await callback;

    // RFC 9207: the authorization server names itself in the response; a mix-up is refused.
    const iss = answer.searchParams.get('iss');
    if (metadata.authorization_response_iss_parameter_supported && iss !== options.issuer) {
      throw new LatchkeyError('unauthenticated', `the authorization response came from ${iss ?? 'an unnamed issuer'}, not ${options.issuer}`);
    }
    const error = answer.searchParams.get('error');
    if (error) {
      const description = answer.searchParams.get('error_description');
      const message = `the authorization was refused (${error}${description ? `: ${description}` : ''})`;
      throw error === 'access_denied' ? new ForbiddenError(message) : new InputError(message);
    }
    const code = answer.searchParams.get('code');
    if (!code) throw new InputError('the redirect carried neither a code nor an error');
    options.tell('Got the authorization code; exchanging it at the token endpoint.');
    const tokens = await tokenRequest(
      options,
      metadata.token_endpoint,
      new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
    );
    return await verifyTokens(options, metadata, tokens, nonce);
  } finally {
    clearTimeout(timer);
    server.closeAllConnections();
    server.close();
  }
}

/** The result for a person: the token response, then each token's verified claims. */
export function formatPerformResult(result: PerformResult): string {
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  const lines = ['Token response:', json(result.token_response), ''];
  if (result.access_token_claims) lines.push(`Access token claims (signature verified with ${result.verified_with}):`, json(result.access_token_claims), '');
  if (result.access_token_note) lines.push(`Access token: ${result.access_token_note}`, '');
  if (result.id_token_claims) lines.push(`ID token claims (signature verified with ${result.verified_with}):`, json(result.id_token_claims), '');
  return lines.join('\n');
}
