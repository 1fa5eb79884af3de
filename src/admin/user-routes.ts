import { z } from 'zod';
import { deleteUser, disableUser, enableUser, resetFactors, signOutEverywhere } from '../accounts/user-admin.ts';
import { listUsers, showUser, USER_PAGE_MAX } from '../accounts/user-directory.ts';
import type { Services } from '../context.ts';
import { auditEventSchema } from './security-routes.ts';
import { text, type AdminResource } from './admin-operation.ts';

/** Users, for operators: the same library calls as `latchkey user …` and the console's users page. */
const userParams = z.object({ userId: text(254).min(1) });

const userListItem = z.object({ id: z.string(), email: z.string(), roles: z.array(z.string()), disabled: z.boolean(), created_at: z.string() });

export const userSchemas = {
  listQuery: z.object({
    query: text(254).optional(),
    limit: z.coerce.number().int().min(1).max(USER_PAGE_MAX).optional(),
    cursor: text(254).optional(),
  }),
  page: z.object({ users: z.array(userListItem), next: z.string().optional() }),
  details: userListItem.extend({
    disabled_at: z.string().nullable(),
    factors: z.object({
      totp: z.boolean(),
      passkeys: z.array(z.object({ id: z.string(), name: z.string(), created_at: z.string(), last_used_at: z.string().nullable() })),
      recovery_codes_remaining: z.number().int(),
    }),
    sessions: z.number().int(),
    connected_apps: z.array(z.object({ client_id: z.string(), name: z.string(), grant_id: z.string(), scope: z.string(), apis: z.record(z.string(), z.string()) })),
    recent_events: z.array(auditEventSchema),
  }),
  status: z.object({ id: z.string(), email: z.string(), status: z.enum(['active', 'disabled']), sessions_ended: z.number().int().optional() }),
  reset: z.object({
    id: z.string(),
    email: z.string(),
    removed: z.object({ totp: z.boolean(), passkeys: z.number().int(), recovery_codes: z.number().int() }),
    sessions_ended: z.number().int(),
  }),
  signedOut: z.object({ id: z.string(), email: z.string(), sessions_ended: z.number().int() }),
  deleted: z.object({ id: z.string(), email: z.string(), deleted: z.literal(true), sessions_ended: z.number().int(), grants_revoked: z.number().int() }),
};

export function userResource(services: Services): AdminResource {
  return {
    prefix: '/admin/api/users',
    tag: 'users',
    description: 'Users: search by e-mail prefix, details, disable / enable, reset second factors, sign out everywhere, delete. `:userId` is a user id or an e-mail address.',
    operations: [
      { method: 'get', path: '/', id: 'listUsers', summary: 'Users whose e-mail starts with `query`, by e-mail; pass `next` as `cursor` for the following page', query: userSchemas.listQuery, response: userSchemas.page, run: ({ query }) => listUsers(services, query) },
      { method: 'get', path: '/:userId', id: 'showUser', summary: 'A user: roles, second factors (no secrets), sessions, connected apps, recent audit events', params: userParams, response: userSchemas.details, run: ({ params }) => showUser(services, params.userId) },
      { method: 'post', path: '/:userId/disable', id: 'disableUser', summary: 'Disable: no sign-in, sessions ended, tokens refused (not the last enabled admin)', params: userParams, response: userSchemas.status, run: ({ params, actor }) => disableUser(services, params.userId, actor) },
      { method: 'post', path: '/:userId/enable', id: 'enableUser', summary: 'Enable a disabled user again', params: userParams, response: userSchemas.status, run: ({ params, actor }) => enableUser(services, params.userId, actor) },
      { method: 'post', path: '/:userId/reset-factors', id: 'resetUserFactors', summary: 'Remove the authenticator app, passkeys and recovery codes; sessions end', params: userParams, response: userSchemas.reset, run: ({ params, actor }) => resetFactors(services, params.userId, actor) },
      { method: 'post', path: '/:userId/sign-out', id: 'signOutUser', summary: 'End every browser session of the user', params: userParams, response: userSchemas.signedOut, run: ({ params, actor }) => signOutEverywhere(services, params.userId, actor) },
      { method: 'delete', path: '/:userId', id: 'deleteUser', summary: 'Delete the user, their sessions, grants and tokens (not the last enabled admin)', params: userParams, response: userSchemas.deleted, run: ({ params, actor }) => deleteUser(services, params.userId, actor) },
    ],
  };
}
