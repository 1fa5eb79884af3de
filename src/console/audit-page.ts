import { Readable } from 'node:stream';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { AUDIT_EXPORT_FORMATS, auditCsvHeader, auditExportLine, type AuditExportFormat } from '../security/audit-export.ts';
import { AuditQueryError, parseSince, queryAudit, type AuditQuery } from '../security/audit-log.ts';
import { requestFields } from '../security/security-events.ts';
import { adminOf } from './console-auth.ts';
import { consolePage, consoleText, pageLimit, shortTime } from './console-page.ts';

/**
 * Security → Audit log: filters (time, kind, user, app, address), keyset paging newest first
 * (queryAudit, as `latchkey audit`), and an export of everything the filters match as JSON
 * lines or CSV, read page by page so no request holds the whole log.
 */
const blankToUndefined = (v: string | undefined) => (v ? v : undefined);
const filterText = (max: number) => consoleText(max).optional().transform(blankToUndefined);

const auditFilters = z.object({
  since: filterText(40),
  until: filterText(40),
  type: filterText(100),
  user: filterText(300),
  client: filterText(300),
  ip: filterText(100),
});
const auditPageQuery = auditFilters.extend({ limit: pageLimit, cursor: filterText(40) });
const exportQuery = auditFilters.extend({ format: z.enum(AUDIT_EXPORT_FORMATS) });

/** At most this many events per export: a larger one is narrowed with the filters. */
export const MAX_EXPORT_EVENTS = 100_000;
const EXPORT_PAGE = 500;

type Filters = z.infer<typeof auditFilters>;

function toQuery(filters: Filters): AuditQuery {
  try {
    return {
      type: filters.type,
      user: filters.user,
      client: filters.client,
      ip: filters.ip,
      since: filters.since ? parseSince(filters.since) : undefined,
      until: filters.until ? parseSince(filters.until) : undefined,
    };
  } catch (error) {
    if (error instanceof AuditQueryError) throw new InputError(error.message);
    throw error;
  }
}

async function auditPage(services: Services, query: AuditQuery) {
  try {
    return await queryAudit(services.db.prisma, query);
  } catch (error) {
    if (error instanceof AuditQueryError) throw new InputError(error.message, error.message === 'invalid cursor' ? 'cursor' : undefined);
    throw error;
  }
}

/** The filters as a query string, for the next-page and export links. */
const filterParams = (filters: Filters) =>
  new URLSearchParams(Object.entries(filters).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '')).toString();

export function auditRoutes(router: Router, services: Services): void {
  router.get('/security/audit', async (ctx) => {
    const { limit, cursor, ...filters } = auditPageQuery.parse(ctx.query);
    const page = await auditPage(services, { ...toQuery(filters), limit, cursor });
    const params = filterParams(filters);
    consolePage(ctx, 'security', 'audit', {
      title: 'Audit log',
      tab: 'audit',
      filters,
      events: page.events.map((e) => ({ ...e, atText: shortTime(e.at), detailsText: JSON.stringify(e.details) })),
      nextHref: page.next ? `/admin/security/audit?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(params)), limit: String(limit), cursor: page.next })}` : undefined,
      firstHref: cursor ? `/admin/security/audit?${params}` : undefined,
      exportParams: params,
    });
  });

  router.get('/security/audit/export', async (ctx: Context) => {
    const { format, ...filters } = exportQuery.parse(ctx.query);
    const query = toQuery(filters);
    // The first page is read before answering, so a bad filter is still a 400 and not a broken download.
    const first = await auditPage(services, { ...query, limit: EXPORT_PAGE });
    const admin = adminOf(ctx);
    services.events.emit({ type: 'admin.audit.export', actor: admin.user.id, details: { format, filters, via: 'console' }, ...requestFields(ctx) });
    const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '');
    ctx.set('Content-Disposition', `attachment; filename="latchkey-audit-${stamp}.${format}"`);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8';
    ctx.body = Readable.from(exportLines(services, query, format, first));
  });
}

async function* exportLines(services: Services, query: AuditQuery, format: AuditExportFormat, first: Awaited<ReturnType<typeof queryAudit>>) {
  if (format === 'csv') yield auditCsvHeader();
  let page = first;
  let written = 0;
  for (;;) {
    for (const row of page.events) {
      if (written++ >= MAX_EXPORT_EVENTS) return;
      yield auditExportLine(row, format);
    }
    if (!page.next) return;
    page = await queryAudit(services.db.prisma, { ...query, limit: EXPORT_PAGE, cursor: page.next });
  }
}
