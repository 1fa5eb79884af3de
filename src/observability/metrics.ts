import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SecurityEvents } from '../security/security-events.ts';

/**
 * Prometheus metrics, one registry per server. Labels are bounded: a route label is the pattern
 * of the route that matched (src/http/route-table.ts) or `other`, never a raw path; grant types
 * and outcomes come from short known lists. Counters move from the security events, so whoever
 * emits an event need not know about metrics.
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
      } else if (event.type === 'token.issued') {
        this.tokens.inc({ grant_type: closedLabel(event.details?.grantType, GRANT_TYPES) });
      } else if (event.type === 'token.failed') {
        this.tokenErrors.inc({ grant_type: closedLabel(event.details?.grantType, GRANT_TYPES), error: closedLabel(event.details?.error, TOKEN_ERRORS) });
      } else if (event.type === 'suspension.created') {
        const d = event.details ?? {};
        this.suspensions.inc({ kind: String(d.kind ?? 'unknown'), by: event.actor === 'system' ? 'automatic' : 'manual' });
      }
    });
  }
}

/** Label values come from closed lists: anything a client typed becomes `other`. */
const GRANT_TYPES = new Set(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:openid:params:grant-type:ciba']);
const TOKEN_ERRORS = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope', 'invalid_target',
  'invalid_dpop_proof', 'use_dpop_nonce', 'temporarily_unavailable', 'server_error', 'access_denied', 'invalid_token',
]);
export const closedLabel = (value: unknown, allowed: ReadonlySet<string>) => (typeof value === 'string' && allowed.has(value) ? value : 'other');
