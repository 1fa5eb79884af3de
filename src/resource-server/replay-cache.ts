/**
 * Remembers DPoP proof ids (`jti`) for as long as a proof could still be accepted, so a
 * captured proof cannot be replayed. Bounded in time (entries expire) and size (the oldest
 * entry goes first); proofs older than the acceptance window are refused anyway, so an
 * evicted entry can only be replayed while still inside that window under a flood.
 */
export class ReplayCache {
  #expiries = new Map<string, number>();
  readonly maxEntries: number;

  constructor(maxEntries = 100_000) {
    this.maxEntries = maxEntries;
  }

  /** Records `id` until `expiresAtMs`; returns false if it was already recorded (a replay). */
  remember(id: string, expiresAtMs: number, nowMs = Date.now()): boolean {
    this.#evictExpired(nowMs);
    const known = this.#expiries.get(id);
    if (known !== undefined && known > nowMs) return false;
    while (this.#expiries.size >= this.maxEntries) {
      const oldest = this.#expiries.keys().next().value as string;
      this.#expiries.delete(oldest);
    }
    this.#expiries.set(id, expiresAtMs);
    return true;
  }

  get size(): number {
    return this.#expiries.size;
  }

  #evictExpired(nowMs: number) {
    // Entries are inserted with roughly increasing expiry, so stop at the first live one.
    for (const [id, expiry] of this.#expiries) {
      if (expiry > nowMs) break;
      this.#expiries.delete(id);
    }
  }
}
