import { z } from 'zod';
import { listClientsForOperator, updateClientAsOperator } from '../clients/client-admin.ts';
import { approveClient, clientStats, deleteClient, rotateSecret, setSuspended, showClient, type ValidateClientMetadata } from '../clients/client-registry.ts';
import { LIMITS } from '../clients/client-rules.ts';
import { approveMachineAccess, revokeMachineAccess } from '../clients/machine-access.ts';
import type { Services } from '../context.ts';
import { text, type AdminResource } from './admin-operation.ts';

/**
 * Apps (OAuth clients), for operators: the same library calls as `latchkey client …` and the
 * console's apps page. Edits pass the same client rules as creation (client-rules.ts).
 */
const clientParams = z.object({ clientId: text(200).min(1) });
const uris = z.array(text(2000)).max(LIMITS.redirectUris);
const STATUSES = ['active', 'suspended', 'pending_approval'] as const;

const summary = z.object({
  client_id: z.string(),
  name: z.string(),
  type: z.string(),
  owner: z.string().nullable(),
  created_via: z.string(),
  status: z.enum(STATUSES),
  suspended: z.boolean(),
  created_at: z.string(),
});

export const clientRouteSchemas = {
  listQuery: z.object({
    status: z.enum(STATUSES).optional(),
    machine_access_pending: z.enum(['true', 'false']).optional(),
  }),
  list: z.array(summary),
  details: summary.extend({
    description: z.string(),
    owner_id: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    api_scopes: z.array(z.string()),
    machine_access: z.array(z.object({ api: z.string(), audience: z.string(), approved: z.array(z.string()), pending: z.array(z.string()), not_offered: z.array(z.string()) })).optional(),
    has_secret: z.boolean(),
    first_party: z.boolean(),
    previous_secret_valid_until: z.string().nullable(),
    suspended_at: z.string().nullable(),
  }),
  activity: z.object({
    tokensIssued: z.number().int(),
    days: z.array(z.object({ day: z.string(), tokensIssued: z.number().int() })),
    consents: z.number().int(),
    consentedUsers: z.number().int(),
  }),
  update: z.object({
    name: text(LIMITS.name).optional(),
    description: text(LIMITS.description).optional(),
    redirect_uris: uris.optional(),
    post_logout_redirect_uris: uris.optional(),
    cors_origins: z.array(text(LIMITS.uri)).max(LIMITS.corsOrigins).optional(),
    scope: text(2000).optional(),
  }),
  status: z.object({ client_id: z.string(), status: z.enum(['active', 'suspended']) }),
  approved: z.object({ client_id: z.string(), approved: z.literal(true) }),
  deleted: z.object({ client_id: z.string(), deleted: z.literal(true), revoked: z.number().int() }),
  rotate: z.object({ grace_seconds: z.number().int().min(0).max(30 * 86400).default(0) }),
  rotated: z.object({ client_id: z.string(), client_secret: z.string(), previous_secret_valid_until: z.string().nullable() }),
  machineAccess: z.object({ api: text(255).min(1) }),
  machineApproved: z.object({ client_id: z.string(), audience: z.string(), approved: z.array(z.string()) }),
  machineRevoked: z.object({ client_id: z.string(), audience: z.string(), revoked: z.number().int() }),
};

export function clientResource(services: Services, validate: ValidateClientMetadata): AdminResource {
  const s = clientRouteSchemas;
  return {
    prefix: '/admin/api/clients',
    tag: 'apps',
    description: 'Apps (OAuth clients): list with filters, details and activity, edit, approve, suspend, rotate the secret, machine access, delete.',
    operations: [
      {
        method: 'get', path: '/', id: 'listClients', summary: 'Apps, oldest first; filter by `status`, or `machine_access_pending=true` for service apps waiting for machine access',
        query: s.listQuery, response: s.list,
        run: ({ query }) => listClientsForOperator(services, { status: query.status, machineAccessPending: query.machine_access_pending === 'true' }),
      },
      {
        method: 'get', path: '/:clientId', id: 'showClient', summary: 'An app: metadata, API scopes, owner, status, machine access and activity (never its secret)',
        params: clientParams, response: s.details.extend({ activity: s.activity }),
        run: async ({ params }) => ({ ...(await showClient(services, params.clientId)), activity: await clientStats(services, params.clientId) }),
      },
      {
        method: 'patch', path: '/:clientId', id: 'updateClient', summary: 'Edit an app: only the fields given change; `scope` is the complete scope string from then on',
        params: clientParams, body: s.update, response: s.details,
        run: ({ params, body, actor }) =>
          updateClientAsOperator(services, validate, params.clientId, {
            name: body.name,
            description: body.description,
            redirectUris: body.redirect_uris,
            postLogoutRedirectUris: body.post_logout_redirect_uris,
            corsOrigins: body.cors_origins,
            scope: body.scope,
          }, actor),
      },
      { method: 'post', path: '/:clientId/suspend', id: 'suspendClient', summary: 'Suspend: no tokens, refresh stops, opaque tokens introspect inactive', params: clientParams, response: s.status, run: ({ params, actor }) => setSuspended(services, params.clientId, true, actor) },
      { method: 'post', path: '/:clientId/unsuspend', id: 'unsuspendClient', summary: 'Lift a suspension', params: clientParams, response: s.status, run: ({ params, actor }) => setSuspended(services, params.clientId, false, actor) },
      { method: 'post', path: '/:clientId/approve', id: 'approveClient', summary: 'Approve an app waiting for approval (CLIENT_APPROVAL=manual)', params: clientParams, response: s.approved, run: ({ params, actor }) => approveClient(services, params.clientId, actor) },
      {
        method: 'post', path: '/:clientId/rotate-secret', id: 'rotateClientSecret', summary: 'New client secret, shown once in the answer; the previous one keeps working `grace_seconds`',
        params: clientParams, body: s.rotate, response: s.rotated,
        run: ({ params, body, actor }) => rotateSecret(services, params.clientId, body.grace_seconds, actor),
      },
      {
        method: 'post', path: '/:clientId/machine-access/approve', id: 'approveMachineAccess', summary: 'Let a service app get machine tokens for the scopes of that API (its audience) it asks for and the API offers to machines',
        params: clientParams, body: s.machineAccess, response: s.machineApproved,
        run: ({ params, body, actor }) => approveMachineAccess(services, params.clientId, body.api, actor),
      },
      {
        method: 'post', path: '/:clientId/machine-access/revoke', id: 'revokeMachineAccess', summary: 'Take machine access to that API away again',
        params: clientParams, body: s.machineAccess, response: s.machineRevoked,
        run: ({ params, body, actor }) => revokeMachineAccess(services, params.clientId, body.api, actor),
      },
      { method: 'delete', path: '/:clientId', id: 'deleteClient', summary: 'Delete an app, revoking its grants and tokens', params: clientParams, response: s.deleted, run: ({ params, actor }) => deleteClient(services, params.clientId, actor) },
    ],
  };
}
