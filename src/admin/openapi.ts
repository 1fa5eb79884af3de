import { z } from 'zod';
import type { AdminOperation, AdminResource } from './admin-operation.ts';

/**
 * The admin API's OpenAPI 3.1 document, generated from the same declarations (and zod schemas)
 * the routers validate requests with (admin-operation.ts), through zod 4's JSON Schema output.
 * Request schemas are rendered as zod reads them (`io: 'input'`), answers as they are produced.
 */
const errorSchema = z.object({ error: z.string(), error_description: z.string() });

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

/** Koa's `/:clientId/suspend` → OpenAPI's `/{clientId}/suspend`; '/' is the prefix itself. */
export const openApiPath = (prefix: string, path: string) => `${prefix}${path === '/' ? '' : path}`.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function parameters(op: AdminOperation) {
  const of = (where: 'path' | 'query', shape: z.ZodObject | undefined) =>
    Object.entries(shape?.shape ?? {}).map(([name, schema]) => ({
      name,
      in: where,
      required: where === 'path' || !(schema as z.ZodType).safeParse(undefined).success,
      schema: jsonSchema(schema as z.ZodType, 'input'),
    }));
  return [...of('path', op.params), ...of('query', op.query)];
}

const ERROR_ANSWERS = {
  '400': 'Bad input: the description names the failing field',
  '401': 'No or wrong credentials',
  '403': 'Not an admin, or a session change without X-Latchkey-Admin: 1',
  '404': 'No such thing',
  '409': 'Clashes with the current state (e.g. an API still in use)',
};

export function buildOpenApiDocument(resources: AdminResource[], serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const resource of resources) {
    for (const op of resource.operations) {
      const path = openApiPath(resource.prefix, op.path);
      const params = parameters(op);
      paths[path] ??= {};
      paths[path][op.method] = {
        operationId: op.id,
        summary: op.summary,
        tags: [resource.tag],
        ...(params.length ? { parameters: params } : {}),
        ...(op.body ? { requestBody: { required: false, content: { 'application/json': { schema: jsonSchema(op.body, 'input') } } } } : {}),
        responses: {
          [String(op.status ?? 200)]: { description: 'Success', content: { 'application/json': { schema: jsonSchema(op.response, 'output') } } },
          ...Object.fromEntries(Object.entries(ERROR_ANSWERS).map(([status, description]) => [status, { $ref: `#/components/responses/Error${status}`, description }])),
        },
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Latchkey admin API',
      version: '1',
      description:
        'Operate Latchkey over HTTP: users, apps, APIs, suspensions, the audit log and signing keys — the same library calls as the `latchkey` CLI and the console at /admin. ' +
        'Authenticate with `Authorization: Bearer <ADMIN_API_TOKEN>`, or as a signed-in user with the admin role (session cookie; changes also need the header `X-Latchkey-Admin: 1`). ' +
        'Errors are JSON `{error, error_description}`.',
    },
    servers: [{ url: serverUrl }],
    security: [{ adminToken: [] }, { adminSession: [] }],
    tags: resources.map((r) => ({ name: r.tag, description: r.description })),
    paths,
    components: {
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_TOKEN' },
        adminSession: { type: 'apiKey', in: 'cookie', name: '_session', description: 'an admin\'s Latchkey session; changes also need X-Latchkey-Admin: 1' },
      },
      schemas: { Error: jsonSchema(errorSchema, 'output') },
      responses: Object.fromEntries(
        Object.entries(ERROR_ANSWERS).map(([status, description]) => [
          `Error${status}`,
          { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        ]),
      ),
    },
  };
}
