import { Readable } from 'node:stream';
import type { Context, Middleware, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Services } from '../context.ts';
import { bearerToken, constantTimeEqual } from '../http/constant-time.ts';
import { readForm } from '../http/form-body.ts';
import { readJson } from '../http/json-body.ts';
import { renderView } from '../http/views.ts';
import { Metrics, routeLabel } from '../observability/metrics.ts';
import { migrationStatus } from '../storage/migrator.ts';
import { AuditQueryError, parseSince, purgeAuditEvents, queryAudit, recordAuditEvents } from './audit-log.ts';
import { RateLimits, type LimitName } from './rate-limits.ts';
import { requestFields } from './security-events.ts';
import { accountIpSubject, normalizeEmail, parseDuration, SUSPENSION_KINDS, Suspensions, type ActiveSuspension, type SuspensionKind } from './suspensions.ts';

/**
 * Security operations for the HTTP server: request logs and metrics, health, rate limits and
 * temporary suspensions in front of sign-in and the OAuth endpoints, the audit log and the
 * admin API. Installed by src/server.ts; everything keys on paths so the routers stay unaware.
 */
const TOKEN_PATHS = new Set(['/token', '/token/introspection', '/token/revocation', '/request']);
const MAX_OAUTH_BODY = 56 * 1024;
/** Interaction POSTs that are not credential checks. */
const NOT_CREDENTIAL_STEPS = new Set(['confirm', 'abort', 'webauthn/options', 'mfa/continue']);

/** Pure: a value safe to use as a limiter or suspension key (PostgreSQL text refuses NUL). */
export function keyOf(value: string | undefined | null): string | undefined {
  const cleaned = Buffer.from(value ?? '', 'utf8').toString('utf8').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 200);
  return cleaned || undefined;
}

