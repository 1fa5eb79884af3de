import type { Services } from '../context.ts';

/**
 * Tokens issued per client and day (client_usage), counted on oidc-provider's `grant.success`
 * (every successful token-endpoint response: code, refresh, client_credentials). Counts are
 * summed in memory and written every FLUSH_MS, one upsert per client, so the token endpoint
 * pays nothing per request. These are statistics for the portal: a count not yet written when
 * the process dies is lost. Clients not in the client table (the account console) are skipped.
 */
const FLUSH_MS = 2000;

type Counter = { counts: Map<string, number>; timer?: NodeJS.Timeout };
const counters = new WeakMap<object, Counter>();

export function recordTokenIssued(services: Pick<Services, 'db' | 'logger'>, clientId: string): void {
  let counter = counters.get(services.db);
  if (!counter) counters.set(services.db, (counter = { counts: new Map() }));
  counter.counts.set(clientId, (counter.counts.get(clientId) ?? 0) + 1);
  counter.timer ??= setTimeout(() => flushUsage(services, counter), FLUSH_MS).unref();
}

function flushUsage(services: Pick<Services, 'db' | 'logger'>, counter: Counter): void {
  counter.timer = undefined;
  const counts = counter.counts;
  counter.counts = new Map();
  for (const [clientId, n] of counts) {
    services.db.sql
      .query(
        `INSERT INTO client_usage (client_id, day, tokens_issued)
         SELECT $1, current_date, $2 WHERE EXISTS (SELECT 1 FROM client WHERE id = $1)
         ON CONFLICT (client_id, day) DO UPDATE SET tokens_issued = client_usage.tokens_issued + EXCLUDED.tokens_issued`,
        [clientId, n],
      )
      .catch((err) => services.logger.warn({ err, clientId }, 'could not count issued tokens'));
  }
}
