import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SecurityEvents } from '../security/security-events.ts';

/**
 * Prometheus metrics, one registry per server. Labels are bounded: routes are normalised to a
 * fixed set (never a raw path), grant types and outcomes come from short known lists.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'latchkey_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly tokens = new Counter({ name: 'latchkey_tokens_issued_total', help: 'Token endpoint successes by grant type', labelNames: ['grant_type'], registers: [this.registry] });
  readonly tokenErrors = new Counter({ name: 'latchkey_token_errors_total', help: 'Token endpoint errors by grant type and error', labelNames: ['grant_type', 'error'], registers: [this.registry] });
  readonly signins = new Counter({ name: 'latchkey_signins_total', help: 'Sign-in and second-factor outcomes', labelNames: ['step', 'outcome'], registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'latchkey_rate_limit_hits_total', help: 'Requests refused by a rate limit', labelNames: ['limit'], registers: [this.registry] });
  readonly suspensions = new Counter({ name: 'latchkey_suspensions_total', help: 'Suspensions created, by kind and origin', labelNames: ['kind', 'by'], registers: [this.registry] });
  readonly suspendedRefusals = new Counter({ name: 'latchkey_suspended_refusals_total', help: 'Requests refused because of a suspension', labelNames: ['kind'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'latchkey_' });
  }

  /** Sign-in, factor and suspension counters from the security events. */
  observe(events: SecurityEvents): () => void {
    return events.on((event) => {
      const [head, ...rest] = event.type.split('.');
      const tail = rest.join('.');
      if (head === 'signin' && ['success', 'failure', 'locked', 'throttled'].includes(tail)) this.signins.inc({ step: 'password', outcome: tail });
      else if ((head === 'factor' || head === 'mfa' || head === 'second_factor') && /(success|failure|verified|failed)$/.test(tail)) {
        this.signins.inc({ step: rest[0] ?? 'factor', outcome: /(success|verified)$/.test(tail) ? 'success' : 'failure' });
      } else if (event.type === 'suspension.created') {
        const d = event.details ?? {};
        this.suspensions.inc({ kind: String(d.kind ?? 'unknown'), by: event.actor === 'system' ? 'automatic' : 'manual' });
      }
    });
  }
}

const PROVIDER_ROUTES = new Set(['/auth', '/token', '/token/introspection', '/token/revocation', '/me', '/jwks', '/request', '/reg', '/session/end', '/session/end/confirm', '/session/end/success', '/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']);

/** Pure: a bounded route label for a request path. */
export function routeLabel(path: string): string {
  if (PROVIDER_ROUTES.has(path)) return path;
  if (path.startsWith('/auth/')) return '/auth/:uid';
  if (path.startsWith('/reg/')) return '/reg/:client_id';
  const interaction = /^\/interaction\/[^/]+((?:\/[a-z0-9_-]{1,30}){0,3})$/.exec(path);
  if (interaction) return `/interaction/:uid${interaction[1] ?? ''}`;
  if (path === '/account' || path.startsWith('/account/')) return path.split('/').slice(0, 3).join('/').slice(0, 40).replace(/\/[^/]*\d[^/]*$/, '/:id');
  if (path.startsWith('/admin/api/')) return `/admin/api/${path.split('/')[3] ?? ''}`.slice(0, 40);
  if (['/metrics', '/healthz', '/readyz', '/', '/assets/latchkey.css'].includes(path)) return path;
  if (path.startsWith('/portal')) return '/portal';
  return 'other';
}
