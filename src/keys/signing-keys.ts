import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Encryptor } from '../crypto/encryption.ts';
import type { Database } from '../storage/database.ts';

/**
 * Token-signing keys. ES256 signs access tokens (fast: ~15k signatures/s per core); RS256 is
 * kept for ID tokens because every relying party supports it. Private JWKs are stored
 * encrypted. A rotated-in key is published before it signs (KEY_PUBLISH_DELAY_SECONDS); the
 * most recently activated key of each algorithm signs; older ones stay published until every
 * token they signed has expired, then drop out of the JWKS.
 */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** What a private JWK's encryption is bound to (src/crypto/encryption.ts), so it opens only in its own row. */
export const keyContext = (kid: string) => `signing-key:${kid}`;

async function newKey(alg: SigningAlgorithm): Promise<{ kid: string; jwk: JWK }> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

async function storeKey(db: Database, encryptor: Encryptor, alg: SigningAlgorithm, activatesAt: Date | null): Promise<string> {
  const { kid, jwk } = await newKey(alg);
  await db.prisma.signingKey.create({ data: { kid, alg, activatesAt, jwkEncrypted: encryptor.encrypt(JSON.stringify(jwk), keyContext(kid)) } });
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

interface KeyRow {
  kid: string;
  createdAt: Date;
  activatesAt: Date | null;
  retiresAt: Date | null;
}

/** When a key started (or starts) signing: its activation time, or its creation for keys made active at once. */
const activeFrom = (row: KeyRow) => row.activatesAt ?? row.createdAt;

/**
 * The order oidc-provider needs: it signs with the first key of an algorithm in the list. Keys
 * already active come first, the most recently activated first (a rotated-in key takes over from
 * the one it replaces once its time has come); keys published ahead of their activation come
 * last, verification only.
 */
export function signingOrder<T extends KeyRow>(rows: T[], now: Date): T[] {
  const active = rows.filter((r) => activeFrom(r) <= now).sort((a, b) => activeFrom(b).getTime() - activeFrom(a).getTime());
  const pending = rows.filter((r) => activeFrom(r) > now);
  return [...active, ...pending];
}

/** The next moment the signing key changes without a database write: the earliest pending activation. */
export const nextActivation = (rows: KeyRow[], now: Date): Date | undefined =>
  rows.map(activeFrom).filter((at) => at > now).sort((a, b) => a.getTime() - b.getTime())[0];

/** Private JWKs to hand to oidc-provider, in signing order (above); a pending activation is scheduled (below). */
export async function loadSigningJwks(db: Database, encryptor: Encryptor): Promise<JWK[]> {
  const now = new Date();
  const rows = await db.prisma.signingKey.findMany({ where: { OR: [{ retiresAt: null }, { retiresAt: { gt: now } }] } });
  announceActivation(db, nextActivation(rows, now));
  return signingOrder(rows, now).map((r) => JSON.parse(encryptor.decrypt(r.jwkEncrypted, keyContext(r.kid))) as JWK);
}

/**
 * Every instance switches to a rotated-in key at the time stored with it, without a message:
 * when that time comes, this instance hears 'keys' on its change channel (as after a rotation)
 * and reloads. One timer per database handle, re-armed on each load.
 */
const activationTimers = new WeakMap<Database, NodeJS.Timeout>();
const MAX_TIMER_MS = 2 ** 31 - 1;

function announceActivation(db: Database, at: Date | undefined): void {
  clearTimeout(activationTimers.get(db));
  activationTimers.delete(db);
  if (!at) return;
  // A little after the activation time, so the reload finds the key active; a time beyond
  // setTimeout's range is re-armed by the intermediate reload.
  const delay = Math.min(Math.max(at.getTime() - Date.now() + 50, 0), MAX_TIMER_MS);
  const timer = setTimeout(() => {
    activationTimers.delete(db);
    db.announceLocally('keys');
  }, delay);
  timer.unref();
  activationTimers.set(db, timer);
}

export interface RotationResult {
  added: string[];
  /** When the added keys start signing; until then they are published only. */
  activatesAt: string;
  retiring: Array<{ kid: string; retiresAt: string }>;
}

/**
 * Adds a new key per algorithm, published at once and signing from `publishDelaySeconds` later,
 * so every verifier that follows its JWKS cache rules holds the key before a token it signed
 * arrives (0: at once — for a compromised key). The keys they replace keep signing until then,
 * and stay published for `maxTokenLifetimeSeconds` after (longest access/ID token lifetime plus
 * clock skew), then disappear from the JWKS.
 */
export async function rotateSigningKeys(
  db: Database,
  encryptor: Encryptor,
  maxTokenLifetimeSeconds: number,
  publishDelaySeconds: number,
): Promise<RotationResult> {
  const activatesAt = new Date(Date.now() + publishDelaySeconds * 1000);
  const retiresAt = new Date(activatesAt.getTime() + maxTokenLifetimeSeconds * 1000);
  const previous = await db.prisma.signingKey.findMany({ where: { retiresAt: null } });
  const added: string[] = [];
  for (const alg of SIGNING_ALGORITHMS) added.push(await storeKey(db, encryptor, alg, publishDelaySeconds > 0 ? activatesAt : null));
  await db.prisma.signingKey.updateMany({ where: { kid: { in: previous.map((k) => k.kid) } }, data: { retiresAt } });
  await db.notifyChange('keys');
  return {
    added,
    activatesAt: activatesAt.toISOString(),
    retiring: previous.map((k) => ({ kid: k.kid, retiresAt: retiresAt.toISOString() })),
  };
}

/** Drops keys whose retirement time has passed, so the table does not grow forever. */
export async function deleteRetiredKeys(db: Database): Promise<number> {
  const { count } = await db.prisma.signingKey.deleteMany({ where: { retiresAt: { lt: new Date() } } });
  return count;
}
