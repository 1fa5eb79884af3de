import { z } from 'zod';
import type { Services } from '../context.ts';
import { clearSecondFactorLocks } from './second-factor-lockout.ts';
import { InputError, NotFoundError } from '../errors.ts';
import { AuditQueryError, parseSince, queryAudit } from './audit-log.ts';
import { parseDuration, SUSPENSION_KINDS, Suspensions } from './suspensions.ts';

/**
 * The CLI's security operations (`latchkey audit`, `latchkey suspensions …`), merged into
 * src/admin/operation-table.ts so they run locally or through the server's control socket alike.
 */
const text = (max: number) => z.string().max(max).regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

export const securitySchemas = {
  'audit.query': z.object({
    type: text(100).optional(),
    user: text(300).optional(),
    client: text(300).optional(),
    /** the client address the events came from, exactly */
    ip: text(100).optional(),
    since: text(40).optional(),
    /** the end of the window (exclusive), like `since` */
    until: text(40).optional(),
    limit: z.number().int().min(1).max(500).optional(),
    cursor: text(40).optional(),
  }),
  'suspensions.list': z.object({ all: z.boolean().default(false) }),
  'suspensions.lift': z.object({ id: text(100).optional(), kind: z.enum(SUSPENSION_KINDS).optional(), subject: text(300).optional() }),
  'user.unlock': z.object({ email: text(254).min(3) }),
  'suspensions.add': z.object({ kind: z.enum(SUSPENSION_KINDS), subject: text(300).min(1), duration: text(20), reason: text(300).optional() }),
} as const;

type Input<K extends keyof typeof securitySchemas> = z.infer<(typeof securitySchemas)[K]>;

/** `actor` names who acts in the audit trail: 'cli', or 'admin-api' over HTTP. */
export function securityOperationHandlers(services: Services, actor = 'cli') {
  let shared: Suspensions | undefined;
  const suspensions = () => (shared ??= new Suspensions(services.db, services.events, services.config.security.lockout));
  return {
    'audit.query': async (input: Input<'audit.query'>) => {
      try {
        return await queryAudit(services.db.prisma, {
          ...input,
          since: input.since ? parseSince(input.since) : undefined,
          until: input.until ? parseSince(input.until) : undefined,
        });
      } catch (error) {
        if (error instanceof AuditQueryError) throw new InputError(error.message);
        throw error;
      }
    },
    'suspensions.list': (input: Input<'suspensions.list'>) => suspensions().list(input),
    /** Ends an account's lock-outs: its sign-in suspensions and its run of wrong codes. */
    'user.unlock': async (input: Input<'user.unlock'>) => {
      const user = await services.db.prisma.user.findFirst({ where: { email: { equals: input.email, mode: 'insensitive' } }, select: { id: true } });
      if (!user) throw new NotFoundError(`no user with e-mail ${input.email}`);
      const suspensionsLifted = await suspensions().liftAccount(input.email, actor);
      const codesUnlocked = await clearSecondFactorLocks(services, user.id);
      return { user_id: user.id, suspensions_lifted: suspensionsLifted, codes_unlocked: codesUnlocked };
    },
    'suspensions.lift': async (input: Input<'suspensions.lift'>) => {
      if (!input.id && !(input.kind && input.subject)) throw new InputError('give an id, or --kind and --subject');
      return { lifted: await suspensions().lift(input, actor) };
    },
    'suspensions.add': (input: Input<'suspensions.add'>) => {
      const seconds = parseDuration(input.duration);
      if (!seconds) throw new InputError('--duration must be like 90, 15m, 2h or 1d (at most a year)');
      return suspensions().suspend(input.kind, input.subject, seconds, input.reason ?? 'suspended by an administrator', actor);
    },
  };
}
