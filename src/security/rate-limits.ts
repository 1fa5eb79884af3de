import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Budget, Config } from '../config/config.ts';
import type { Database } from '../storage/database.ts';

/**
 * The rate limiters. On the embedded database (one process) counters live in memory; with
 * DATABASE_URL they live in the `rate_limit` table so every instance shares one budget, with
 * an in-memory "insurance" limiter taking over if the database is briefly unreachable.
 */
export type LimitName =
  | 'signin-ip'
  | 'signin-account'
  | 'token-ip'
  | 'token-client'
  | 'registration-ip'
  | 'mail-ip'
  | 'mail-address'
  | 'fail-account-ip'
  | 'fail-account'
  | 'fail-client'
  | 'fail-ip';

/**
 * Budgets on the token, introspection and revocation endpoints are counted per instance, in
 * memory: a shared counter would cost two row-locked upserts on every token request and
 * serialise the hottest path. With N instances the effective budget is N times the setting
 * (docs/operating-securely.md). Sign-in, registration and failure counters — low volume, where
 * an attacker spreading guesses over instances matters — are shared.
 */
const PER_INSTANCE: ReadonlySet<LimitName> = new Set(['token-ip', 'token-client']);

/** Pure: a value safe to use as a limiter or suspension key (PostgreSQL text refuses NUL). */
export function keyOf(value: string | undefined | null): string | undefined {
  const cleaned = Buffer.from(value ?? '', 'utf8').toString('utf8').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 200);
  return cleaned || undefined;
}

export class RateLimits {
  readonly #limiters = new Map<LimitName, RateLimiterAbstract>();
  readonly budgets: Record<LimitName, Budget>;
  private readonly onLimited: (name: LimitName) => void;

  /** `onLimited` hears of every refusal (the metrics counter), whoever asked. */
  constructor(config: Config, db: Database, onLimited: (name: LimitName) => void = () => {}) {
    this.onLimited = onLimited;
    const { rateLimits: r, lockout: l } = config.security;
    this.budgets = {
      'signin-ip': r.signinIp,
      'signin-account': r.signinAccount,
      'token-ip': r.tokenIp,
      'token-client': r.tokenClient,
      'registration-ip': r.registrationIp,
      'mail-ip': r.mailIp,
      'mail-address': r.mailAddress,
      'fail-account-ip': l.accountIpFailures,
      'fail-account': l.accountFailures,
      'fail-client': l.clientFailures,
      'fail-ip': l.ipFailures,
    };
    const storeClient = { query: (q: { text: string; values?: unknown[] }) => db.sql.query(q.text, q.values) };
    for (const [name, budget] of Object.entries(this.budgets) as Array<[LimitName, Budget]>) {
      const options = { keyPrefix: name, points: budget.points, duration: budget.seconds };
      this.#limiters.set(
        name,
        db.kind === 'postgres' && !PER_INSTANCE.has(name)
          ? new RateLimiterPostgres({
              ...options,
              storeClient,
              storeType: 'pool',
              tableName: 'rate_limit',
              tableCreated: true,
              clearExpiredByTimeout: name === 'signin-ip',
              insuranceLimiter: new RateLimiterMemory(options),
            })
          : new RateLimiterMemory(options),
      );
    }
  }

  /** Takes one point; returns seconds to wait when over budget, else 0. */
  async consume(name: LimitName, key: string): Promise<number> {
    try {
      await this.#limiters.get(name)!.consume(key.slice(0, 200));
      return 0;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        this.onLimited(name);
        return Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      }
      throw rejection;
    }
  }

  /** Counts a failure; true when the budget is reached (the counter then starts again). */
  async countFailure(name: LimitName, key: string): Promise<boolean> {
    const limiter = this.#limiters.get(name)!;
    const k = key.slice(0, 200);
    const res = await limiter.penalty(k, 1);
    if (res.consumedPoints >= this.budgets[name].points) {
      await limiter.delete(k);
      return true;
    }
    return false;
  }

  async reset(name: LimitName, key: string): Promise<void> {
    await this.#limiters.get(name)!.delete(key.slice(0, 200));
  }
}
