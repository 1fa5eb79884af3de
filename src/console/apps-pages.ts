import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { CLIENT_LIST_FILTERS, listClientsPage } from '../clients/client-list.ts';
import { approveClient, clientStats, deleteClient, rotateSecret, setSuspended, showClient } from '../clients/client-registry.ts';
import { approveMachineAccess } from '../clients/machine-access.ts';
import type { Services } from '../context.ts';
import { InputError, NotFoundError } from '../errors.ts';
import { readForm } from '../http/form-body.ts';
import { queryAudit } from '../security/audit-log.ts';
import { adminOf } from './console-auth.ts';
import { consolePage, consoleText, pageCursor, pageLimit, seeOtherPage, shortTime } from './console-page.ts';
import { timeChart } from './svg-charts.ts';

/**
 * Apps: the list (filters: pending approval, suspended, machine access pending; paged), one
 * app's page (metadata, owner, 30-day activity, grants, recent events) and the operator's
 * actions, each the library call `latchkey client …` makes, with the admin as the actor.
 */
const listQuery = z.object({
  filter: z.enum(CLIENT_LIST_FILTERS).default('all'),
  q: consoleText(200).optional().transform((v) => v || undefined),
  limit: pageLimit,
  cursor: pageCursor.transform((v) => v || undefined),
});
const GRACE_CHOICES = { '0': 0, '3600': 3600, '86400': 86400, '604800': 604_800 } as const;
const rotateForm = z.object({ grace: z.enum(Object.keys(GRACE_CHOICES) as [keyof typeof GRACE_CHOICES]) });
const machineForm = z.object({ api: consoleText(500).min(1) });
const ACTIVITY_DAYS = 30;

/** Pure: one bar per day for the last `days` days (UTC), zero where no token was issued. */
export function dailyBars(days: ReadonlyArray<{ day: string; tokensIssued: number }>, count: number, now = new Date()) {
  const byDay = new Map(days.map((d) => [d.day, d.tokensIssued]));
  return Array.from({ length: count }, (_, i) => {
    const day = new Date(now.getTime() - (count - 1 - i) * 86_400_000).toISOString().slice(0, 10);
    return { label: day, value: byDay.get(day) ?? 0 };
  });
}

const activityChart = (bars: Array<{ label: string; value: number }>) =>
  timeChart(`Tokens issued per day, last ${ACTIVITY_DAYS} days`, [{ name: 'Tokens issued', values: bars.map((b) => b.value), className: 'chart-series-0' }], bars.map((b) => b.label));

const clientIdOf = (ctx: Context) => {
  const id = ctx.params.clientId ?? '';
  if (!id || id.length > 200) throw new NotFoundError('No such app.');
  return id;
};

export function appsRoutes(router: Router, services: Services): void {
  router.get('/apps', async (ctx) => {
    const query = listQuery.parse(ctx.query);
    const page = await listClientsPage(services, { filter: query.filter, search: query.q, limit: query.limit, cursor: query.cursor });
    const keep = { filter: query.filter, ...(query.q ? { q: query.q } : {}), limit: String(query.limit) };
    consolePage(ctx, 'apps', 'apps', {
      title: 'Apps',
      query,
      filters: CLIENT_LIST_FILTERS.map((f) => ({ key: f, label: { all: 'All', pending_approval: 'Pending approval', suspended: 'Suspended', machine_access_pending: 'Machine access pending' }[f] })),
      apps: page.clients.map((c) => ({ ...c, createdText: shortTime(c.created_at) })),
      nextHref: page.next ? `/admin/apps?${new URLSearchParams({ ...keep, cursor: page.next })}` : undefined,
      firstHref: query.cursor ? `/admin/apps?${new URLSearchParams(keep)}` : undefined,
    });
  });

  const appPage = async (ctx: Context, extra: Record<string, unknown> = {}) => {
    const clientId = clientIdOf(ctx);
    const app = await showClient(services, clientId);
    const stats = await clientStats(services, clientId, ACTIVITY_DAYS);
    const events = await queryAudit(services.db.prisma, { client: clientId, limit: 10 });
    const md = app.metadata;
    consolePage(ctx, 'apps', 'app', {
      title: app.name,
      app,
      metadata: {
        redirectUris: Array.isArray(md.redirect_uris) ? md.redirect_uris : [],
        grantTypes: Array.isArray(md.grant_types) ? md.grant_types : [],
        authMethod: md.token_endpoint_auth_method,
        corsOrigins: Array.isArray(md.allowed_cors_origins) ? md.allowed_cors_origins : [],
        scope: typeof md.scope === 'string' ? md.scope : '',
      },
      createdText: shortTime(app.created_at),
      stats,
      activityChart: activityChart(dailyBars(stats.days, ACTIVITY_DAYS)),
      events: events.events.map((e) => ({ ...e, atText: shortTime(e.at) })),
      graceChoices: [
        { value: '0', label: 'none: the old secret stops working now' },
        { value: '3600', label: '1 hour' },
        { value: '86400', label: '1 day' },
        { value: '604800', label: '7 days' },
      ],
      ...extra,
    });
  };

  router.get('/apps/:clientId', (ctx) => appPage(ctx));

  router.post('/apps/:clientId/approve', async (ctx) => {
    await approveClient(services, clientIdOf(ctx), adminOf(ctx).user.id);
    seeOtherPage(ctx, `/admin/apps/${encodeURIComponent(clientIdOf(ctx))}`);
  });
  router.post('/apps/:clientId/suspend', async (ctx) => {
    await setSuspended(services, clientIdOf(ctx), true, adminOf(ctx).user.id);
    seeOtherPage(ctx, `/admin/apps/${encodeURIComponent(clientIdOf(ctx))}`);
  });
  router.post('/apps/:clientId/unsuspend', async (ctx) => {
    await setSuspended(services, clientIdOf(ctx), false, adminOf(ctx).user.id);
    seeOtherPage(ctx, `/admin/apps/${encodeURIComponent(clientIdOf(ctx))}`);
  });
  router.post('/apps/:clientId/machine-access', async (ctx) => {
    const { api } = machineForm.parse(Object.fromEntries(await readForm(ctx)));
    await approveMachineAccess(services, clientIdOf(ctx), api, adminOf(ctx).user.id);
    seeOtherPage(ctx, `/admin/apps/${encodeURIComponent(clientIdOf(ctx))}`);
  });
  // The new secret is in this response only (no-store), never in a URL, a log or the audit trail.
  router.post('/apps/:clientId/rotate-secret', async (ctx) => {
    const { grace } = rotateForm.parse(Object.fromEntries(await readForm(ctx)));
    const rotated = await rotateSecret(services, clientIdOf(ctx), GRACE_CHOICES[grace], adminOf(ctx).user.id);
    await appPage(ctx, { newSecret: rotated.client_secret, previousValidUntil: shortTime(rotated.previous_secret_valid_until) });
  });
  router.post('/apps/:clientId/delete', async (ctx) => {
    const form = await readForm(ctx);
    const clientId = clientIdOf(ctx);
    if (form.get('confirm') !== clientId) throw new InputError('Type the app\'s client id to confirm the deletion.', 'confirm');
    await deleteClient(services, clientId, adminOf(ctx).user.id);
    seeOtherPage(ctx, '/admin/apps');
  });
}
