import { z } from 'zod';
import type { Services } from '../context.ts';
import { listSigningKeyStates, rotateKeys } from '../keys/key-states.ts';
import type { AdminResource } from './admin-operation.ts';

/** Signing keys, for operators: their states, and rotation (`latchkey keys rotate`). Never key material. */
export const keySchemas = {
  list: z.object({
    keys: z.array(
      z.object({
        kid: z.string(),
        alg: z.string(),
        state: z.enum(['signing', 'published', 'pending', 'retired']),
        created_at: z.string(),
        activates_at: z.string().nullable(),
        retires_at: z.string().nullable(),
      }),
    ),
  }),
  rotate: z.object({ now: z.boolean().default(false) }),
  rotated: z.object({ added: z.array(z.string()), activatesAt: z.string(), retiring: z.array(z.object({ kid: z.string(), retiresAt: z.string() })) }),
};

export function keyResource(services: Services): AdminResource {
  return {
    prefix: '/admin/api/keys',
    tag: 'keys',
    description: 'Token-signing keys: state (signing, published, pending, retired) and rotation.',
    operations: [
      { method: 'get', path: '/', id: 'listKeys', summary: 'Signing keys with their state and dates, newest first', response: keySchemas.list, run: async () => ({ keys: await listSigningKeyStates(services) }) },
      {
        method: 'post', path: '/rotate', id: 'rotateKeys',
        summary: 'New signing keys, published at once and signing after KEY_PUBLISH_DELAY_SECONDS (`now: true`: at once, for a compromised key)',
        body: keySchemas.rotate, response: keySchemas.rotated,
        run: ({ body, actor }) => rotateKeys(services, { now: body.now, actor }),
      },
    ],
  };
}
