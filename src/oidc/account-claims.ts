import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Services } from '../context.ts';
import { prefetchAccount, takePrefetchedAccount, type AccountRow } from '../storage/payload-reads.ts';
import { storableText } from '../storage/sql.ts';

/**
 * The claims each OpenID scope releases (oidc-provider's `claims` configuration). The consent
 * screen lists exactly these (src/apis/consent-model.ts); `email` comes only with the
 * `email` scope. `profile` releases nothing: Latchkey keeps no profile.
 */
export const CLAIMS_BY_SCOPE: Readonly<Record<string, readonly string[]>> = {
  // acr, amr and auth_time in every ID token: APIs and apps can insist on a second factor (docs/two-factor.md).
  openid: ['sub', 'acr', 'amr', 'auth_time'],
  email: ['email', 'email_verified'],
};

/**
 * oidc-provider's findAccount: the claims Latchkey releases about a user. Disabled users are
 * not found. It runs on every refresh, code exchange and userinfo call (twice in a code
 * exchange), so it takes the user row read earlier in the same request when there is one
 * (src/storage/payload-reads.ts), and otherwise one raw SQL read rather than a Prisma query
 * (whose client costs several times the CPU of the read itself).
 */
export function findAccountFor(services: Pick<Services, 'db'>) {
  return async (_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> => {
    if (!storableText(sub)) return undefined;
    let user: AccountRow | null | undefined = takePrefetchedAccount(sub);
    if (user === undefined) {
      const { rows } = await services.db.sql.query<AccountRow>(
        'SELECT id, email, email_verified, disabled_at IS NOT NULL AS disabled FROM "user" WHERE id = $1',
        [sub],
        { prepare: true },
      );
      user = rows[0] ?? null;
      if (user) prefetchAccount(user);
    }
    if (!user || user.disabled) return undefined;
    const { id, email, email_verified } = user;
    return { accountId: id, claims: async () => ({ sub: id, email, email_verified }) };
  };
}
