import { randomUUID } from 'node:crypto';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import type { ValidateClientMetadata } from '../clients/client-registry.ts';
import type { ScopeAccess } from './api-store.ts';
import { createIntrospectionClient } from './introspection-client.ts';

export interface NewApi {
  name: string;
  audience: string;
  scopes: Array<{ name: string; access: ScopeAccess; description?: string }>;
  tokenFormat?: 'jwt' | 'opaque';
  accessTokenTtl?: number;
}

const SCOPE_NAME = /^[A-Za-z0-9][A-Za-z0-9:._\-/]{0,99}$/;
const RESERVED_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access', 'address', 'phone']);

/** `notes:read=read` → { name: 'notes:read', access: 'read' } (the CLI's --scope syntax). */
export function parseScopeSpec(spec: string): { name: string; access: ScopeAccess } {
  const [name, access, ...rest] = spec.split('=');
  if (!name || rest.length || (access !== 'read' && access !== 'write')) {
    throw new InputError(`scope "${spec}" must look like <name>=read or <name>=write`);
  }
  return { name, access };
}

/** The audience is the resource indicator clients send (RFC 8707): an absolute URI without a fragment. */
export function audienceProblem(audience: string): string | undefined {
  const url = URL.parse(audience);
  if (!url) return 'audience must be an absolute URI (e.g. https://api.example.com/notes)';
  if (url.hash || audience.includes('#')) return 'audience must not contain a fragment';
  if (audience.length > 255) return 'audience must be at most 255 characters';
  return undefined;
}

/**
 * Registers an API and its scopes, plus the API's own introspection client (its secret is
 * returned here once, like a client secret).
 */
export async function createApi(
  services: Pick<Services, 'db' | 'config' | 'encryptor'>,
  validate: ValidateClientMetadata,
  input: NewApi,
): Promise<{ id: string; audience: string; introspection_client_id: string; introspection_client_secret: string }> {
  const name = input.name.trim();
  if (!name || name.length > 100) throw new InputError('name must be 1 to 100 characters');
  const problem = audienceProblem(input.audience);
  if (problem) throw new InputError(problem);
  if (!input.scopes.length) throw new InputError('an API needs at least one scope (--scope <name>=read|write)');
  const seen = new Set<string>();
  for (const scope of input.scopes) {
    if (!SCOPE_NAME.test(scope.name)) throw new InputError(`scope "${scope.name}" may use letters, digits and : . _ - / only`);
    if (RESERVED_SCOPES.has(scope.name)) throw new InputError(`scope "${scope.name}" is reserved for OpenID Connect`);
    if (seen.has(scope.name)) throw new InputError(`scope "${scope.name}" is listed twice`);
    seen.add(scope.name);
  }
  const ttl = input.accessTokenTtl ?? services.config.ttl.accessToken;
  if (!Number.isInteger(ttl) || ttl < 30 || ttl > 86400) throw new InputError('access token lifetime must be 30 to 86400 seconds');

  const { db } = services;
  if (await db.prisma.api.findUnique({ where: { audience: input.audience } })) {
    throw new InputError(`an API with audience ${input.audience} already exists`);
  }
  const taken = await db.prisma.apiScope.findMany({ where: { name: { in: [...seen] } }, select: { name: true } });
  if (taken.length) throw new InputError(`scope names must be unique across APIs; already used: ${taken.map((t) => t.name).join(', ')}`);

  const id = randomUUID();
  await db.prisma.api.create({
    data: {
      id,
      name,
      audience: input.audience,
      tokenFormat: input.tokenFormat ?? 'jwt',
      accessTokenTtl: ttl,
      scopes: {
        create: input.scopes.map((s) => ({ id: randomUUID(), name: s.name, access: s.access, description: s.description ?? '' })),
      },
    },
  });
  const credentials = await createIntrospectionClient(services, validate, { name, audience: input.audience });
  await db.notifyChange('apis');
  return { id, audience: input.audience, ...credentials };
}

export async function listApis(services: Pick<Services, 'apis'>) {
  return services.apis.all();
}
