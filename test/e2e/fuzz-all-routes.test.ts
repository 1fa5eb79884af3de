/**
 * Every route answers hostile input with a 4xx, never a 5xx (issue 11, item 10). The routes are
 * enumerated, not listed by hand: the koa routers' own stacks (each `…Routes` factory under src/,
 * built with a stand-in for its dependencies — building a router only registers handlers) and
 * oidc-provider's endpoints from discovery. Each route is then tried with every method, hostile
 * path segments, query and body fields (NUL, other control characters, lone surrogates, broken
 * percent-escapes, bytes that are not UTF-8, huge values, JSON where a form is expected and the
 * reverse), anonymous, as a signed-in user with a valid CSRF token, and with the admin API token:
 * first a deterministic sweep (each hostile value at each place of each route), then a
 * fast-check pass of random combinations. Afterwards the server has logged no unhandled error.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/config.ts';
import type { Services } from '../../src/context.ts';
import { routesOfRouter } from '../../src/http/route-table.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import type { ProviderHolder } from '../../src/oidc/provider-holder.ts';
import type { CredentialAttempts } from '../../src/security/credential-attempts.ts';
import type { RateLimits } from '../../src/security/rate-limits.ts';
import { mountedRouters } from '../../src/server.ts';
import { startLatchkey, type Latchkey } from '../support/latchkey.ts';
import { eachAtOnce } from '../support/concurrency.ts';
import { Jar } from '../support/http-session.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const METRICS_TOKEN = randomBytes(24).toString('base64url');
import { TEST_PASSWORD as PASSWORD } from '../support/users.ts';
const EMAIL = 'fuzz@example.com';
const REDIRECT_URI = 'https://notebook.example.com/callback';
const FORM = 'application/x-www-form-urlencoded';
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'];

let latchkey: Latchkey;
let web: { client_id: string; client_secret: string };

interface Route {
  method: string;
  path: string;
}

// ---------------------------------------------------------------------------------------------
// Route enumeration

/** A stand-in for any dependency: every property is itself, every call returns itself. */
function standIn(): unknown {
  const target = function () {} as unknown as object;
  const proxy: object = new Proxy(target, {
    get: (_t, key) => (key === 'then' ? undefined : key === Symbol.toPrimitive ? () => 'stand-in' : proxy),
    apply: () => proxy,
    construct: () => proxy,
  });
  return proxy;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'generated' ? [] : sourceFiles(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

/**
 * The routes of every koa router the server is built from: each module under src/ that exports a
 * `…Routes` factory returning a @koa/router. New route files are found without changing this test.
 */
async function routerRoutes(): Promise<Route[]> {
  const routes: Route[] = [];
  const candidates = sourceFiles(path.join(repoRoot, 'src')).filter((file) => /export function \w+Routes\(/.test(readFileSync(file, 'utf8')));
  for (const file of candidates) {
    const module = (await import(pathToFileURL(file).href).catch(() => undefined)) as Record<string, unknown> | undefined;
    for (const [name, factory] of Object.entries(module ?? {})) {
      if (!/Routes$/.test(name) || typeof factory !== 'function') continue;
      let router: { stack?: Array<{ path: string | RegExp; methods: string[] }> } | undefined;
      try {
        router = (factory as (...args: unknown[]) => typeof router)(standIn(), standIn(), 'csrf-secret', standIn(), standIn(), standIn());
      } catch {
        continue;
      }
      for (const layer of router?.stack ?? []) {
        if (typeof layer.path !== 'string') continue;
        for (const method of layer.methods.length ? layer.methods : ['GET']) routes.push({ method, path: layer.path });
      }
    }
  }
  // …and every router the server mounts, built the way src/server.ts builds them: this also finds
  // routers made by factories of another shape (the admin API's one router per resource).
  const services = { config: loadConfig({ ADMIN_API_TOKEN: 'x'.repeat(32) }) } as unknown as Services;
  const mounted = mountedRouters({ services, holder: {} as ProviderHolder, csrfSecret: 'x'.repeat(32), attempts: {} as CredentialAttempts, limits: {} as RateLimits, metrics: new Metrics() });
  for (const [, router] of mounted) routes.push(...routesOfRouter(router));
  return routes;
}

/** oidc-provider's endpoints as discovery names them, plus the ones it does not advertise. */
async function providerRoutes(): Promise<Route[]> {
  const meta = (await (await fetch(new URL('/.well-known/openid-configuration', latchkey.issuer))).json()) as Record<string, unknown>;
  const endpoints = Object.entries(meta)
    .filter(([key, value]) => (key.endsWith('_endpoint') || key === 'jwks_uri') && typeof value === 'string')
    .map(([, value]) => new URL(value as string).pathname);
  const extra = ['/.well-known/openid-configuration', '/auth/:uid', '/reg/:clientId', '/session/end/confirm', '/session/end/success', '/statuslists/:n', '/metrics', '/healthz', '/readyz', '/',
    // Answered by middleware rather than a router on some versions: named here so they are never missed.
    '/admin/api/security/audit', '/admin/api/security/suspensions', '/admin/api/security/suspensions/:id'];
  return [...endpoints, ...extra].flatMap((p) => [{ method: 'GET', path: p }, { method: 'POST', path: p }]);
}

// ---------------------------------------------------------------------------------------------
// Hostile input

/** Raw text for a URL (already in its on-the-wire form: percent-escapes are sent as they are). */
const HOSTILE_URL_TEXT = ['%00', 'a%00b', '%01', '%7F', '%0A', '%ED%A0%80', '%FF', '%C3', '%E0%A4%A', '%ZZ', '%', '..%2F..%2Fetc%2Fpasswd', '%2F%2F', 'A'.repeat(4000), '%F0%9F%98%80', '-1', '1e309', 'null', '[]', '%7B%22a%22%3A'];
/** Decoded text for bodies. */
const HOSTILE_VALUES = ['\u0000', 'a\u0000b', '\u0001', '\u001B[31m', '\uD800', 'x\uDFFFy', '😀'.slice(0, 1), '%00', '%ZZ', 'A'.repeat(20_000), '-1', '99999999999999999999', 'NaN', 'null', '{}', '[]', '{"a":', "' OR 1=1 --", '<script>alert(1)</script>', '../../etc/passwd', ''];
const FIELD_NAMES = ['csrf', 'email', 'password', 'code', 'recovery_code', 'name', 'description', 'redirect_uris', 'redirect_uri', 'scope', 'grant_type', 'client_id', 'client_secret', 'token', 'refresh_token', 'limit', 'user', 'type', 'cursor', 'since', 'kind', 'subject', 'duration', 'state', 'nonce', 'login_hint', 'ui_locales', 'acr_values', 'claims_locales', 'access:https://x', 'credential', 'roles', 'grant_types', 'logo_uri', 'client_name', 'application_type', 'reason', 'id_token_hint', 'post_logout_redirect_uri', 'logout', 'xsrf'];

/** The path with each `:param` filled: the given raw segment, or a plausible value. */
function fillPath(pattern: string, segment: string | undefined, known: Record<string, string>): string {
  return pattern
    .split('/')
    .map((part) => (part.startsWith(':') ? (segment ?? known[part.slice(1)] ?? 'x') : part))
    .join('/');
}

// ---------------------------------------------------------------------------------------------
// A signed-in user, for the handlers behind the sign-in check

let account: { jar: Jar; csrf: string; interaction: string; interactionCsrf: string; interactionJar: Jar };

async function signIn(): Promise<typeof account> {
  const jar = new Jar();
  const get = async (p: string, j = jar) => {
    const res = await fetch(new URL(p, latchkey.issuer), { redirect: 'manual', headers: { cookie: j.header(), accept: 'text/html' } });
    j.store(res);
    return { status: res.status, location: res.headers.get('location'), text: await res.text(), path: new URL(p, latchkey.issuer).pathname };
  };
  const follow = async (first: Awaited<ReturnType<typeof get>>, j = jar) => {
    let answer = first;
    while (answer.location && !answer.location.startsWith(REDIRECT_URI)) {
      const url = new URL(answer.location, latchkey.issuer);
      answer = await get(url.pathname + url.search, j);
    }
    return answer;
  };
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const login = await follow(await get('/account'));
  const res = await fetch(new URL(`${login.path}/login`, latchkey.issuer), {
    method: 'POST', redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': FORM, accept: 'text/html' },
    body: new URLSearchParams({ csrf: csrfOf(login.text), email: EMAIL, password: PASSWORD }).toString(),
  });
  jar.store(res);
  const page = await follow({ status: res.status, location: res.headers.get('location'), text: await res.text(), path: login.path });
  assert.equal(page.path, '/account', 'signed in to the account page');
  // An interaction left open, so its routes (/interaction/:uid/...) are fuzzed with a real uid.
  const interactionJar = new Jar();
  const query = new URLSearchParams({ client_id: web.client_id, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
  const open = await follow(await get(`/auth?${query}`, interactionJar), interactionJar);
  return { jar, csrf: csrfOf(page.text), interaction: open.path.split('/')[2]!, interactionCsrf: csrfOf(open.text), interactionJar };
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  latchkey = await startLatchkey({
    ADMIN_API_TOKEN: ADMIN_TOKEN,
    METRICS_TOKEN,
    MFA_REQUIRED: 'none',
    // The fuzz sends thousands of requests from one address: limits and lock-outs would only
    // hide handlers behind 429s (they are tested elsewhere).
    RATE_LIMIT_SIGNIN_IP: '1000000/60',
    RATE_LIMIT_SIGNIN_ACCOUNT: '1000000/60',
    RATE_LIMIT_TOKEN_IP: '1000000/60',
    RATE_LIMIT_TOKEN_CLIENT: '1000000/60',
    RATE_LIMIT_REGISTRATION_IP: '1000000/60',
    LOCKOUT_ACCOUNT_IP_FAILURES: '1000000/60',
    LOCKOUT_ACCOUNT_FAILURES: '1000000/60',
    LOCKOUT_CLIENT_FAILURES: '1000000/60',
    LOCKOUT_IP_FAILURES: '1000000/60',
  });
  await latchkey.operate(['user', 'create', '--email', EMAIL, '--password-stdin', '--role', 'developer'], { stdin: PASSWORD });
  web = await latchkey.operate(['client', 'create', '--name', 'Notebook', '--type', 'web', '--redirect-uri', REDIRECT_URI, '--scope', 'openid email']);
  account = await signIn();
});

after(async () => {
  await latchkey?.stop();
});

type Identity = 'anonymous' | 'user' | 'admin';

interface Attempt {
  method: string;
  path: string;
  query?: string;
  body?: { type: string; data: string | Uint8Array<ArrayBuffer> };
  as: Identity;
}

const failures: string[] = [];

/**
 * The headers fetch adds to every request (Node 24), so the sweep's requests read as fetch's did
 * (the answer's format follows accept, the session records the user agent); fetch also asks to
 * close the connection after a HEAD.
 */
const FETCH_HEADERS = { accept: '*/*', 'accept-language': '*', 'sec-fetch-mode': 'cors', 'user-agent': 'node', 'accept-encoding': 'gzip, deflate' };
const keepAlive = new http.Agent({ keepAlive: true });
after(() => keepAlive.destroy());

/**
 * One request over node:http, resolving with the status once the answer is read. Not fetch:
 * under the test runner fetch costs ~0.5 ms of CPU per request, node:http a fifth of that, and
 * the sweep sends over 20,000 on a machine the server shares. The URL is parsed as fetch parses
 * it (WHATWG), and nothing is sent for one it refuses (a TypeError, thrown before any I/O).
 */
function sendRequest(url: string, method: string, headers: Record<string, string>, body?: string | Uint8Array): Promise<number> {
  // With its length, as fetch sends it: node:http would send a DELETE's or OPTIONS' body with neither a length nor chunks.
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const framing = bytes ? { 'content-length': String(bytes.byteLength) } : method === 'HEAD' ? { connection: 'close' } : {};
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: keepAlive, headers: { ...FETCH_HEADERS, ...framing, ...headers } }, (res) => {
      res.on('error', reject).on('end', () => resolve(res.statusCode!)).resume();
    });
    req.on('error', reject).end(bytes);
  });
}

