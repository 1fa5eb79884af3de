/**
 * Browserless sign-in for `npm run bench`: drives Latchkey's real HTTP login and consent pages
 * with fetch and a tiny cookie jar (name, value and path honoured; expiry and domain ignored —
 * everything is one loopback origin), then redeems the code with PKCE at POST /token.
 *
 *   GET /auth → 303 /interaction/<uid> → GET that page (csrf scraped)
 *   → POST /interaction/<uid>/login (csrf, email, password) → redirects …
 *   → [consent page → POST /interaction/<uid>/confirm (csrf, access:<audience>=read-write)] → redirects …
 *   → the redirect URI with ?code=… (captured, not followed) → POST /token
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { LoadResult } from './load.ts';

const b64url = (b: Buffer) => b.toString('base64url');

export class CookieJar {
  private cookies: Array<{ name: string; value: string; path: string }> = [];

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      let path = '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v = ''] = a.trim().split('=');
        if (k!.toLowerCase() === 'path') path = v || '/';
        if (k!.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
        if (k!.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
      if (!expired) this.cookies.push({ name, value, path });
    }
  }

  header(url: URL): string {
    const p = url.pathname;
    return this.cookies
      .filter((c) => c.path === '/' || p === c.path || p.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

export interface WebClient {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export interface SignInOptions {
  email: string;
  password: string;
  scope: string;
  resource: string;
  /** prompt=consent and answer the consent page with read-write; without it a consent page is an error. */
  consent: boolean;
}

export interface SignInResult {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  sawConsent: boolean;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

function scrape(html: string, name: string): string | undefined {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
}

/** One complete sign-in; throws with a short reason when any step is not what a user would see. */
export async function signIn(client: WebClient, o: SignInOptions): Promise<SignInResult> {
  const jar = new CookieJar();
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = b64url(randomBytes(12));
  const auth = new URL(`${client.issuer}/auth`);
  for (const [k, v] of Object.entries({
    client_id: client.clientId,
    response_type: 'code',
    redirect_uri: client.redirectUri,
    scope: o.scope,
    resource: o.resource,
    state,
    nonce: b64url(randomBytes(12)),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(o.consent ? { prompt: 'consent' } : {}),
  }))
    auth.searchParams.set(k, v);

  const request = async (url: URL, init: { method?: string; form?: Record<string, string> } = {}) => {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: {
        cookie: jar.header(url),
        accept: 'text/html',
        ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    jar.store(res);
    return res;
  };

  let url = auth;
  let res = await request(url);
  let sawLogin = false;
  let sawConsent = false;
  for (let step = 0; step < 12; step++) {
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      const next = new URL(res.headers.get('location')!, url);
      if (next.href.startsWith(client.redirectUri)) {
        const error = next.searchParams.get('error');
        if (error) throw new Error(`redirected with error=${error}: ${next.searchParams.get('error_description')}`);
        if (next.searchParams.get('state') !== state) throw new Error('state mismatch');
        return redeem(client, next.searchParams.get('code')!, verifier, o.resource, sawConsent);
      }
      url = next;
      res = await request(url);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status} at ${url.pathname}: ${html.replace(/\s+/g, ' ').slice(0, 200)}`);
    const uid = /\/interaction\/([^/"]+)\/(login|confirm)"/.exec(html)?.[1];
    const csrf = scrape(html, 'csrf');
    if (!uid || !csrf) throw new Error(`unexpected page at ${url.pathname}: ${html.replace(/\s+/g, ' ').slice(0, 200)}`);
    if (html.includes(`/interaction/${uid}/login"`)) {
      if (sawLogin) throw new Error('login page shown twice (wrong password?)');
      sawLogin = true;
      url = new URL(`/interaction/${uid}/login`, client.issuer);
      res = await request(url, { method: 'POST', form: { csrf, email: o.email, password: o.password } });
      continue;
    }
    if (!o.consent) throw new Error('consent page shown, but consent should have been remembered');
    sawConsent = true;
    const form: Record<string, string> = { csrf, decision: 'allow' };
    for (const m of html.matchAll(/name="(access:[^"]+)" value="read-write"/g)) form[m[1]!] = 'read-write';
    url = new URL(`/interaction/${uid}/confirm`, client.issuer);
    res = await request(url, { method: 'POST', form });
  }
  throw new Error('the flow never reached the redirect URI');
}

async function redeem(client: WebClient, code: string, verifier: string, resource: string, sawConsent: boolean): Promise<SignInResult> {
  const res = await fetch(`${client.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(client.clientId, client.clientSecret), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, resource }).toString(),
  });
  const body = (await res.json()) as Record<string, string>;
  if (res.status !== 200 || !body.access_token) throw new Error(`code redemption failed (${res.status}): ${JSON.stringify(body).slice(0, 200)}`);
  return { accessToken: body.access_token, refreshToken: body.refresh_token, idToken: body.id_token, sawConsent };
}

/**
 * Closed-loop sign-ins: `concurrency` workers, each signing in as users[worker % users.length]
 * again and again (fresh cookie jar every time, consent remembered) for warm-up + duration.
 * Same result shape as runLoad, one "request" being one whole sign-in.
 */
export async function runSignIns(opts: {
  client: WebClient;
  users: Array<{ email: string; password: string }>;
  scope: string;
  resource: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  onMeasureStart?: () => void;
  onMeasureEnd?: () => void;
}): Promise<LoadResult> {
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  const measureUntil = measureFrom + opts.durationMs;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpuAtEnd: NodeJS.CpuUsage | undefined;
  const startTimer = setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    opts.onMeasureStart?.();
  }, opts.warmupMs);
  const closeWindow = () => {
    if (cpuAtEnd) return;
    cpuAtEnd = process.cpuUsage(cpuAtStart);
    opts.onMeasureEnd?.();
  };
  const endTimer = setTimeout(closeWindow, opts.warmupMs + opts.durationMs);
  const latencies: number[] = [];
  const errorKinds: Record<string, number> = {};
  const errorSamples: string[] = [];
  let errors = 0;
  let errorsOutsideWindow = 0;
  const worker = async (w: number) => {
    const user = opts.users[w % opts.users.length]!;
    while (performance.now() < measureUntil) {
      const sent = performance.now();
      let problem: string | undefined;
      try {
        await signIn(opts.client, { ...user, scope: opts.scope, resource: opts.resource, consent: false });
      } catch (e) {
        problem = (e as Error).message;
      }
      const done = performance.now();
      const inWindow = sent >= measureFrom && done <= measureUntil;
      if (problem) {
        const kind = problem.slice(0, 60);
        if (inWindow) {
          errors++;
          errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
        } else errorsOutsideWindow++;
        if (errorSamples.length < 5) errorSamples.push(problem.slice(0, 300));
      } else if (inWindow) latencies.push(done - sent);
    }
    closeWindow();
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  closeWindow();
  const cpu = cpuAtEnd!;
  const sorted = Float64Array.from(latencies).sort();
  const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]! : NaN);
  const seconds = opts.durationMs / 1000;
  return {
    requests: sorted.length,
    seconds,
    rps: sorted.length / seconds,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    errors,
    errorKinds,
    errorSamples,
    errorsOutsideWindow,
    generatorCpuMs: (cpu.user + cpu.system) / 1000,
    latencies: sorted,
  };
}
