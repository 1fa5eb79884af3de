import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type Router from '@koa/router';
import Koa from 'koa';
import { accountRoutes } from './account/routes.ts';
import { recordAccountActivity } from './accounts/session-activity.ts';
import { adminApiRouters } from './admin/admin-api.ts';
import { listenControlSocket } from './admin/control-socket.ts';
import { createOperations } from './admin/operation-table.ts';
import type { Config } from './config/config.ts';
import { consoleRoutes } from './console/routes.ts';
import { createServices, type Services } from './context.ts';
import { assetRoutes } from './http/asset-routes.ts';
import { refuseNonCanonicalPaths } from './http/canonical-path.ts';
import { errorHandler } from './http/error-handler.ts';
import { edgeInput } from './http/edge-input.ts';
import { RouteTable, routesOfRouter } from './http/route-table.ts';
import { securityHeaders } from './http/security-headers.ts';
import { purgeEmailTokens } from './accounts/email-token-queries.ts';
import { selfServiceRoutes } from './self-service/routes.ts';
import { interactionRoutes } from './interactions/router.ts';
import { deleteRetiredKeys } from './keys/signing-keys.ts';
import { healthRoutes } from './observability/health-routes.ts';
import { Metrics } from './observability/metrics.ts';
import { requestLog } from './observability/request-log.ts';
import { buildProvider } from './oidc/build.ts';
import { clientMetadataValidator } from './oidc/client-validation.ts';
import { ProviderHolder } from './oidc/provider-holder.ts';
import { PROVIDER_ROUTES } from './oidc/provider-routes.ts';
import { PORTAL_BASE, portalRoutes } from './portal/routes.ts';
import { STATUS_LIST_ROUTES, statusListFeed } from './revocation/status-list-feed.ts';
import { purgeAuditEvents, recordAuditEvents } from './security/audit-log.ts';
import { createThrottleTally } from './security/throttle-tally.ts';
import { createCredentialAttempts, type CredentialAttempts } from './security/credential-attempts.ts';
import { createOAuthGuard } from './oidc/oauth-guard.ts';
import { emitProviderEvents } from './security/provider-events.ts';
import { RateLimits } from './security/rate-limits.ts';
import { Suspensions } from './security/suspensions.ts';
import { LISTENING_MESSAGE } from './logger.ts';
import { purgeExpired } from './storage/payload-queries.ts';

export interface RunningServer {
  services: Services;
  holder: ProviderHolder;
  url: string;
  close(): Promise<void>;
}

/**
 * The composition root: storage → provider → Koa app → HTTP listener, plus housekeeping timers.
 * Request order: request id → log and metrics → security headers → error translation →
 * canonical-path refusal → the routers (each guard inside the route it protects) → the OAuth
 * guard → oidc-provider.
 */