async function attempt(a: Attempt): Promise<void> {
  const headers: Record<string, string> = {};
  if (a.as === 'user') headers.cookie = (a.path.startsWith('/interaction/') ? account.interactionJar : account.jar).header();
  if (a.as === 'admin') headers.authorization = `Bearer ${ADMIN_TOKEN}`;
  if (a.body) headers['content-type'] = a.body.type;
  const url = `${latchkey.issuer}${a.path}${a.query ? `?${a.query}` : ''}`;
  const label = `${a.method} ${url.slice(latchkey.issuer.length, latchkey.issuer.length + 120)} as ${a.as}${a.body ? ` (${a.body.type})` : ''}`;
  const body = a.body && !['GET', 'HEAD'].includes(a.method) ? a.body.data : undefined;
  const send = () => sendRequest(url, a.method, headers, body);
  const sendWithFetch = async () => {
    const res = await fetch(url, { method: a.method, headers, redirect: 'manual', ...(body ? { body } : {}) });
    await res.arrayBuffer();
    return res.status;
  };
  let status: number;
  try {
    // Once more, with fetch, on a connection-level failure: a kept-alive socket the server closed
    // as it idled out is the client's race, not an answer; so is an answer sent before the body
    // was read (a 431 for a long URL, then the connection closed), which fetch reads where
    // node:http reports the reset. A server that broke fails the retry too.
    status = await send().catch((error) => (error instanceof TypeError ? Promise.reject(error) : sendWithFetch()));
  } catch (error) {
    // A URL the client itself refuses to send is not a server answer.
    if (error instanceof TypeError && /Invalid URL|invalid/i.test(String(error.message)) && !(error as { cause?: unknown }).cause) return;
    failures.push(`${label}: no answer (${(error as Error).message}; ${String((error as { cause?: unknown }).cause)})`);
    return;
  }
  if (status >= 500) failures.push(`${label}: ${status}`);
}