export function createSecurityOperations(services: Services) {
  const { config, db, events, logger } = services;
  const metrics = new Metrics();
  const limits = new RateLimits(config, db);
  const suspensions = new Suspensions(db, events, config.security.lockout);
  const audit = recordAuditEvents(services);
  const stopMetrics = metrics.observe(events);

  const retryAfterText = (seconds: number) => (seconds >= 120 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} seconds`);
  const secondsUntil = (s: ActiveSuspension) => Math.max(1, Math.ceil((Date.parse(s.until) - Date.now()) / 1000));

  /** OAuth endpoints keep their JSON error shape. */
  const oauthRefusal = (ctx: Context, status: number, error: string, description: string, retryAfter?: number) => {
    ctx.status = status;
    if (retryAfter) ctx.set('Retry-After', String(retryAfter));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error, error_description: description };
  };

  const pageRefusal = (ctx: Context, retryAfter: number, message: string) => {
    ctx.status = 429;
    ctx.set('Retry-After', String(retryAfter));
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = renderView('error', { title: 'Too many attempts', heading: 'Too many attempts', message, code: 'too_many_attempts' });
  };

  const limited = async (ctx: Context, name: LimitName, key: string | undefined): Promise<number> => {
    if (!key) return 0;
    const wait = await limits.consume(name, key);
    if (wait) {
      metrics.rateLimited.inc({ limit: name });
      logger.warn({ requestId: ctx.state.requestId, limit: name, ip: ctx.ip }, 'rate limit exceeded');
    }
    return wait;
  };

  const escalate = async (ctx: Context, kind: SuspensionKind, subject: string, reason: string, extra: { userId?: string; clientId?: string } = {}) => {
    const s = await suspensions.escalate(kind, subject, reason, { ...requestFields(ctx), ...extra });
    logger.warn({ requestId: ctx.state.requestId, kind, level: s.level, until: s.until }, 'temporary suspension');
  };

  // ---- sign-in and second-factor steps -------------------------------------------------

  const interactionGuard = async (ctx: Context, next: Next, step: string) => {
    const ip = ctx.ip;
    const form = await readForm(ctx);
    const email = step === 'login' ? (keyOf(normalizeEmail(form.get('email') ?? '')) ?? '') : '';
    const candidates: Array<{ kind: SuspensionKind; subject: string }> = [{ kind: 'ip', subject: ip }];
    if (email) candidates.push({ kind: 'account', subject: email }, { kind: 'account-ip', subject: accountIpSubject(email, ip) });
    const suspended = await suspensions.active(candidates);
    if (suspended) {
      metrics.suspendedRefusals.inc({ kind: suspended.kind });
      const wait = secondsUntil(suspended);
      events.emit({ type: 'signin.locked', details: { step, kind: suspended.kind, until: suspended.until, ...(email ? { email } : {}) }, ...requestFields(ctx) });
      return pageRefusal(ctx, wait, `Too many failed attempts. Try again in ${retryAfterText(wait)}.`);
    }
    const wait = (await limited(ctx, 'signin-ip', ip)) || (email ? await limited(ctx, 'signin-account', email) : 0);
    if (wait) {
      events.emit({ type: 'signin.throttled', details: { step, ...(email ? { email } : {}) }, ...requestFields(ctx) });
      return pageRefusal(ctx, wait, `Too many attempts. Try again in ${retryAfterText(wait)}.`);
    }
    await next();
    // A credential step that fails answers 401 (login) or 4xx with the form again; success redirects.
    if (ctx.status === 401 || (step !== 'login' && ctx.status >= 400 && ctx.status < 500 && ctx.status !== 403)) {
      const fields = { userId: undefined };
      if (email && (await limits.countFailure('fail-account-ip', accountIpSubject(email, ip)))) {
        await escalate(ctx, 'account-ip', accountIpSubject(email, ip), 'repeated failed sign-ins for this account from this address', fields);
      }
      if (email && (await limits.countFailure('fail-account', email))) {
        await escalate(ctx, 'account', email, 'repeated failed sign-ins for this account', fields);
      }
      if (await limits.countFailure('fail-ip', ip)) await escalate(ctx, 'ip', ip, 'repeated failed sign-ins from this address');
    } else if (email && ctx.status >= 300 && ctx.status < 400) {
      await limits.reset('fail-account-ip', accountIpSubject(email, ip));
    }
  };

  // ---- OAuth endpoints ------------------------------------------------------------------

  const oauthGuard = async (ctx: Context, next: Next) => {
    const ip = ctx.ip;
    const isRegistration = ctx.path === '/reg';
    const claimed = isRegistration ? undefined : await claimedClientId(ctx);
    const clientId = claimed === null ? null : keyOf(claimed);
    if (clientId === null) return oauthRefusal(ctx, 413, 'invalid_request', 'The request body is too large.');
    const suspended = await suspensions.active([{ kind: 'ip', subject: ip }, ...(clientId ? [{ kind: 'client' as const, subject: clientId }] : [])]);
    if (suspended) {
      metrics.suspendedRefusals.inc({ kind: suspended.kind });
      const wait = secondsUntil(suspended);
      if (suspended.kind === 'client') {
        return oauthRefusal(ctx, 401, 'invalid_client', `client is temporarily suspended until ${suspended.until} (${suspended.reason})`, wait);
      }
      return oauthRefusal(ctx, 429, 'temporarily_unavailable', `requests from this address are suspended until ${suspended.until}`, wait);
    }
    const wait = isRegistration
      ? await limited(ctx, 'registration-ip', ip)
      : (await limited(ctx, 'token-ip', ip)) || (await limited(ctx, 'token-client', clientId));
    if (wait) return oauthRefusal(ctx, 429, 'temporarily_unavailable', `rate limit exceeded; retry after ${wait} seconds`, wait);
    await next();
    const error = (ctx.body as { error?: unknown } | undefined)?.error;
    if (error === 'invalid_client' || error === 'invalid_grant') {
      if (clientId && (await limits.countFailure('fail-client', clientId))) {
        await escalate(ctx, 'client', clientId, `burst of ${error} answers`, { clientId });
      }
      if (await limits.countFailure('fail-ip', ip)) await escalate(ctx, 'ip', ip, `burst of ${error} answers from this address`);
    }
  };

  // ---- operations endpoints -------------------------------------------------------------

  const bearerMatches = (ctx: Context, expected: string | undefined) =>
    Boolean(expected && constantTimeEqual(bearerToken(ctx.get('authorization')) ?? '', expected));

  const metricsEndpoint = async (ctx: Context) => {
    if (!config.security.metricsToken) return ctx.throw(404);
    if (!bearerMatches(ctx, config.security.metricsToken)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'invalid_token' };
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };

  const readiness = async (ctx: Context) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      const status = await Promise.race([
        migrationStatus(db.sql),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('database timeout')), 3000).unref()),
      ]);
      if (status.pending.length) {
        ctx.status = 503;
        ctx.body = { status: 'unavailable', reason: 'migrations pending', pending: status.pending };
        return;
      }
      ctx.body = { status: 'ready', database: db.kind };
    } catch (err) {
      logger.warn({ err, requestId: ctx.state.requestId }, 'readiness check failed');
      ctx.status = 503;
      ctx.body = { status: 'unavailable', reason: 'database unreachable' };
    }
  };

  const adminApi = async (ctx: Context) => {
    if (!config.security.adminApiToken) return ctx.throw(404);
    ctx.set('Cache-Control', 'no-store');
    if (!bearerMatches(ctx, config.security.adminApiToken)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="admin"');
      ctx.body = { error: 'invalid_token', error_description: 'the admin API needs ADMIN_API_TOKEN as a bearer token' };
      return;
    }
    const sub = ctx.path.slice('/admin/api/security'.length);
    const q = ctx.query as Record<string, string | undefined>;
    try {
      if (sub === '/audit' && ctx.method === 'GET') {
        ctx.body = await queryAudit(db.prisma, {
          type: q.type,
          user: q.user,
          client: q.client,
          since: q.since ? parseSince(q.since) : undefined,
          limit: q.limit ? Number(q.limit) : undefined,
          cursor: q.cursor,
        });
        return;
      }
      if (sub === '/suspensions' && ctx.method === 'GET') {
        ctx.body = { suspensions: await suspensions.list({ all: q.all === 'true' }) };
        return;
      }
      if (sub === '/suspensions' && ctx.method === 'POST') {
        const body = await readAdminJson(ctx);
        const kind = String(body.kind ?? '') as SuspensionKind;
        const seconds = parseDuration(String(body.duration ?? ''));
        if (!SUSPENSION_KINDS.includes(kind) || !body.subject || !seconds) throw new AuditQueryError('kind (account|account-ip|client|ip), subject and duration (e.g. 15m) are required');
        const created = await suspensions.suspend(kind, String(body.subject).slice(0, 300), seconds, String(body.reason ?? 'suspended by an administrator'), 'admin-api');
        ctx.status = 201;
        ctx.body = created;
        return;
      }
      if (sub === '/suspensions/lift' && ctx.method === 'POST') {
        const body = await readAdminJson(ctx);
        const kind = body.kind as SuspensionKind | undefined;
        if (!body.id && !(kind && SUSPENSION_KINDS.includes(kind) && body.subject)) throw new AuditQueryError('id, or kind and subject, are required');
        ctx.body = { lifted: await suspensions.lift({ id: body.id as string | undefined, kind, subject: body.subject as string | undefined }, 'admin-api') };
        return;
      }
    } catch (error) {
      if (error instanceof AuditQueryError || error instanceof SyntaxError) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: error.message };
        return;
      }
      throw error;
    }
    ctx.status = 404;
    ctx.body = { error: 'not_found' };
  };

  /** The one middleware src/server.ts installs, right after the error handler. */
  const middleware: Middleware = async (ctx, next) => {
    const started = process.hrtime.bigint();
    const route = routeLabel(ctx.path);
    try {
      if (ctx.path === '/healthz') {
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { status: 'ok' };
        return;
      }
      if (ctx.path === '/readyz') return await readiness(ctx);
      if (ctx.path === '/metrics') return await metricsEndpoint(ctx);
      if (ctx.path.startsWith('/admin/api/security/')) return await adminApi(ctx);
      if (ctx.method === 'POST') {
        const step = /^\/interaction\/[^/]+\/([a-z0-9_/-]{1,60})$/.exec(ctx.path)?.[1];
        if (step && !NOT_CREDENTIAL_STEPS.has(step)) return await interactionGuard(ctx, next, step);
        if (TOKEN_PATHS.has(ctx.path) || ctx.path === '/reg') return await oauthGuard(ctx, next);
      }
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.requests.inc({ route, method: ctx.method.length <= 7 ? ctx.method : 'other', status: String(ctx.status) });
      metrics.latency.observe({ route }, seconds);
      if (route !== '/healthz' && route !== '/metrics') {
        // Never the raw URL: its query may hold codes or tokens.
        logger.info({ requestId: ctx.state.requestId, method: ctx.method, route, status: ctx.status, ms: Math.round(seconds * 1000), ip: ctx.ip }, 'request');
      }
    }
  };

  /** Token issuance and revocation, from oidc-provider's events (identifiers and metadata only). */
  const observeProvider = (provider: Provider) => {
    const fields = (ctx: { ip: string; get(n: string): string; state: Record<string, unknown> }) => requestFields(ctx);
    provider.on('grant.success', (ctx) => {
      const grantType = String(ctx.oidc.params?.grant_type ?? 'unknown');
      metrics.tokens.inc({ grant_type: grantType.slice(0, 60) });
      const at = ctx.oidc.entities.AccessToken ?? ctx.oidc.entities.ClientCredentials;
      const accountId = ctx.oidc.entities.Account?.accountId ?? (at as { accountId?: string } | undefined)?.accountId;
      events.emit({
        type: 'token.issued',
        actor: ctx.oidc.client ? `client:${ctx.oidc.client.clientId}` : undefined,
        userId: accountId,
        clientId: ctx.oidc.client?.clientId,
        details: {
          grantType,
          grantId: (at as { grantId?: string } | undefined)?.grantId,
          scope: (at as { scope?: string } | undefined)?.scope,
          audience: (at as { aud?: unknown } | undefined)?.aud,
          refreshToken: Boolean(ctx.oidc.entities.RefreshToken) || undefined,
          dpop: Boolean(ctx.oidc.entities.AccessToken?.jkt ?? ctx.oidc.entities.ClientCredentials?.jkt) || undefined,
        },
        ...fields(ctx),
      });
    });
    provider.on('grant.error', (ctx, err) => {
      const grantType = String(ctx.oidc?.params?.grant_type ?? 'unknown').slice(0, 60);
      const error = String((err as { error?: string }).error ?? 'server_error');
      metrics.tokenErrors.inc({ grant_type: grantType, error });
      events.emit({
        type: 'token.failed',
        clientId: ctx.oidc?.client?.clientId ?? (typeof ctx.oidc?.params?.client_id === 'string' ? ctx.oidc.params.client_id.slice(0, 200) : undefined),
        details: { grantType, error, description: String((err as { error_description?: string }).error_description ?? '').slice(0, 200) },
        ...fields(ctx),
      });
    });
    provider.on('grant.revoked', (ctx, grantId) => {
      events.emit({ type: 'grant.revoked', clientId: ctx.oidc?.client?.clientId, details: { grantId }, ...fields(ctx) });
    });
    provider.on('revocation.error', (ctx, err) => {
      events.emit({ type: 'token.revocation_failed', clientId: ctx.oidc?.client?.clientId, details: { error: (err as { error?: string }).error }, ...fields(ctx) });
    });
    provider.on('introspection.error', (ctx, err) => {
      events.emit({ type: 'token.introspection_failed', clientId: ctx.oidc?.client?.clientId, details: { error: (err as { error?: string }).error }, ...fields(ctx) });
    });
    provider.on('pushed_authorization_request.success', (ctx) => {
      events.emit({ type: 'par.accepted', clientId: ctx.oidc?.client?.clientId, ...fields(ctx) });
    });
    provider.on('end_session.success', (ctx) => {
      events.emit({ type: 'session.ended', userId: ctx.oidc?.session?.accountId, clientId: ctx.oidc?.client?.clientId, ...fields(ctx) });
    });
  };

  return {
    metrics,
    limits,
    suspensions,
    middleware,
    observeProvider,
    /** Housekeeping: audit retention and old suspensions. */
    async purge(): Promise<{ auditEvents: number; suspensions: number }> {
      const [auditEvents, old] = await Promise.all([purgeAuditEvents(db.prisma, config.security.auditRetentionDays), suspensions.purge()]);
      return { auditEvents, suspensions: old };
    },
    async close() {
      stopMetrics();
      await audit.flush();
      audit.stop();
    },
  };
}

export type SecurityOperations = ReturnType<typeof createSecurityOperations>;

/** The admin API's JSON body, at most 16 KiB; anything else is a 400. */
async function readAdminJson(ctx: Context): Promise<Record<string, unknown>> {
  const body = await readJson(ctx, 16 * 1024);
  if (!body) throw new AuditQueryError('expected a JSON object of at most 16 KiB');
  return body;
}

/**
 * The client a token-endpoint request claims to be (unverified: used only as a rate-limit and
 * suspension key): from HTTP Basic, the body's client_id, or a client assertion's `sub`.
 * Reading the body means handing oidc-provider an identical stream afterwards. Undefined when
 * none is claimed; null when the body is over oidc-provider's own limit.
 */
async function claimedClientId(ctx: Context): Promise<string | undefined | null> {
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(ctx.get('authorization'))?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const id = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : '';
    try {
      if (id) return decodeURIComponent(id).slice(0, 200);
    } catch {
      return id.slice(0, 200);
    }
  }
  if (!ctx.is('application/x-www-form-urlencoded')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > MAX_OAUTH_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const replay = Readable.from([body]);
  Object.defineProperty(ctx.req, 'readable', { value: true, configurable: true });
  Object.defineProperty(ctx.req, 'iterator', { value: (options?: { destroyOnReturn?: boolean }) => replay.iterator(options), configurable: true });
  Object.defineProperty(ctx.req, Symbol.asyncIterator, { value: () => replay[Symbol.asyncIterator](), configurable: true });
  const params = new URLSearchParams(body.toString('utf8'));
  const id = params.get('client_id');
  if (id) return id.slice(0, 200);
  const assertion = params.get('client_assertion');
  if (assertion) {
    try {
      const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown; iss?: unknown };
      const sub = typeof payload.sub === 'string' ? payload.sub : typeof payload.iss === 'string' ? payload.iss : undefined;
      return sub?.slice(0, 200);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
