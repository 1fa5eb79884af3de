import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import { findUserById } from '../accounts/users.ts';
import type { Services } from '../context.ts';

/** oidc-provider's findAccount: the claims Latchkey releases about a user. Disabled users are not found. */
export function findAccountFor(services: Pick<Services, 'db'>) {
  return async (_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> => {
    const user = await findUserById(services, sub);
    if (!user || user.disabled) return undefined;
    return {
      accountId: user.id,
      claims: async () => ({ sub: user.id, email: user.email, email_verified: false }),
    };
  };
}
