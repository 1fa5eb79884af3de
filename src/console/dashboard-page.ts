import type Router from '@koa/router';
import { z } from 'zod';
import type { Services } from '../context.ts';
import { DASHBOARD_WINDOWS, dashboardFigures, type DashboardWindow } from '../security/audit-figures.ts';
import { consolePage } from './console-page.ts';
import { barChart, timeChart } from './svg-charts.ts';

/**
 * GET /admin?window=1h|24h|7d — the dashboard: every figure counted from the audit log for the
 * window (src/security/audit-figures.ts), so it matches `latchkey audit --since <window>`.
 */
const dashboardQuery = z.object({ window: z.enum(Object.keys(DASHBOARD_WINDOWS) as [DashboardWindow, ...DashboardWindow[]]).default('24h') });

/** Pure: the label under each bucket: a clock time within a day, a date and hour beyond. */
export function bucketLabels(since: string, bucketSeconds: number, buckets: number): string[] {
  const start = Date.parse(since);
  return Array.from({ length: buckets }, (_, i) => {
    const iso = new Date(start + i * bucketSeconds * 1000).toISOString();
    return bucketSeconds < 86_400 && bucketSeconds * buckets <= 86_400 ? `${iso.slice(11, 16)} UTC` : `${iso.slice(5, 10)} ${iso.slice(11, 13)}h`;
  });
}

export function dashboardRoutes(router: Router, services: Services): void {
  router.get('/', async (ctx) => {
    const { window } = dashboardQuery.parse(ctx.query);
    const figures = await dashboardFigures(services, window);
    const labels = bucketLabels(figures.since, figures.bucketSeconds, figures.series['token.issued'].length);
    const { totals, series } = figures;
    consolePage(ctx, 'dashboard', 'dashboard', {
      title: 'Dashboard',
      window,
      windows: Object.entries(DASHBOARD_WINDOWS).map(([key, w]) => ({ key, label: w.label })),
      figures,
      charts: {
        tokensOverTime: timeChart('Tokens issued', [{ name: 'Tokens issued', values: series['token.issued'], className: 'chart-series-0' }], labels),
        tokensByGrantType: barChart('Tokens issued by grant type', figures.tokensByGrantType),
        signIns: timeChart(
          'Sign-ins',
          [
            { name: 'Succeeded', values: series['signin.success'], className: 'chart-series-0' },
            { name: 'Wrong password', values: series['signin.failure'], className: 'chart-series-1' },
            { name: 'Wrong second factor', values: series['signin.mfa.failure'], className: 'chart-series-2' },
          ],
          labels,
        ),
        refusals: timeChart(
          'Refusals and suspensions',
          [
            { name: 'Sign-in throttled', values: series['signin.throttled'], className: 'chart-series-1' },
            { name: 'Sign-in suspended', values: series['signin.locked'], className: 'chart-series-2' },
            { name: 'Token endpoint', values: series['oauth.throttled'], className: 'chart-series-4' },
            { name: 'Suspensions', values: series['suspension.created'], className: 'chart-series-3' },
          ],
          labels,
        ),
        topApps: barChart('Top apps by tokens issued', figures.topApps),
        topApis: barChart('Top APIs by tokens issued', figures.topApis),
      },
      tiles: [
        { type: 'token.issued', label: 'Tokens issued', value: totals['token.issued'] },
        { type: 'signin.success', label: 'Sign-ins', value: totals['signin.success'] },
        { type: 'signin.failure', label: 'Wrong passwords', value: totals['signin.failure'] },
        { type: 'signin.mfa.failure', label: 'Wrong second factors', value: totals['signin.mfa.failure'] },
        { type: 'signin.throttled', label: 'Throttled (429)', value: totals['signin.throttled'] },
        { type: 'signin.locked', label: 'Refused while suspended (429)', value: totals['signin.locked'] },
        { type: 'oauth.throttled', label: 'Token endpoint 429s', value: totals['oauth.throttled'] },
        { type: 'suspension.created', label: 'Suspensions', value: totals['suspension.created'] },
        { type: 'active-users', label: 'Active users', value: figures.activeUsers },
      ],
    });
  });
}
