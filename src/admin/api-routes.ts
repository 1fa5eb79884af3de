import { z } from 'zod';
import { deleteApi, listApiSummaries, showApi, updateApiByRef } from '../apis/api-admin.ts';
import { createApi } from '../apis/api-registry.ts';
import type { ValidateClientMetadata } from '../clients/client-registry.ts';
import type { Services } from '../context.ts';
import { text, type AdminResource } from './admin-operation.ts';

/**
 * Protected APIs (resource servers), for operators: the same library calls as `latchkey api …`
 * and the console's APIs page. `:apiId` is an API's id (the CLI names APIs by audience).
 */
const apiParams = z.object({ apiId: text(255).min(1) });
const scopeInput = z.object({ name: text(100).min(1), access: z.enum(['read', 'write']), description: text(300).optional() });

const summary = z.object({
  id: z.string(),
  name: z.string(),
  audience: z.string(),
  token_format: z.enum(['jwt', 'opaque']),
  access_token_ttl: z.number().int(),
  scopes: z.array(z.object({ name: z.string(), access: z.enum(['read', 'write']), description: z.string(), machine: z.boolean() })),
  machine_scopes: z.array(z.string()),
});
const details = summary.extend({
  clients: z.array(z.object({ client_id: z.string(), name: z.string() })),
  grants: z.number().int(),
  introspection_client_id: z.string().nullable(),
});

export const apiRouteSchemas = {
  list: z.array(summary),
  details,
  create: z.object({
    name: text(100).min(1),
    audience: text(255).min(1),
    scopes: z.array(scopeInput).min(1).max(100),
    token_format: z.enum(['jwt', 'opaque']).optional(),
    access_token_ttl: z.number().int().optional(),
    machine_scopes: z.array(text(100)).max(100).optional(),
  }),
  created: z.object({ id: z.string(), audience: z.string(), machine_scopes: z.array(z.string()), introspection_client_id: z.string(), introspection_client_secret: z.string() }),
  update: z.object({
    name: text(100).min(1).optional(),
    add_scopes: z.array(scopeInput).max(100).optional(),
    machine_scopes: z.array(text(100)).max(100).optional(),
    access_token_ttl: z.number().int().optional(),
  }),
  deleteQuery: z.object({ force: z.enum(['true', 'false']).optional() }),
  deleted: z.object({ id: z.string(), audience: z.string(), deleted: z.literal(true), grants: z.number().int() }),
};

export function apiResource(services: Services, validate: ValidateClientMetadata): AdminResource {
  const s = apiRouteSchemas;
  return {
    prefix: '/admin/api/apis',
    tag: 'apis',
    description: 'Protected APIs: their audience, scopes (read or write), token format and which scopes machine clients may get.',
    operations: [
      { method: 'get', path: '/', id: 'listApis', summary: 'Registered APIs and their scopes', response: s.list, run: () => listApiSummaries(services) },
      {
        method: 'post', path: '/', id: 'createApi', summary: 'Register an API; the answer holds its introspection client secret, shown once', status: 201,
        body: s.create, response: s.created,
        run: ({ body, actor }) =>
          createApi(services, validate, {
            name: body.name,
            audience: body.audience,
            scopes: body.scopes,
            tokenFormat: body.token_format,
            accessTokenTtl: body.access_token_ttl,
            machineScopes: body.machine_scopes ?? [],
          }).then((created) => {
            services.events.emit({ type: 'api.created', actor, details: { audience: created.audience } });
            return created;
          }),
      },
      { method: 'get', path: '/:apiId', id: 'showApi', summary: 'An API: scopes, the apps allowed them, live grants, its introspection client', params: apiParams, response: s.details, run: ({ params }) => showApi(services, params.apiId) },
      {
        method: 'patch', path: '/:apiId', id: 'updateApi', summary: 'Change the name or token lifetime, add scopes, set the machine scopes (the complete list; [] for none)',
        params: apiParams, body: s.update, response: s.details,
        run: ({ params, body, actor }) =>
          updateApiByRef(services, params.apiId, { name: body.name, addScopes: body.add_scopes, machineScopes: body.machine_scopes, accessTokenTtl: body.access_token_ttl }, actor),
      },
      {
        method: 'delete', path: '/:apiId', id: 'deleteApi', summary: 'Delete an API with its scopes; refused (409) while users\' grants include it, unless `force=true`',
        params: apiParams, query: s.deleteQuery, response: s.deleted,
        run: ({ params, query, actor }) => deleteApi(services, params.apiId, { force: query.force === 'true', actor }),
      },
    ],
  };
}
