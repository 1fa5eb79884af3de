/**
 * Calls `fn` on every item, `width` at a time: hundreds of independent requests need not wait for
 * each other's round trips (the server is one process, so more in flight would only queue).
 */
export async function eachAtOnce<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}
