import type { Middleware } from 'koa';
import type { RouteTable } from '../http/route-table.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from './metrics.ts';

/**
 * One log line and the request metrics per request. The route label is the pattern of the
 * registered route the path matches (src/http/route-table.ts) or `other`: a closed list, so junk
 * URLs cannot grow the metrics. Never the raw URL in the log either: its query may hold codes.
 */
const QUIET = new Set(['/healthz', '/metrics']);

export function requestLog(metrics: Metrics, routes: RouteTable, logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const route = routes.patternOf(ctx.path) ?? 'other';
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.requests.inc({ route, method: ctx.method.length <= 7 ? ctx.method : 'other', status: String(ctx.status) });
      metrics.latency.observe({ route }, seconds);
      if (!QUIET.has(route)) {
        logger.info({ requestId: ctx.state.requestId, method: ctx.method, route, status: ctx.status, ms: Math.round(seconds * 1000), ip: ctx.ip }, 'request');
      }
    }
  };
}
