import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import {
  approveClient,
  createClient,
  deleteClient,
  listClients,
  rotateSecret,
  setFirstParty,
  setSuspended,
  showClient,
  type ValidateClientMetadata,
} from './client-registry.ts';
import { CLIENT_TYPES, parseDuration } from './client-rules.ts';
import { approveMachineAccess, revokeMachineAccess } from './machine-access.ts';
import { createRegistrationToken } from './registration-tokens.ts';

/** The `latchkey client …` and `latchkey registration-token …` operations (src/admin/operation-table.ts runs them). */
const clientId = z.object({ clientId: z.string().min(1).max(200) });
const duration = (flag: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const seconds = parseDuration(v);
      if (seconds === undefined) ctx.addIssue({ code: 'custom', message: `${flag} takes seconds or 90m, 24h, 7d` });
      return seconds;
    });

export const clientSchemas = {
  'client.create': z.object({
    name: z.string(),
    type: z.enum(CLIENT_TYPES).default('web'),
    description: z.string().optional(),
    redirectUris: z.array(z.string()).default([]),
    postLogoutRedirectUris: z.array(z.string()).default([]),
    corsOrigins: z.array(z.string()).default([]),
    logoUri: z.string().optional(),
    clientUri: z.string().optional(),
    policyUri: z.string().optional(),
    tosUri: z.string().optional(),
    scope: z.string().default(''),
    owner: z.string().optional(),
    firstParty: z.boolean().optional(),
    security: z
      .object({
        jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(10) }).optional(),
        requirePar: z.boolean().optional(),
        requireSignedRequestObject: z.boolean().optional(),
        dpopBoundAccessTokens: z.boolean().optional(),
        idTokenSigningAlg: z.enum(['RS256', 'ES256']).optional(),
      })
      .optional(),
  }),
  'client.list': z.object({}),
  'client.show': clientId,
  'client.suspend': clientId,
  'client.unsuspend': clientId,
  'client.approve': clientId,
  'client.set-first-party': clientId.extend({ off: z.boolean().default(false) }),
  'client.delete': clientId,
  'client.rotate-secret': clientId.extend({ grace: duration('--grace') }),
  'client.approve-machine-access': clientId.extend({ api: z.string().min(1).max(255) }),
  'client.revoke-machine-access': clientId.extend({ api: z.string().min(1).max(255) }),
  'registration-token.create': z.object({ expires: duration('--expires'), maxUses: z.number().int().positive().optional(), owner: z.string().optional() }),
} as const;

type Schemas = typeof clientSchemas;

export function clientOperationHandlers(
  services: Services,
  validate: ValidateClientMetadata,
  getProvider: () => Provider | undefined,
): { [K in keyof Schemas]: (input: z.infer<Schemas[K]>) => Promise<unknown> } {
  const ownerId = async (email?: string) => {
    if (!email) return undefined;
    const user = await services.db.prisma.user.findUnique({ where: { email: email.trim().toLowerCase() }, select: { id: true } });
    if (!user) throw new InputError(`no user with e-mail ${email}`);
    return user.id;
  };
  return {
    'client.create': async ({ owner, ...input }) => createClient(services, validate, { ...input, ownerId: await ownerId(owner), createdVia: 'cli', actor: 'cli' }),
    'client.list': () => listClients(services),
    'client.show': ({ clientId: id }) => showClient(services, id),
    'client.suspend': ({ clientId: id }) => setSuspended(services, id, true),
    'client.unsuspend': ({ clientId: id }) => setSuspended(services, id, false),
    'client.approve': ({ clientId: id }) => approveClient(services, id),
    'client.set-first-party': ({ clientId: id, off }) => setFirstParty(services, id, !off),
    'client.delete': ({ clientId: id }) => deleteClient(services, id),
    'client.rotate-secret': ({ clientId: id, grace }) => rotateSecret(services, id, grace ?? 0),
    'client.approve-machine-access': ({ clientId: id, api }) => approveMachineAccess(services, id, api),
    'client.revoke-machine-access': ({ clientId: id, api }) => revokeMachineAccess(services, id, api),
    'registration-token.create': ({ expires, maxUses, owner }) => {
      const provider = getProvider();
      if (!provider) throw new Error('registration tokens need the provider');
      return createRegistrationToken(services, provider, { expiresIn: expires, maxUses, ownerEmail: owner });
    },
  };
}
