import type { Services } from '../context.ts';
import { CLOCK_TOLERANCE } from '../config/clock-tolerance.ts';
import { rotateSigningKeys, signingOrder, type RotationResult } from './signing-keys.ts';

/**
 * The signing keys as an operator sees them (admin API, console; `latchkey keys rotate`):
 * their state and dates, never key material.
 *   signing    the newest active key of its algorithm: new tokens are signed with it
 *   published  active but superseded, or kept for verification until it retires
 *   pending    published ahead of its activation (KEY_PUBLISH_DELAY_SECONDS)
 *   retired    past its retirement: no longer in the JWKS (deleted by the next purge)
 */
export type KeyState = 'signing' | 'published' | 'pending' | 'retired';

export interface SigningKeyState {
  kid: string;
  alg: string;
  state: KeyState;
  created_at: string;
  activates_at: string | null;
  retires_at: string | null;
}

export async function listSigningKeyStates(services: Pick<Services, 'db'>, now = new Date()): Promise<SigningKeyState[]> {
  const rows = await services.db.prisma.signingKey.findMany({ select: { kid: true, alg: true, createdAt: true, activatesAt: true, retiresAt: true } });
  const live = rows.filter((r) => !r.retiresAt || r.retiresAt > now);
  const signing = new Set<string>();
  for (const row of signingOrder(live, now)) {
    const active = (row.activatesAt ?? row.createdAt) <= now;
    if (active && ![...signing].some((kid) => live.find((r) => r.kid === kid)?.alg === row.alg)) signing.add(row.kid);
  }
  const stateOf = (row: (typeof rows)[number]): KeyState => {
    if (row.retiresAt && row.retiresAt <= now) return 'retired';
    if (signing.has(row.kid)) return 'signing';
    return (row.activatesAt ?? row.createdAt) > now ? 'pending' : 'published';
  };
  return rows
    .map((r) => ({
      kid: r.kid,
      alg: r.alg,
      state: stateOf(r),
      created_at: r.createdAt.toISOString(),
      activates_at: r.activatesAt?.toISOString() ?? null,
      retires_at: r.retiresAt?.toISOString() ?? null,
    }))
    .sort((a, b) => b.created_at.localeCompare(a.created_at));
}

/**
 * New signing keys (signing-keys.ts rotateSigningKeys) with this server's lifetimes: the
 * replaced keys stay published as long as a token they signed can live. `now`: sign with the
 * new keys at once (a compromised key) instead of after KEY_PUBLISH_DELAY_SECONDS.
 */
export async function rotateKeys(services: Pick<Services, 'db' | 'encryptor' | 'config' | 'events'>, options: { now: boolean; actor: string }): Promise<RotationResult> {
  const { config } = services;
  const result = await rotateSigningKeys(
    services.db,
    services.encryptor,
    Math.max(config.ttl.accessToken, config.ttl.idToken, 86400) + CLOCK_TOLERANCE,
    options.now ? 0 : config.keyPublishDelaySeconds,
  );
  services.events.emit({ type: 'keys.rotated', actor: options.actor, details: { added: result.added, now: options.now } });
  return result;
}
