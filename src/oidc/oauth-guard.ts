import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from '../logger.ts';
import { bufferedBody } from '../http/edge-input.ts';
import { basicChallenge } from './client-authentication-challenge.ts';
import { PROVIDER_PATHS } from './provider-routes.ts';
import { keyOf, type RateLimits } from '../security/rate-limits.ts';
import { requestFields } from '../security/security-events.ts';
import { clientIpSubject, secondsLeft, type SuspensionKind, type Suspensions } from '../security/suspensions.ts';
import type { ThrottleReason } from '../security/throttle-tally.ts';

/**
 * The guard in front of oidc-provider's client endpoints: suspensions and budgets before the
 * provider runs, failure counting after it has said so. It sits behind the canonical-path
 * refusal (src/http/canonical-path.ts), so the exact paths below are the only spellings that
 * reach the provider's token, introspection, revocation, PAR and registration endpoints.
 *
 * Who abuses it and what stops them:
 * - a client (or anyone) flooding the token endpoint: per-address and per-(client, address)
 *   budgets, 429 with Retry-After; the 429s reach the audit log as one count per address and
 *   minute (src/security/throttle-tally.ts), not one row each;
 * - a stranger sending wrong secrets for a known client_id: the failures are counted per
 *   (client, address) and per address, so the lock-out lands on the stranger's address and the
 *   real client, elsewhere, keeps getting tokens with its real secret;
 * - an operator's manual `suspend --kind client` refuses the client everywhere (invalid_client).
 */
const CLIENT_ENDPOINTS: ReadonlySet<string> = new Set([
  PROVIDER_PATHS.token,
  PROVIDER_PATHS.introspection,
  PROVIDER_PATHS.revocation,
  PROVIDER_PATHS.pushedAuthorizationRequest,
]);

/** oidc-provider's events that report a failed request to a client endpoint, with the error. */
const FAILURE_EVENTS = ['grant.error', 'introspection.error', 'revocation.error', 'pushed_authorization_request.error'] as const;
const COUNTED_ERRORS = new Set(['invalid_client', 'invalid_grant']);

const CLAIMED = Symbol('claimedClientId');
/** The failure count a provider event started for this request: awaited before the answer leaves. */
const COUNTING = Symbol('failureCounting');

interface Deps {
  issuer: string;
  limits: RateLimits;
  suspensions: Suspensions;
  logger: Logger;
  onSuspendedRefusal?: (kind: SuspensionKind) => void;
  /** Every 429 this guard answers, with the address it refused (the audit log's per-minute tally). */
  onThrottled?: (ip: string, reason: ThrottleReason) => void;
}

export function createOAuthGuard({ issuer, limits, suspensions, logger, onSuspendedRefusal = () => {}, onThrottled = () => {} }: Deps) {
  const refuse = (ctx: Context, status: number, error: string, description: string, retryAfter?: number) => {
    ctx.status = status;
    if (retryAfter) ctx.set('Retry-After', String(retryAfter));
    // A 401 names its scheme, as oidc-provider's own client-authentication failures do (RFC 6749 §5.2).
    if (status === 401) ctx.set('WWW-Authenticate', basicChallenge({ realm: issuer, error, error_description: description }));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error, error_description: description };
  };

  const middleware: Middleware = async (ctx, next) => {
    if (ctx.method !== 'POST') return next();
    const isRegistration = ctx.path === PROVIDER_PATHS.registration;
    if (!isRegistration && !CLIENT_ENDPOINTS.has(ctx.path)) return next();
    const ip = ctx.ip;
    let clientId: string | undefined;
    if (!isRegistration) {
      clientId = keyOf(claimedClientId(ctx));
      (ctx.state as Record<symbol, unknown>)[CLAIMED] = clientId;
    }
    const suspended = await suspensions.active([
      { kind: 'ip', subject: ip },
      ...(clientId ? [{ kind: 'client' as const, subject: clientId }, { kind: 'client-ip' as const, subject: clientIpSubject(clientId, ip) }] : []),
    ]);
    if (suspended) {
      onSuspendedRefusal(suspended.kind);
      const wait = secondsLeft(suspended);
      if (suspended.kind === 'client') return refuse(ctx, 401, 'invalid_client', `client is temporarily suspended until ${suspended.until} (${suspended.reason})`, wait);
      onThrottled(ip, 'suspended');
      return refuse(ctx, 429, 'temporarily_unavailable', `requests from this address are suspended until ${suspended.until}`, wait);
    }
    const wait = isRegistration
      ? await limits.consume('registration-ip', ip)
      : (await limits.consume('token-ip', ip)) || (clientId ? await limits.consume('token-client', clientIpSubject(clientId, ip)) : 0);
    if (wait) {
      logger.warn({ requestId: ctx.state.requestId, ip }, 'rate limit exceeded');
      onThrottled(ip, 'rate_limited');
      return refuse(ctx, 429, 'temporarily_unavailable', `rate limit exceeded; retry after ${wait} seconds`, wait);
    }
    await next();
    // A lock-out this failure earned is in place before the client hears of the failure.
    await (ctx.state as Record<symbol, Promise<void> | undefined>)[COUNTING];
  };

  /** A failed client authentication or grant, as oidc-provider reports it. */
  const countFailure = async (ctx: Context, error: string) => {
    const ip = ctx.ip;
    const clientId = ((ctx.state as Record<symbol, unknown>)[CLAIMED] as string | undefined) ?? keyOf(ctx.oidc?.client?.clientId);
    const escalate = async (kind: SuspensionKind, subject: string, reason: string) => {
      const s = await suspensions.escalate(kind, subject, reason, { ...requestFields(ctx), ...(clientId ? { clientId } : {}) });
      logger.warn({ requestId: ctx.state.requestId, kind, level: s.level, until: s.until }, 'temporary suspension');
    };
    if (clientId) {
      const pair = clientIpSubject(clientId, ip);
      if (await limits.countFailure('fail-client', pair)) await escalate('client-ip', pair, `burst of ${error} answers for this client from this address`);
    }
    if (await limits.countFailure('fail-ip', ip)) await escalate('ip', ip, `burst of ${error} answers from this address`);
  };

  const observe = (provider: Provider) => {
    for (const name of FAILURE_EVENTS) {
      (provider.on as (event: string, listener: (ctx: Context, err: { error?: string }) => void) => Provider)(name, (ctx, err) => {
        if (!err?.error || !COUNTED_ERRORS.has(err.error)) return;
        (ctx.state as Record<symbol, Promise<void>>)[COUNTING] = countFailure(ctx, err.error).catch((failure) =>
          logger.error({ err: failure }, 'could not count a failed client request'),
        );
      });
    }
  };

  return { middleware, observe };
}

/**
 * The client a request claims to be (unverified: used only as a limiter and suspension key):
 * from HTTP Basic, the body's client_id, or a client assertion's `sub`. The body is the one the
 * edge already read and checked (src/http/edge-input.ts). Undefined when none is claimed.
 */
function claimedClientId(ctx: Context): string | undefined {
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
  const body = ctx.is('application/x-www-form-urlencoded') ? bufferedBody(ctx) : undefined;
  if (!body) return undefined;
  const params = new URLSearchParams(body.toString('utf8'));
  const id = params.get('client_id');
  if (id) return id.slice(0, 200);
  const assertion = params.get('client_assertion');
  if (!assertion) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown; iss?: unknown };
    const sub = typeof payload.sub === 'string' ? payload.sub : typeof payload.iss === 'string' ? payload.iss : undefined;
    return sub?.slice(0, 200);
  } catch {
    return undefined;
  }
}