export async function startServer(config: Config): Promise<RunningServer> {
  const services = await createServices(config);
  const { logger, db, events } = services;
  const { provider, cookieKeys, rebuild } = await buildProvider(services);
  const holder = new ProviderHolder(provider);

  const metrics = new Metrics();
  const stopMetrics = metrics.observe(events);
  const audit = recordAuditEvents(services);
  const limits = new RateLimits(config, db, (limit) => metrics.rateLimited.inc({ limit }));
  const suspensions = new Suspensions(db, events, config.security.lockout);
  const attempts = createCredentialAttempts({ db, limits, suspensions, events, logger });
  const throttleTally = createThrottleTally(events);
  const oauthGuard = createOAuthGuard({
    issuer: config.issuer, limits, suspensions, logger,
    onSuspendedRefusal: (kind) => metrics.suspendedRefusals.inc({ kind }),
    onThrottled: (ip, reason) => throttleTally.count(ip, reason),
  });
  const observe = (p: typeof provider) => {
    p.on('server_error', (ctx, err) => logger.error({ err, path: ctx.path }, 'oidc-provider server error'));
    emitProviderEvents(p, events);
    recordAccountActivity(p, services);
    oauthGuard.observe(p);
  };
  observe(provider);

  // Returned, so that notifyChange('keys') (a rotation on this instance) resolves once the new
  // keys are published here.
  const stopWatchingKeys = db.onChange((topic) => {
    if (topic !== 'keys') return;
    return rebuild()
      .then((next) => {
        observe(next);
        holder.replace(next);
        logger.info('signing keys changed: provider reloaded');
      })
      .catch((err) => logger.error({ err }, 'could not reload signing keys'));
  });

  const csrfSecret = cookieKeys[0]!;
  const mounted = mountedRouters({ services, holder, csrfSecret, attempts, limits, metrics });
  const routeTable = serverRouteTable(mounted);

  const app = new Koa({ proxy: config.trustProxyHops > 0, maxIpsCount: config.trustProxyHops });
  // koa-mount runs oidc-provider with this app's ctx, so its cookies are signed with these keys.
  app.keys = cookieKeys;
  app.silent = true;

  app.use(async (ctx, next) => {
    ctx.state.requestId = randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    await next();
  });
  app.use(requestLog(metrics, routeTable, logger));
  app.use(securityHeaders({ production: config.production }));
  app.use(errorHandler(logger));
  // Before anything reads it: no control characters, broken escapes or oversized bodies (src/http/edge-input.ts).
  app.use(edgeInput());
  // Before every guard: one spelling per route (src/http/canonical-path.ts).
  app.use(refuseNonCanonicalPaths(routeTable));
  // Token Status Lists: the revocation feed for JWT access tokens (src/revocation/).
  app.use(statusListFeed(services));
  for (const [matches, router] of mounted) {
    const routes: Koa.Middleware<any, any> = router.routes();
    const allowedMethods: Koa.Middleware<any, any> = router.allowedMethods();
    app.use((ctx, next) => (matches(ctx.path) ? routes(ctx, () => allowedMethods(ctx, next)) : next()));
  }
  app.use(oauthGuard.middleware);
  app.use(holder.middleware());

  // The control socket opens before the HTTP listener: once the server answers HTTP, local
  // tools can already reach it (they would otherwise find the database owned and no socket).
  const closeControlSocket = await listenControlSocket(config, createOperations(services, clientMetadataValidator(() => holder.current), () => holder.current), logger);

  const server = http.createServer(app.callback());
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.port, config.host, resolve));
  } catch (error) {
    await closeControlSocket();
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;

  const housekeeping = setInterval(() => {
    Promise.all([purgeExpired(db.sql), deleteRetiredKeys(db), purgeAuditEvents(db.prisma, config.security.auditRetentionDays), suspensions.purge(), purgeEmailTokens(db.sql)])
      .then(([rows, keys, auditEvents, oldSuspensions, emailLinks]) =>
        (rows || keys || auditEvents || oldSuspensions || emailLinks) && logger.info({ rows, keys, auditEvents, suspensions: oldSuspensions, emailLinks }, 'purged expired rows'))
      .catch((err) => logger.error({ err }, 'purge failed'));
  }, config.purgeIntervalSeconds * 1000);
  housekeeping.unref();

  const listening = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info(
    {
      url: listening,
      issuer: config.issuer,
      port,
      database: db.kind,
      next: `add a user and an app with the latchkey command, then get a token (README, "From nothing to a token"); users sign in at ${config.issuer}/account`,
    },
    LISTENING_MESSAGE,
  );

  return {
    services,
    holder,
    url: listening,
    async close() {
      clearInterval(housekeeping);
      stopWatchingKeys();
      await closeControlSocket();
      stopMetrics();
      throttleTally.stop();
      await audit.flush();
      audit.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await db.close();
    },
  };
}

/** Pure: a path matcher for everything at or under `prefix`. */
function underPrefix(prefix: string): (path: string) => boolean {
  return (path) => path === prefix || path.startsWith(`${prefix}/`);
}

type MountedRouter = [matches: (path: string) => boolean, router: Router];

/**
 * Latchkey's own routers, each with the paths it answers: a router only sees requests for its
 * own paths, so token requests skip their route matching. Exported for the route-variant test,
 * which builds the same list to enumerate every route.
 */
export function mountedRouters(deps: { services: Services; holder: ProviderHolder; csrfSecret: string; attempts: CredentialAttempts; limits: RateLimits; metrics: Metrics }): MountedRouter[] {
  const { services, holder, csrfSecret, attempts, limits, metrics } = deps;
  const mounted: MountedRouter[] = [
    [underPrefix('/interaction'), interactionRoutes(services, holder, csrfSecret, attempts)],
    [underPrefix('/account'), accountRoutes(services, holder, csrfSecret, attempts, limits)],
    [underPrefix(PORTAL_BASE), portalRoutes(services, holder, csrfSecret)],
    // The admin API: one router per resource (users, clients, apis, security, keys) and its OpenAPI document.
    ...adminApiRouters(services, holder, clientMetadataValidator(() => holder.current)).map(([prefix, router]): MountedRouter => [underPrefix(prefix), router]),
    // The operator console: every /admin path but the admin API's.
    [(path) => underPrefix('/admin')(path) && !underPrefix('/admin/api')(path), consoleRoutes(services, holder, csrfSecret)],
  ];
  // Sign-up, invitations and password reset (src/self-service/): a few fixed paths.
  for (const router of [healthRoutes(services, metrics), assetRoutes(), selfServiceRoutes(services, holder, csrfSecret, attempts, limits)]) {
    const paths = new Set(routesOfRouter(router).map((r) => r.path));
    mounted.push([(path) => paths.has(path), router]);
  }
  return mounted;
}

/** Every route the server answers: its routers', the status lists' and oidc-provider's. */
export function serverRouteTable(mounted: MountedRouter[]): RouteTable {
  return new RouteTable([...mounted.flatMap(([, router]) => routesOfRouter(router)), ...PROVIDER_ROUTES, ...STATUS_LIST_ROUTES]);
}
