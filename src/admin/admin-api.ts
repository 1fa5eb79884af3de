import Router from '@koa/router';
import type { Services } from '../context.ts';
import type { ValidateClientMetadata } from '../clients/client-registry.ts';
import type { ProviderHolder } from '../oidc/provider-holder.ts';
import { adminRouter, type AdminResource } from './admin-operation.ts';
import { apiResource } from './api-routes.ts';
import { clientResource } from './client-routes.ts';
import { keyResource } from './key-routes.ts';
import { buildOpenApiDocument } from './openapi.ts';
import { securityResource } from './security-routes.ts';
import { userResource } from './user-routes.ts';

/**
 * The admin API under /admin/api: one resource per file (users, apps, APIs, security, keys),
 * each a list of declared operations (admin-operation.ts), and the OpenAPI document built from
 * the same list at /admin/api/openapi.json.
 */
export const OPENAPI_PATH = '/admin/api/openapi.json';

export function adminResources(services: Services, validate: ValidateClientMetadata): AdminResource[] {
  return [userResource(services), clientResource(services, validate), apiResource(services, validate), securityResource(services), keyResource(services)];
}

/** [prefix, router] per resource, and the document's own router (public: it describes, it holds nothing). */
export function adminApiRouters(services: Services, holder: ProviderHolder, validate: ValidateClientMetadata): Array<[prefix: string, router: Router]> {
  const resources = adminResources(services, validate);
  const document = buildOpenApiDocument(resources, services.config.issuer);
  const openapi = new Router({ sensitive: true });
  openapi.get(OPENAPI_PATH, (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = document;
  });
  return [...resources.map((r): [string, Router] => [r.prefix, adminRouter(services, holder, r)]), [OPENAPI_PATH, openapi]];
}
