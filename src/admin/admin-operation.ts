import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { readJson } from '../http/json-body.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { adminAuthentication } from './admin-auth.ts';

/**
 * One admin API operation, declared once: its route, the zod schemas that validate its path
 * parameters, query and body at the edge, the schema of its answer, and the library call it
 * makes. The router (adminRouter below) and the OpenAPI document (openapi.ts) are both built
 * from these declarations, so the document cannot describe a route that does not exist or
 * validate differently from it.
 */
export interface AdminOperation {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** below the router's prefix, in Koa's syntax (`/:userId/disable`); '' for the prefix itself */
  path: string;
  /** OpenAPI operationId: unique, stable */
  id: string;
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodObject;
  response: z.ZodType;
  /** success status (200 unless said) */
  status?: number;
  run: (input: { params: any; query: any; body: any; actor: string; ctx: Context }) => Promise<unknown>;
}

export interface AdminResource {
  /** e.g. /admin/api/users */
  prefix: string;
  /** OpenAPI tag */
  tag: string;
  description: string;
  operations: AdminOperation[];
}

/** Printable text without control characters, bounded: what every free-text input must be. */
export const text = (max: number) => z.string().max(max).regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

/** The largest admin request body: a client edit with its lists of URIs fits easily. */
const MAX_BODY_BYTES = 32 * 1024;

async function readBody(ctx: Context, schema: z.ZodObject | undefined): Promise<unknown> {
  if (!schema) return undefined;
  const hasBody = Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
  if (!hasBody) return schema.parse({});
  const parsed = await readJson(ctx, MAX_BODY_BYTES);
  if (!parsed) throw new InputError('expected a JSON object (Content-Type: application/json) of at most 32 KiB');
  return schema.parse(parsed);
}

/**
 * A router for one resource. Every request is authenticated first (admin-auth.ts: the
 * ADMIN_API_TOKEN bearer, or an admin's session with X-Latchkey-Admin: 1 on changes); then its
 * parts are validated — a ZodError becomes a 400 naming the field (src/http/error-handler.ts) —
 * and the library runs with the admin as the actor of its audit events.
 */
export function adminRouter(services: Services, holder: ProviderHolder, resource: AdminResource): Router {
  const router = new Router({ prefix: resource.prefix, sensitive: true });
  const adminActor = adminAuthentication(services, holder);
  for (const op of resource.operations) {
    router[op.method](op.path || '/', async (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      const actor = await adminActor(ctx);
      if (!actor) return;
      const params = op.params ? op.params.parse(ctx.params) : {};
      const query = op.query ? op.query.parse(ctx.query) : {};
      const body = await readBody(ctx, op.body);
      const result = await op.run({ params, query, body, actor, ctx });
      ctx.status = op.status ?? 200;
      ctx.body = result;
    });
  }
  return router;
}
