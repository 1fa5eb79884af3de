import type { Context } from 'koa';
import { z } from 'zod';
import { renderView } from '../http/views.ts';
import type { ConsoleAdmin } from './console-auth.ts';

/** The console's sections, in the order of its navigation bar. */
export const CONSOLE_SECTIONS = [
  { key: 'dashboard', label: 'Dashboard', href: '/admin' },
  { key: 'users', label: 'Users', href: '/admin/users' },
  { key: 'apps', label: 'Apps', href: '/admin/apps' },
  { key: 'apis', label: 'APIs', href: '/admin/apis' },
  { key: 'security', label: 'Security', href: '/admin/security/suspensions' },
] as const;
export type ConsoleSection = (typeof CONSOLE_SECTIONS)[number]['key'];

/** Renders views/console/<view>.eta inside the console's layout, never cached. */
export function consolePage(ctx: Context, section: ConsoleSection, view: string, data: Record<string, unknown>, status = 200): void {
  const admin = ctx.state.admin as ConsoleAdmin;
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = renderView(`console/${view}`, { ...data, section, sections: CONSOLE_SECTIONS, adminEmail: admin.user.email, csrf: admin.csrf });
}

/** The plain error page (no console chrome: the visitor may not be an admin). */
export function consoleErrorPage(ctx: Context, status: number, message: string, code: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = renderView('error', { title: 'Error', heading: status === 403 ? 'Not allowed' : undefined, message, code });
}

/** After a change: back to a console page (303, so a reload does not post again). */
export function seeOtherPage(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}

/** Text from a query string or form: bounded, no control characters (NUL included). */
export const consoleText = (max: number) => z.string().max(max).regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');
/** A page size from a query string: digits only, 1…100. */
export const pageLimit = z.coerce.number().int().min(1).max(100).default(25);
/** An opaque keyset cursor (the `next` of the previous page). */
export const pageCursor = consoleText(200).optional();

/** "2026-12-02 10:15" in UTC, for tables. */
export const shortTime = (iso: string | Date | null | undefined) => (iso ? new Date(iso).toISOString().slice(0, 16).replace('T', ' ') : '');
