import type { Services } from '../context.ts';
import { migrationStatus } from '../storage/migrator.ts';

/**
 * Whether this instance can serve requests, as far as its database goes: the database answers
 * within the time allowed, and every migration of this release is applied. For /readyz
 * (src/observability/health-routes.ts), which a load balancer asks every few seconds: reads only.
 */
export type DatabaseReadiness =
  | { ready: true; database: Services['db']['kind'] }
  | { ready: false; reason: 'migrations pending'; pending: string[] }
  | {
      ready: false;
      reason: 'database unreachable';
      /** no answer in time, a failed query, or a migration history this release cannot reconcile */
      error: unknown;
    };

/** A database that takes longer than this is as good as unreachable to a readiness probe. */
export const READINESS_TIMEOUT_MS = 3000;

export async function databaseReadiness(services: Pick<Services, 'db'>, timeoutMs = READINESS_TIMEOUT_MS): Promise<DatabaseReadiness> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const status = await Promise.race([
      migrationStatus(services.db.sql),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('database timeout')), timeoutMs);
        timer.unref();
      }),
    ]);
    if (status.pending.length) return { ready: false, reason: 'migrations pending', pending: status.pending };
    return { ready: true, database: services.db.kind };
  } catch (error) {
    return { ready: false, reason: 'database unreachable', error };
  } finally {
    clearTimeout(timer);
  }
}
