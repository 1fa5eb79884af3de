import type { Encryptor } from '../crypto/encryption.ts';
import type { Database } from '../storage/database.ts';
import { storableText } from '../storage/sql.ts';
import { subjectMetadataFor } from './client-rules.ts';

export interface StoredClient {
  /** What oidc-provider receives: validated metadata plus the decrypted secret. */
  metadata: Record<string, unknown>;
  /** API scopes this client may ask for. */
  allowedScopes: Set<string>;
  /** API scopes an operator approved for client_credentials (machine) tokens; the API must still offer them */
  approvedMachineScopes: Set<string>;
  suspended: boolean;
  /** CLIENT_APPROVAL=manual and not yet approved: unusable, like a suspended client */
  approvalPending: boolean;
  /** after a rotation with a grace period: the previous secret and until when it is accepted (ms) */
  previousSecret?: { value: string; validUntil: number };
  ownerId: string | null;
  name: string;
  type: string;
  /** marked first-party by an operator: public subject instead of a pairwise one */
  firstParty: boolean;
}

export const secretContext = (clientId: string) => `client-secret:${clientId}`;
export const previousSecretContext = (clientId: string) => `client-previous-secret:${clientId}`;

/**
 * Clients live in Prisma tables. oidc-provider looks a client up on every request, so
 * lookups are cached for a short TTL and dropped as soon as any instance announces a change
 * (`client:<id>` on the change channel).
 */
export class ClientStore {
  #cache = new Map<string, { value: StoredClient | null; at: number }>();

  private readonly db: Database;
  private readonly encryptor: Encryptor;
  private readonly ttlMs: number;

  constructor(db: Database, encryptor: Encryptor, ttlMs: number) {
    this.db = db;
    this.encryptor = encryptor;
    this.ttlMs = ttlMs;
    db.onChange((topic) => {
      if (topic === 'clients') this.#cache.clear();
      else if (topic.startsWith('client:')) this.#cache.delete(topic.slice('client:'.length));
      else if (topic === 'apis') this.#cache.clear();
    });
  }

  async find(clientId: string): Promise<StoredClient | undefined> {
    if (!storableText(clientId)) return undefined;
    const hit = this.#cache.get(clientId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.value ?? undefined;
    const at = Date.now();
    const value = await this.#load(clientId);
    this.#cache.set(clientId, { value, at });
    return value ?? undefined;
  }

  async #load(clientId: string): Promise<StoredClient | null> {
    if (clientId.length > 200) return null;
    const row = await this.db.prisma.client.findUnique({
      where: { id: clientId },
      include: { scopes: { include: { scope: true } }, machineScopes: { include: { scope: true } } },
    });
    if (!row) return null;
    const metadata: Record<string, unknown> = { ...(row.metadata as Record<string, unknown>), client_id: row.id };
    // Decided on every load (an edit may change the hosts); a stored sector_identifier_uri can only be a stale stand-in.
    delete metadata.sector_identifier_uri;
    Object.assign(metadata, subjectMetadataFor(metadata, row.firstParty));
    if (row.secretEncrypted) metadata.client_secret = this.encryptor.decrypt(row.secretEncrypted, secretContext(row.id));
    return {
      metadata,
      allowedScopes: new Set(row.scopes.map((s) => s.scope.name)),
      approvedMachineScopes: new Set(row.machineScopes.map((s) => s.scope.name)),
      suspended: row.suspendedAt !== null,
      approvalPending: row.approvalPending,
      ...(row.previousSecretEncrypted && row.previousSecretExpiresAt && row.previousSecretExpiresAt.getTime() > Date.now()
        ? { previousSecret: { value: this.encryptor.decrypt(row.previousSecretEncrypted, previousSecretContext(row.id)), validUntil: row.previousSecretExpiresAt.getTime() } }
        : {}),
      ownerId: row.ownerId,
      name: row.name,
      type: row.type,
      firstParty: row.firstParty,
    };
  }
}
