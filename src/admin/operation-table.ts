import { z } from 'zod';
import { createApi, updateApi } from '../apis/api-registry.ts';
import { machineScopesOf } from '../apis/api-store.ts';
import { createUser } from '../accounts/users.ts';
import type Provider from 'oidc-provider';
import { clientOperationHandlers, clientSchemas } from '../clients/client-operations.ts';
import type { ValidateClientMetadata } from '../clients/client-registry.ts';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { disableUser } from '../accounts/user-admin.ts';
import { inviteUser } from '../accounts/invitations.ts';
import { rotateKeys } from '../keys/key-states.ts';
import { securityOperationHandlers, securitySchemas } from '../security/admin-operations.ts';
import { adminCliHandlers, adminCliSchemas } from './admin-cli-operations.ts';

/**
 * The operation table: what the `latchkey` command can do, as plain functions over validated
 * input (a name, its zod schema, the library call), gathered from admin-cli-operations.ts,
 * src/clients/client-operations.ts and src/security/admin-operations.ts. The CLI runs them in
 * its own process, or — when a server already owns the embedded database — asks that server to
 * run them over its control socket (control-socket.ts). Either way the same code runs. It sits
 * with the other operator surfaces (the admin API, the console) because it calls what they call,
 * invitations (src/accounts/invitations.ts) included; src/cli/ builds on it from above.
 */
const schemas = {
  'user.create': z.object({ email: z.string(), password: z.string(), roles: z.array(z.string()).default([]) }),
  'user.invite': z.object({ email: z.string(), roles: z.array(z.string()).default([]) }),
  'user.disable': z.object({ email: z.string().max(254).includes('@', { message: 'must be an e-mail address' }) }),
  'api.create': z.object({
    name: z.string(),
    audience: z.string(),
    scopes: z.array(z.object({ name: z.string(), access: z.enum(['read', 'write']), description: z.string().optional() })),
    tokenFormat: z.enum(['jwt', 'opaque']).optional(),
    accessTokenTtl: z.number().int().optional(),
    machineScopes: z.array(z.string()).default([]),
  }),
  'api.update': z.object({
    audience: z.string(),
    name: z.string().optional(),
    addScopes: z.array(z.object({ name: z.string(), access: z.enum(['read', 'write']), description: z.string().optional() })).default([]),
    machineScopes: z.array(z.string()).optional(),
    accessTokenTtl: z.number().int().optional(),
  }),
  'api.list': z.object({}),
  ...clientSchemas,
  // now: sign with the new keys at once (a compromised key), skipping KEY_PUBLISH_DELAY_SECONDS.
  'keys.rotate': z.object({ now: z.boolean().default(false) }),
  ...securitySchemas,
  ...adminCliSchemas,
} as const;

export type OperationName = keyof typeof schemas;
export const OPERATION_NAMES = Object.keys(schemas) as OperationName[];

export function createOperations(services: Services, validateClientMetadata: ValidateClientMetadata, getProvider: () => Provider | undefined = () => undefined) {
  const handlers: { [K in OperationName]: (input: z.infer<(typeof schemas)[K]>) => Promise<unknown> } = {
    'user.create': (input) => createUser(services, input),
    'user.invite': (input) => inviteUser(services, input),
    // The admin library's call, as the admin API and the console: the last enabled admin is kept.
    'user.disable': (input) => disableUser(services, input.email, 'cli'),
    'api.create': (input) => createApi(services, validateClientMetadata, input),
    'api.update': (input) => updateApi(services, input),
    'api.list': async () =>
      (await services.apis.all()).map((a) => ({
        id: a.id,
        name: a.name,
        audience: a.audience,
        tokenFormat: a.tokenFormat,
        scopes: a.scopes,
        machine_scopes: machineScopesOf(a),
      })),
    ...clientOperationHandlers(services, validateClientMetadata, getProvider),
    'keys.rotate': (input) => rotateKeys(services, { now: input.now, actor: 'cli' }),
    ...securityOperationHandlers(services),
    ...adminCliHandlers(services, validateClientMetadata),
  };

  return async function run(name: string, rawInput: unknown): Promise<unknown> {
    if (!(name in schemas)) throw new InputError(`unknown operation ${name}`);
    const op = name as OperationName;
    const parsed = schemas[op].safeParse(rawInput ?? {});
    if (!parsed.success) throw new InputError(`invalid input: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
    const result = await (handlers[op] as (input: unknown) => Promise<unknown>)(parsed.data);
    if (!op.endsWith('.list') && !op.endsWith('.show') && op !== 'audit.query') services.events.emit({ type: `admin.${op}`, actor: 'cli', details: identifiersOnly(result) });
    return result;
  };
}

export type RunOperation = ReturnType<typeof createOperations>;

/** What of an operation's result may go into the audit trail: identifiers, never secrets. */
const AUDITABLE_KEYS = new Set(['id', 'email', 'audience', 'client_id', 'introspection_client_id', 'added', 'status', 'deleted', 'approved', 'revoked', 'machine_scopes']);
function identifiersOnly(result: unknown): Record<string, unknown> {
  if (!result || typeof result !== 'object') return {};
  return Object.fromEntries(Object.entries(result).filter(([key]) => AUDITABLE_KEYS.has(key)));
}