function bodyFor(kind: 'form' | 'json' | 'text' | 'bytes', fields: Record<string, string>): { type: string; data: string | Uint8Array<ArrayBuffer> } {
  if (kind === 'json') return { type: 'application/json', data: JSON.stringify(fields) };
  if (kind === 'text') return { type: 'text/plain', data: new URLSearchParams(fields).toString() };
  if (kind === 'bytes') return { type: FORM, data: new Uint8Array([...Buffer.from('csrf=x&email='), 0xff, 0xfe, 0x00, 0xed, 0xa0, 0x80]) };
  return { type: FORM, data: new URLSearchParams(fields).toString() };
}

type Body = ReturnType<typeof bodyFor>;

/**
 * The bodies the sweep sends to each route that takes one, for a given CSRF token: each hostile
 * value in every field (form and JSON), text and raw bytes, and a form and a JSON body over the
 * size limit. Built once per token (two of them) and shared by every route: the largest are ~800 kB.
 */
const sweepBodies = new Map<string, Body[]>();
function bodiesWithCsrf(csrf: string): Body[] {
  let bodies = sweepBodies.get(csrf);
  if (!bodies) {
    bodies = [];
    for (const value of HOSTILE_VALUES) {
      const fields = Object.fromEntries(FIELD_NAMES.map((name) => [name, name === 'csrf' ? csrf : value]));
      for (const kind of ['form', 'json'] as const) bodies.push(bodyFor(kind, fields));
    }
    for (const kind of ['text', 'bytes'] as const) bodies.push(bodyFor(kind, { csrf }));
    bodies.push({ type: FORM, data: `csrf=${csrf}&pad=${'x'.repeat(30 * 1024)}` });
    bodies.push({ type: 'application/json', data: `{"csrf":"${csrf}","pad":"${'x'.repeat(80 * 1024)}"}` });
    sweepBodies.set(csrf, bodies);
  }
  return bodies;
}

