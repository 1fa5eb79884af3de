import Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../context.ts';
import { bearerToken, constantTimeEqual } from '../crypto/constant-time.ts';
import { databaseReadiness } from '../readiness/database-readiness.ts';
import type { Metrics } from './metrics.ts';

/**
 * /healthz (the process answers), /readyz (the database answers and is migrated) and /metrics
 * (Prometheus, behind METRICS_TOKEN). Anyone may ask /readyz for a yes or no; what database it
 * is and which migrations are pending is told only to a holder of the metrics token.
 */
export function healthRoutes(services: Pick<Services, 'config' | 'db' | 'logger'>, metrics: Metrics): Router {
  const { config, logger } = services;
  const router = new Router({ sensitive: true });
  const metricsToken = config.security.metricsToken;
  const hasMetricsToken = (ctx: Context) => Boolean(metricsToken && constantTimeEqual(bearerToken(ctx.get('authorization')) ?? '', metricsToken));

  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const detailed = hasMetricsToken(ctx);
    const readiness = await databaseReadiness(services);
    if (readiness.ready) {
      ctx.body = detailed ? { status: 'ready', database: readiness.database } : { status: 'ready' };
      return;
    }
    if (readiness.reason === 'database unreachable') logger.warn({ err: readiness.error, requestId: ctx.state.requestId }, 'readiness check failed');
    ctx.status = 503;
    ctx.body = !detailed
      ? { status: 'unavailable' }
      : readiness.reason === 'migrations pending'
        ? { status: 'unavailable', reason: readiness.reason, pending: readiness.pending }
        : { status: 'unavailable', reason: readiness.reason };
  });

  router.get('/metrics', async (ctx) => {
    if (!metricsToken) return ctx.throw(404);
    if (!hasMetricsToken(ctx)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'invalid_token' };
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  return router;
}
