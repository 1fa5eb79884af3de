import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Services } from '../context.ts';
import { storableText } from '../storage/sql.ts';

/**
 * oidc-provider's findAccount: the claims Latchkey releases about a user. Disabled users are
 * not found. It runs on every refresh, code exchange and userinfo call, so it is one raw SQL
 * read rather than a Prisma query (whose client costs several times the CPU of the read).
 */
export function findAccountFor(services: Pick<Services, 'db'>) {
  return async (_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> => {
    if (!storableText(sub)) return undefined;
    const { rows } = await services.db.sql.query<{ id: string; email: string }>(
      'SELECT id, email FROM "user" WHERE id = $1 AND disabled_at IS NULL',
      [sub],
      { prepare: true },
    );
    const user = rows[0];
    if (!user) return undefined;
    return {
      accountId: user.id,
      claims: async () => ({ sub: user.id, email: user.email, email_verified: false }),
    };
  };
}