/**
 * What an attempt puts on the wire, as a key: two attempts with the same key are the same request.
 * Routes registered for several methods share their path, so the per-path attempts (each method,
 * each query) come out once per method entry; and GET and HEAD send no body, only its type.
 */
function wireKey(a: Attempt, bodyIds: Map<Body, number>): string {
  const sentBody = a.body && !['GET', 'HEAD'].includes(a.method) ? bodyIds.get(a.body) ?? a.body.data.toString() : '';
  return JSON.stringify([a.method, a.path, a.query ?? '', a.as, a.body?.type ?? '', sentBody]);
}

/** Each distinct request once, in first-seen order. */
function distinctRequests(attempts: Attempt[]): Attempt[] {
  const bodyIds = new Map([...sweepBodies.values()].flat().map((body, i) => [body, i] as const));
  const seen = new Set<string>();
  return attempts.filter((a) => {
    const key = wireKey(a, bodyIds);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

let routes: Route[];

test('the routes are enumerated from the routers and from discovery', async () => {
  const own = await routerRoutes();
  const provider = await providerRoutes();
  routes = [...new Map([...own, ...provider].map((r) => [`${r.method} ${r.path}`, r])).values()];
  const paths = new Set(routes.map((r) => r.path));
  for (const expected of ['/interaction/:uid/login', '/interaction/:uid/confirm', '/interaction/:uid/abort', '/interaction/:uid/mfa/continue', '/account/totp/setup', '/token', '/auth', '/reg']) {
    assert.ok(paths.has(expected), `${expected} is not among the ${paths.size} enumerated paths`);
  }
  assert.ok([...paths].some((p) => p.startsWith('/developer')), 'the developer portal');
  assert.ok([...paths].some((p) => p.startsWith('/admin/api/clients')), 'the admin API');
});

test('sweep: each hostile value in each path segment, query field and body field of each route, each method', { timeout: 600_000 }, async (t) => {
  const known = { uid: account.interaction, id: web.client_id, clientId: web.client_id, n: '0' };
  const attempts: Attempt[] = [];
  for (const route of routes) {
    const identities: Identity[] = route.path.startsWith('/admin') ? ['admin', 'anonymous'] : ['user', 'anonymous'];
    const csrf = route.path.startsWith('/interaction/') ? account.interactionCsrf : account.csrf;
    for (const as of identities) {
      for (const method of METHODS) attempts.push({ method, path: fillPath(route.path, undefined, known), as });
      if (route.path.includes(':')) for (const segment of HOSTILE_URL_TEXT) attempts.push({ method: route.method, path: fillPath(route.path, segment, known), as });
      for (const raw of HOSTILE_URL_TEXT) {
        const field = FIELD_NAMES[raw.length % FIELD_NAMES.length]!;
        attempts.push({ method: 'GET', path: fillPath(route.path, undefined, known), query: `${field}=${raw}&limit=${raw}&user=${raw}`, as });
        attempts.push({ method: 'GET', path: fillPath(route.path, undefined, known), query: `${raw}=1`, as });
      }
      if (route.method !== 'GET') {
        for (const body of bodiesWithCsrf(csrf)) attempts.push({ method: route.method, path: fillPath(route.path, undefined, known), body, as });
      }
    }
  }
  const requests = distinctRequests(attempts);
  t.diagnostic(`${requests.length} distinct requests (${attempts.length} attempts, ${routes.length} routes)`);
  await eachAtOnce(requests, 8, attempt);
  assert.deepEqual(failures, [], `${failures.length} of ${requests.length} distinct requests (${attempts.length} attempts) answered 5xx or not at all`);
});

test('fast-check: random combinations of method, route, segments, query and body', { timeout: 600_000 }, async (t) => {
  // test/run.ts gives both database passes the same seed, new each run; a file run alone draws its own.
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
  assert.ok(Number.isSafeInteger(seed), `FUZZ_SEED is a whole number, not ${process.env.FUZZ_SEED}`);
  t.diagnostic(`fast-check seed ${seed}`);
  const known = { uid: account.interaction, id: web.client_id, clientId: web.client_id, n: '0' };
  failures.length = 0; // this pass reports its own
  const text = fc.oneof(fc.constantFrom(...HOSTILE_VALUES), fc.string({ maxLength: 64 }), fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ unit: 'grapheme', maxLength: 32 }));
  const fields = fc.dictionary(fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string({ maxLength: 12 })), text, { maxKeys: 8 });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...routes),
      fc.constantFrom(...METHODS),
      fc.option(fc.constantFrom(...HOSTILE_URL_TEXT), { nil: undefined }),
      fields,
      fc.option(fc.constantFrom('form', 'json', 'text', 'bytes') as fc.Arbitrary<'form' | 'json' | 'text' | 'bytes'>, { nil: undefined }),
      fc.constantFrom<Identity>('anonymous', 'user', 'admin'),
      async (route, method, segment, query, kind, as) => {
        const before = failures.length;
        await attempt({
          method,
          path: fillPath(route.path, segment, known),
          query: new URLSearchParams(query).toString(),
          ...(kind ? { body: bodyFor(kind, { csrf: route.path.startsWith('/interaction/') ? account.interactionCsrf : account.csrf, ...query }) } : {}),
          as,
        });
        return failures.length === before;
      },
    ),
    { numRuns: 1500, seed },
  );
  assert.deepEqual(failures, []);
});

test('afterwards: the server logged no unhandled error and no server error', () => {
  const log = latchkey.output();
  const errors = log.split('\n').filter((line) => /unhandled error|oidc-provider server error|"level":(50|60)/.test(line));
  assert.deepEqual(errors.map((l) => l.slice(0, 600)), []);
});
