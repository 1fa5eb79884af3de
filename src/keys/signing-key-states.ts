import type { Database } from '../storage/database.ts';
import { signingOrder } from './signing-keys.ts';

/**
 * The signing keys as an operator sees them (the console's Security page): which key signs
 * each kind of token now, which is published ahead of taking over, which only verifies tokens it
 * signed before a rotation and when it leaves the JWKS. Public facts only: no key material.
 */
export type SigningKeyState = 'signing' | 'next' | 'retiring';

export interface SigningKeyStatus {
  kid: string;
  alg: string;
  state: SigningKeyState;
  createdAt: string;
  /** when it starts (or started) signing; null: from its creation */
  activatesAt: string | null;
  /** when it leaves the JWKS; null: not rotated out */
  retiresAt: string | null;
}

/** Pure: the state of each published key at `now`, in signing order (see signingOrder). */
export function keyStates<T extends { kid: string; alg: string; createdAt: Date; activatesAt: Date | null; retiresAt: Date | null }>(rows: T[], now: Date): SigningKeyStatus[] {
  const published = rows.filter((r) => !r.retiresAt || r.retiresAt > now);
  const signer = new Set<string>();
  return signingOrder(published, now).map((row) => {
    const active = (row.activatesAt ?? row.createdAt) <= now;
    let state: SigningKeyState = active ? 'retiring' : 'next';
    if (active && !signer.has(row.alg)) {
      signer.add(row.alg);
      state = 'signing';
    }
    return {
      kid: row.kid,
      alg: row.alg,
      state,
      createdAt: row.createdAt.toISOString(),
      activatesAt: row.activatesAt?.toISOString() ?? null,
      retiresAt: row.retiresAt?.toISOString() ?? null,
    };
  });
}

/** The published keys (a handful of rows: two per rotation still in its overlap). */
export async function listSigningKeys(db: Database, now = new Date()): Promise<SigningKeyStatus[]> {
  const rows = await db.prisma.signingKey.findMany({
    where: { OR: [{ retiresAt: null }, { retiresAt: { gt: now } }] },
    select: { kid: true, alg: true, createdAt: true, activatesAt: true, retiresAt: true },
    take: 100,
  });
  return keyStates(rows, now);
}
