import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { deleteUser, disableUser, enableUser, resetFactors, signOutEverywhere } from '../accounts/user-admin.ts';
import { listUsers, showUser } from '../accounts/user-directory.ts';
import type { Services } from '../context.ts';
import { InputError, NotFoundError } from '../errors.ts';
import { readForm } from '../http/form-body.ts';
import { adminOf } from './console-auth.ts';
import { consolePage, consoleText, pageLimit, seeOtherPage, shortTime } from './console-page.ts';

/**
 * Users: search by e-mail prefix (keyset paging, listUsers), one user's page (roles, factors,
 * sessions, connected apps, recent events: showUser) and the operator's actions, each the
 * library call `latchkey user …` makes (src/accounts/user-admin.ts), with the admin as the actor.
 */
const listQuery = z.object({
  q: consoleText(254).optional().transform((v) => v || undefined),
  limit: pageLimit,
  cursor: consoleText(254).optional().transform((v) => v || undefined),
});

const userIdOf = (ctx: Context) => {
  const id = ctx.params.userId ?? '';
  // Ids only: an e-mail in the path would be another spelling of the same page.
  if (!id || id.length > 100 || id.includes('@')) throw new NotFoundError('No such user.');
  return id;
};
const userPath = (id: string) => `/admin/users/${encodeURIComponent(id)}`;

export function usersRoutes(router: Router, services: Services): void {
  router.get('/users', async (ctx) => {
    const query = listQuery.parse(ctx.query);
    const page = await listUsers(services, { query: query.q, limit: query.limit, cursor: query.cursor });
    const keep = { ...(query.q ? { q: query.q } : {}), limit: String(query.limit) };
    consolePage(ctx, 'users', 'users', {
      title: 'Users',
      query,
      users: page.users.map((u) => ({ ...u, createdText: shortTime(u.created_at) })),
      nextHref: page.next ? `/admin/users?${new URLSearchParams({ ...keep, cursor: page.next })}` : undefined,
      firstHref: query.cursor ? `/admin/users?${new URLSearchParams(keep)}` : undefined,
    });
  });

  router.get('/users/:userId', async (ctx) => {
    const user = await showUser(services, userIdOf(ctx), { events: 15 });
    consolePage(ctx, 'users', 'user', {
      title: user.email,
      user,
      isSelf: user.id === adminOf(ctx).user.id,
      createdText: shortTime(user.created_at),
      events: user.recent_events.map((e) => ({ ...e, atText: shortTime(e.at) })),
    });
  });

  const action = (name: string, run: (id: string, actor: string, form: URLSearchParams) => Promise<unknown>, after: (id: string) => string = userPath) => {
    router.post(`/users/:userId/${name}`, async (ctx) => {
      const id = userIdOf(ctx);
      await run(id, adminOf(ctx).user.id, await readForm(ctx));
      seeOtherPage(ctx, after(id));
    });
  };
  action('disable', (id, actor) => disableUser(services, id, actor));
  action('enable', (id, actor) => enableUser(services, id, actor));
  action('reset-factors', (id, actor) => resetFactors(services, id, actor));
  action('sign-out', (id, actor) => signOutEverywhere(services, id, actor));
  action(
    'delete',
    async (id, actor, form) => {
      const user = await showUser(services, id, { events: 0 });
      if ((form.get('confirm') ?? '').trim().toLowerCase() !== user.email) throw new InputError("Type the user's e-mail address to confirm the deletion.", 'confirm');
      return deleteUser(services, id, actor);
    },
    () => '/admin/users',
  );
}
