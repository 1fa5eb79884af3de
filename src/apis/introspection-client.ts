import { randomBytes } from 'node:crypto';
import type { Services } from '../context.ts';
import type { ValidateClientMetadata } from '../clients/client-registry.ts';
import { insertClient } from '../clients/client-queries.ts';
import { secretContext } from '../clients/client-store.ts';

/**
 * Client metadata key (stored in the client row, ignored by oidc-provider) naming the API
 * audience a resource-server client speaks for. The introspection policy reads it.
 */
export const RESOURCE_SERVER_AUDIENCE_KEY = 'latchkey_resource_server_audience';
export const RESOURCE_SERVER_CLIENT_TYPE = 'resource-server';

/**
 * Every API gets its own confidential client so it can call token introspection (RFC 7662).
 * The client can obtain no tokens at all (no grant types, no response types); it exists only
 * to authenticate the API. The secret is returned once and stored encrypted.
 */
export async function createIntrospectionClient(
  services: Pick<Services, 'db' | 'encryptor'>,
  validate: ValidateClientMetadata,
  api: { name: string; audience: string },
): Promise<{ introspection_client_id: string; introspection_client_secret: string }> {
  const clientId = randomBytes(16).toString('base64url');
  const secret = randomBytes(32).toString('base64url');
  const name = `${api.name} (resource server)`.slice(0, 100);
  const { client_secret: _secret, ...validated } = await validate({
    client_id: clientId,
    client_secret: secret,
    client_name: name,
    application_type: 'web',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  });
  await insertClient(services.db.prisma, {
    id: clientId,
    name,
    type: RESOURCE_SERVER_CLIENT_TYPE,
    metadata: { ...validated, [RESOURCE_SERVER_AUDIENCE_KEY]: api.audience },
    secretEncrypted: services.encryptor.encrypt(secret, secretContext(clientId)),
  });
  await services.db.notifyChange(`client:${clientId}`);
  return { introspection_client_id: clientId, introspection_client_secret: secret };
}
