import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Encryptor } from '../crypto/encryption.ts';
import type { Database } from '../storage/database.ts';

/**
 * Token-signing keys. ES256 signs access tokens (fast: ~15k signatures/s per core); RS256 is
 * kept for ID tokens because every relying party supports it. Private JWKs are stored
 * encrypted; the newest key of each algorithm signs, older ones stay published until every
 * token they signed has expired, then drop out of the JWKS.
 */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

const keyContext = (kid: string) => `signing-key:${kid}`;

async function newKey(alg: SigningAlgorithm): Promise<{ kid: string; jwk: JWK }> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

async function storeKey(db: Database, encryptor: Encryptor, alg: SigningAlgorithm): Promise<string> {
  const { kid, jwk } = await newKey(alg);
  await db.prisma.signingKey.create({ data: { kid, alg, jwkEncrypted: encryptor.encrypt(JSON.stringify(jwk), keyContext(kid)) } });
  return kid;
}

/** Creates the first key of each algorithm on first start. Safe when instances start together. */
export async function ensureSigningKeys(db: Database, encryptor: Encryptor): Promise<void> {
  await db.sql.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('latchkey:signing-keys'))");
    const { rows } = await tx.query<{ alg: string }>('SELECT DISTINCT alg FROM signing_key WHERE retires_at IS NULL');
    const present = new Set(rows.map((r) => r.alg));
    for (const alg of SIGNING_ALGORITHMS) {
      if (present.has(alg)) continue;
      const { kid, jwk } = await newKey(alg);
      await tx.query('INSERT INTO signing_key (kid, alg, jwk_encrypted) VALUES ($1, $2, $3)', [
        kid,
        alg,
        encryptor.encrypt(JSON.stringify(jwk), keyContext(kid)),
      ]);
    }
  });
}

/** Private JWKs to hand to oidc-provider: current keys first (they sign), retiring ones after (verification only). */
export async function loadSigningJwks(db: Database, encryptor: Encryptor): Promise<JWK[]> {
  const rows = await db.prisma.signingKey.findMany({
    where: { OR: [{ retiresAt: null }, { retiresAt: { gt: new Date() } }] },
    orderBy: { createdAt: 'desc' },
  });
  const current = rows.filter((r) => r.retiresAt === null);
  const retiring = rows.filter((r) => r.retiresAt !== null);
  return [...current, ...retiring].map((r) => JSON.parse(encryptor.decrypt(r.jwkEncrypted, keyContext(r.kid))) as JWK);
}

export interface RotationResult {
  added: string[];
  retiring: Array<{ kid: string; retiresAt: string }>;
}

/**
 * Adds a new key per algorithm; the previous current keys stay published for
 * `maxTokenLifetimeSeconds` (longest access/ID token lifetime plus clock skew) and then
 * disappear from the JWKS.
 */
export async function rotateSigningKeys(db: Database, encryptor: Encryptor, maxTokenLifetimeSeconds: number): Promise<RotationResult> {
  const retiresAt = new Date(Date.now() + maxTokenLifetimeSeconds * 1000);
  const previous = await db.prisma.signingKey.findMany({ where: { retiresAt: null } });
  const added: string[] = [];
  for (const alg of SIGNING_ALGORITHMS) added.push(await storeKey(db, encryptor, alg));
  await db.prisma.signingKey.updateMany({ where: { kid: { in: previous.map((k) => k.kid) } }, data: { retiresAt } });
  await db.notifyChange('keys');
  return { added, retiring: previous.map((k) => ({ kid: k.kid, retiresAt: retiresAt.toISOString() })) };
}

/** Drops keys whose retirement time has passed, so the table does not grow forever. */
export async function deleteRetiredKeys(db: Database): Promise<number> {
  const { count } = await db.prisma.signingKey.deleteMany({ where: { retiresAt: { lt: new Date() } } });
  return count;
}
