import { z } from 'zod';
import { deleteUser, disableUser, enableUser, resetFactors, signOutEverywhere } from '../accounts/user-admin.ts';
import { listUsers, showUser, USER_PAGE_MAX } from '../accounts/user-directory.ts';
import { deleteApi, showApi } from '../apis/api-admin.ts';
import { updateClientAsOperator } from '../clients/client-admin.ts';
import type { ValidateClientMetadata } from '../clients/client-registry.ts';
import type { Services } from '../context.ts';
import { text } from './admin-operation.ts';

/**
 * The CLI's side of the admin libraries (`latchkey user list|show|enable|reset-factors|sign-out|
 * delete`, `api show|delete`, `client update`), merged into operation-table.ts so they run
 * locally or through the server's control socket alike: the same library calls as the admin API
 * (src/admin/*-routes.ts) and the console, with 'cli' as the actor.
 */
const userRef = z.object({ user: text(254).min(1) });

export const adminCliSchemas = {
  'user.list': z.object({ query: text(254).optional(), limit: z.number().int().min(1).max(USER_PAGE_MAX).optional(), cursor: text(254).optional() }),
  'user.show': userRef,
  'user.enable': userRef,
  'user.reset-factors': userRef,
  'user.sign-out': userRef,
  'user.delete': userRef,
  'api.show': z.object({ api: text(255).min(1) }),
  'api.delete': z.object({ api: text(255).min(1), force: z.boolean().default(false) }),
  'client.update': z.object({
    clientId: text(200).min(1),
    name: text(100).optional(),
    description: text(500).optional(),
    redirectUris: z.array(text(2000)).max(20).optional(),
    postLogoutRedirectUris: z.array(text(2000)).max(20).optional(),
    corsOrigins: z.array(text(2000)).max(10).optional(),
    scope: text(2000).optional(),
  }),
} as const;

type Input<K extends keyof typeof adminCliSchemas> = z.infer<(typeof adminCliSchemas)[K]>;

export function adminCliHandlers(services: Services, validate: ValidateClientMetadata, actor = 'cli') {
  return {
    'user.list': (input: Input<'user.list'>) => listUsers(services, input),
    'user.show': (input: Input<'user.show'>) => showUser(services, input.user),
    'user.enable': (input: Input<'user.enable'>) => enableUser(services, input.user, actor),
    'user.reset-factors': (input: Input<'user.reset-factors'>) => resetFactors(services, input.user, actor),
    'user.sign-out': (input: Input<'user.sign-out'>) => signOutEverywhere(services, input.user, actor),
    'user.delete': (input: Input<'user.delete'>) => deleteUser(services, input.user, actor),
    'api.show': (input: Input<'api.show'>) => showApi(services, input.api),
    'api.delete': (input: Input<'api.delete'>) => deleteApi(services, input.api, { force: input.force, actor }),
    'client.update': ({ clientId, ...change }: Input<'client.update'>) => updateClientAsOperator(services, validate, clientId, change, actor),
  };
}
