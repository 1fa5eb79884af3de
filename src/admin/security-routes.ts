import { z } from 'zod';
import type { Services } from '../context.ts';
import { securityOperationHandlers, securitySchemas } from '../security/admin-operations.ts';
import { SUSPENSION_KINDS } from '../security/suspensions.ts';
import type { AdminResource } from './admin-operation.ts';

/**
 * Suspensions and the audit log, for operators: the same operations, input schemas and library
 * calls as `latchkey audit` and `latchkey suspensions …` (src/security/admin-operations.ts).
 */
export const auditEventSchema = z.object({
  id: z.string(),
  at: z.string(),
  type: z.string(),
  actor: z.string().nullable(),
  userId: z.string().nullable(),
  clientId: z.string().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  requestId: z.string().nullable(),
  details: z.unknown(),
});

const suspensionSchema = z.object({
  id: z.string(),
  kind: z.enum(SUSPENSION_KINDS),
  subject: z.string(),
  reason: z.string(),
  level: z.number().int(),
  createdBy: z.string(),
  createdAt: z.string(),
  until: z.string(),
});

export const securityRouteSchemas = {
  /** Query strings carry text only: numbers and flags are converted here, at the edge. */
  // The CLI's schema (admin-operations.ts), with the limit converted from the query string's text.
  auditQuery: securitySchemas['audit.query'].extend({ limit: z.coerce.number().int().min(1).max(500).optional() }),
  auditPage: z.object({ events: z.array(auditEventSchema), next: z.string().optional() }),
  suspensionsQuery: z.object({ all: z.enum(['true', 'false']).optional() }),
  suspensions: z.object({ suspensions: z.array(suspensionSchema) }),
  suspension: suspensionSchema,
  lifted: z.object({ lifted: z.number().int() }),
};

export function securityResource(services: Services): AdminResource {
  const ops = (actor: string) => securityOperationHandlers(services, actor);
  return {
    prefix: '/admin/api/security',
    tag: 'security',
    description: 'The audit log and temporary suspensions (accounts, clients, addresses).',
    operations: [
      {
        method: 'get', path: '/audit', id: 'queryAudit',
        summary:
          'Audit events, newest first; `type` exact or a prefix ending in `.*`; `user` (subject or actor), `client`, `ip` exactly; the window from `since` to `until` (exclusive), each like 2h, 7d or an ISO date; pass `next` as `cursor` for the following page',
        query: securityRouteSchemas.auditQuery, response: securityRouteSchemas.auditPage,
        run: ({ query, actor }) => ops(actor)['audit.query'](query),
      },
      {
        method: 'get', path: '/suspensions', id: 'listSuspensions', summary: 'Active suspensions (`all=true`: also ended and lifted ones)',
        query: securityRouteSchemas.suspensionsQuery, response: securityRouteSchemas.suspensions,
        run: async ({ query, actor }) => ({ suspensions: await ops(actor)['suspensions.list']({ all: query.all === 'true' }) }),
      },
      {
        method: 'post', path: '/suspensions', id: 'addSuspension', summary: 'Suspend an account, client or address for a while (`duration` like 90, 15m, 2h, 1d)', status: 201,
        body: securitySchemas['suspensions.add'], response: securityRouteSchemas.suspension,
        run: ({ body, actor }) => ops(actor)['suspensions.add'](body),
      },
      {
        method: 'post', path: '/suspensions/lift', id: 'liftSuspensions', summary: 'End suspensions now: by `id`, or by `kind` and `subject`',
        body: securitySchemas['suspensions.lift'], response: securityRouteSchemas.lifted,
        run: ({ body, actor }) => ops(actor)['suspensions.lift'](body),
      },
    ],
  };
}
