import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares two secrets without leaking, through timing, where they differ or how long the
 * expected one is (both sides are hashed to the same length first).
 */
export function constantTimeEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer …` header, if there is one. */
export function bearerToken(authorization: string): string | undefined {
  return /^Bearer (.+)$/i.exec(authorization)?.[1];
}
