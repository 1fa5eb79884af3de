import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Koa from 'koa';
import { accountRoutes } from './account/routes.ts';
import { adminClientRoutes } from './admin/routes.ts';
import { listenControlSocket } from './cli/control-socket.ts';
import { createOperations } from './cli/operations.ts';
import type { Config } from './config/config.ts';
import { createServices, type Services } from './context.ts';
import { errorHandler } from './http/error-handler.ts';
import { securityHeaders } from './http/security-headers.ts';
import { viewsDir } from './http/views.ts';
import { interactionRoutes } from './interactions/routes.ts';
import { PORTAL_BASE, portalRoutes } from './portal/routes.ts';
import { secondFactorAssets } from './interactions/second-factor-assets.ts';
import { deleteRetiredKeys } from './keys/signing-keys.ts';
import { buildProvider } from './oidc/build.ts';
import { clientMetadataValidator } from './oidc/client-validation.ts';
import { ProviderHolder } from './oidc/provider-holder.ts';
import { statusListFeed } from './revocation/status-list-feed.ts';
import { purgeExpired } from './storage/oidc-adapter.ts';
import { createSecurityOperations } from './security/security-operations.ts';

export interface RunningServer {
  services: Services;
  holder: ProviderHolder;
  url: string;
  close(): Promise<void>;
}

const stylesheet = readFileSync(path.join(viewsDir, 'assets/latchkey.css'));

/** The composition root: storage → provider → Koa app → HTTP listener, plus housekeeping timers. */
export async function startServer(config: Config): Promise<RunningServer> {
  const services = await createServices(config);
  const { logger, db } = services;
  const { provider, cookieKeys, rebuild } = await buildProvider(services);
  const holder = new ProviderHolder(provider);
  // Rate limits, suspensions, audit log, metrics, health, admin API (src/security/security-operations.ts).
  const security = createSecurityOperations(services);
  const observe = (p: typeof provider) => {
    p.on('server_error', (ctx, err) => logger.error({ err, path: ctx.path }, 'oidc-provider server error'));
    security.observeProvider(p);
  };
  observe(provider);

  const stopWatchingKeys = db.onChange((topic) => {
    if (topic !== 'keys') return;
    rebuild()
      .then((next) => {
        observe(next);
        holder.replace(next);
        logger.info('signing keys changed: provider reloaded');
      })
      .catch((err) => logger.error({ err }, 'could not reload signing keys'));
  });

  const app = new Koa({ proxy: config.trustProxy });
  // koa-mount runs oidc-provider with this app's ctx, so its cookies are signed with these keys.
  app.keys = cookieKeys;
  app.silent = true;

  app.use(async (ctx, next) => {
    ctx.state.requestId = randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    await next();
  });
  app.use(securityHeaders({ production: config.production }));
  app.use(errorHandler(logger));
  app.use(security.middleware);
  app.use(secondFactorAssets());
  app.use(async (ctx, next) => {
    if (ctx.path === '/assets/latchkey.css') {
      ctx.type = 'text/css';
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.body = stylesheet;
      return;
    }
    if (ctx.path === '/' && ctx.method === 'GET') return ctx.redirect('/account');
    await next();
  });
  // Token Status Lists: the revocation feed for JWT access tokens (src/revocation/).
  app.use(statusListFeed(services));
  const csrfSecret = cookieKeys[0]!;
  const interactions = interactionRoutes(services, holder, csrfSecret);
  const account = accountRoutes(services, holder, csrfSecret);
  // Developer portal (/developer) and operator control of clients (/admin/api/clients).
  const portal = portalRoutes(services, holder, csrfSecret);
  const adminClients = adminClientRoutes(services, holder);
  // Each router only sees its own paths: token requests skip their route matching.
  for (const [prefix, router] of [
    ['/interaction', interactions],
    ['/account', account],
    [PORTAL_BASE, portal],
    ['/admin/api/clients', adminClients],
  ] as const) {
    const routes: Koa.Middleware<any, any> = router.routes();
    const allowedMethods: Koa.Middleware<any, any> = router.allowedMethods();
    app.use((ctx, next) => (ctx.path === prefix || ctx.path.startsWith(`${prefix}/`) ? routes(ctx, () => allowedMethods(ctx, next)) : next()));
  }
  app.use(holder.middleware());

  // The control socket opens before the HTTP listener: once the server answers HTTP, local
  // tools can already reach it (they would otherwise find the database owned and no socket).
  const closeControlSocket =
    db.kind === 'pglite'
      ? await listenControlSocket(config.dataDir, createOperations(services, clientMetadataValidator(() => holder.current), () => holder.current), logger)
      : async () => {};

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
    Promise.all([purgeExpired(db.sql), deleteRetiredKeys(db), security.purge()])
      .then(([rows, keys, old]) => (rows || keys || old.auditEvents || old.suspensions) && logger.info({ rows, keys, ...old }, 'purged expired rows'))
      .catch((err) => logger.error({ err }, 'purge failed'));
  }, config.purgeIntervalSeconds * 1000);
  housekeeping.unref();

  logger.info({ issuer: config.issuer, port, database: db.kind }, 'Latchkey is listening');

  return {
    services,
    holder,
    url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
    async close() {
      clearInterval(housekeeping);
      stopWatchingKeys();
      await closeControlSocket();
      await security.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await db.close();
    },
  };
}
