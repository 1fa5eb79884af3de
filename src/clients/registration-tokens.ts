/**
 * Initial access tokens for DCR (`latchkey registration-token create`): adapter-backed, stored
 * hashed, with an optional expiry, use limit and owner; a registration that fails after its
 * policy counted a use gives the use back.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Services } from '../context.ts';
import { InputError } from '../errors.ts';
import { storedTokenId } from '../storage/stored-ids.ts';
import { REGISTRATION_POLICY } from './dcr-policy.ts';
import { giveBackRegistrationTokenUse, insertRegistrationToken } from './registration-token-queries.ts';
import { countedUses } from './registration-decision.ts';

/** A registration that fails after its policy counted a use gives the use back. */
export function giveBackFailedRegistrations(provider: Provider, services: Services): void {
  provider.on('registration_create.error', (ctx: KoaContextWithOIDC) => {
    const iat = ctx.oidc?.entities?.InitialAccessToken as { jti: string } | undefined;
    if (!iat || !countedUses.has(ctx)) return;
    countedUses.delete(ctx);
    giveBackRegistrationTokenUse(services.db.sql, storedTokenId(iat.jti)).catch((err) => services.logger.error({ err }, 'could not give back an initial access token use'));
  });
}

/**
 * `latchkey registration-token create`: an initial access token for DCR, adapter-backed
 * (stored hashed), with an optional expiry, use limit and owner (whose portal lists the
 * clients registered with it). The token is returned once.
 */
export async function createRegistrationToken(
  services: Services,
  provider: Provider,
  input: { expiresIn?: number; maxUses?: number; ownerEmail?: string },
): Promise<{ id: string; initial_access_token: string; expires_at: string | null; max_uses: number | null; owner: string | null }> {
  if (input.expiresIn !== undefined && (!Number.isInteger(input.expiresIn) || input.expiresIn < 1)) throw new InputError('--expires must be a positive duration');
  if (input.maxUses !== undefined && (!Number.isInteger(input.maxUses) || input.maxUses < 1)) throw new InputError('--max-uses must be a positive whole number');
  let ownerId: string | null = null;
  if (input.ownerEmail) {
    const owner = await services.db.prisma.user.findUnique({ where: { email: input.ownerEmail.trim().toLowerCase() } });
    if (!owner) throw new InputError(`no user with e-mail ${input.ownerEmail}`);
    ownerId = owner.id;
  }
  const IAT = provider.InitialAccessToken as unknown as new (p: Record<string, unknown>) => { save(): Promise<string> };
  const value = await new IAT({ policies: [REGISTRATION_POLICY], ...(input.expiresIn ? { expiresIn: input.expiresIn } : {}) }).save();
  const id = storedTokenId(value);
  const expiresAt = input.expiresIn ? new Date(Date.now() + input.expiresIn * 1000) : null;
  await insertRegistrationToken(services.db.prisma, { id, ownerId, maxUses: input.maxUses ?? null, expiresAt });
  services.events.emit({ type: 'registration.token_created', actor: 'cli', userId: ownerId ?? undefined, details: { id: id.slice(0, 12), maxUses: input.maxUses ?? null } });
  return { id: id.slice(0, 12), initial_access_token: value, expires_at: expiresAt?.toISOString() ?? null, max_uses: input.maxUses ?? null, owner: input.ownerEmail ?? null };
}
