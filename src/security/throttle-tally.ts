import type { SecurityEvents } from './security-events.ts';

/**
 * The OAuth endpoints' 429s (token, introspection, revocation, PAR, registration) in the audit
 * log without one row per refusal: a flood of 10,000 requests a second from one address must not
 * become 10,000 audit rows a second. Refusals are counted in memory per (address, minute) and
 * written as one `oauth.throttled` event per address when the minute is over, with the count
 * (`details.count`) — so the dashboard's figure is the sum of the counts of the events
 * `latchkey audit --type oauth.throttled` lists for the same window.
 *
 * Who abuses it: a flood from very many addresses (an IPv6 /64 sprayed one request each) would
 * make one event per address; beyond MAX_ADDRESSES in a minute, the rest are counted together in
 * one event without an address (`details.other_addresses: true`), so memory and rows stay bounded.
 * Each instance tallies its own refusals; a clean stop writes the minute so far.
 */
export const OAUTH_THROTTLED = 'oauth.throttled';

/** Why the request was refused: its budget ran out, or its address (or client at it) is suspended. */
export type ThrottleReason = 'rate_limited' | 'suspended';

export const MAX_ADDRESSES = 1000;
const MINUTE_MS = 60_000;

interface Tally {
  count: number;
  rate_limited: number;
  suspended: number;
}

export interface ThrottleTally {
  /** One refused request from `ip`. */
  count(ip: string, reason: ThrottleReason): void;
  /** Writes the minute so far (at a clean stop) and stops the timer. */
  stop(): void;
}

export function createThrottleTally(events: Pick<SecurityEvents, 'emit'>, now: () => number = Date.now): ThrottleTally {
  let minute = 0;
  let byAddress = new Map<string, Tally>();
  let others: Tally | undefined;
  let timer: NodeJS.Timeout | undefined;

  const write = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const from = new Date(minute * MINUTE_MS).toISOString();
    for (const [ip, t] of byAddress) events.emit({ type: OAUTH_THROTTLED, ip, details: { minute: from, ...t } });
    if (others) events.emit({ type: OAUTH_THROTTLED, details: { minute: from, other_addresses: true, ...others } });
    byAddress = new Map();
    others = undefined;
  };

  return {
    count(ip, reason) {
      const current = Math.floor(now() / MINUTE_MS);
      if (current !== minute) {
        write();
        minute = current;
      }
      let tally = byAddress.get(ip);
      if (!tally && byAddress.size >= MAX_ADDRESSES) {
        tally = others ??= { count: 0, rate_limited: 0, suspended: 0 };
      } else if (!tally) {
        tally = { count: 0, rate_limited: 0, suspended: 0 };
        byAddress.set(ip, tally);
      }
      tally.count++;
      tally[reason]++;
      // Written once the minute is over, even if no other refusal comes to notice it.
      timer ??= setTimeout(write, (minute + 1) * MINUTE_MS - now() + 50).unref();
    },
    stop: write,
  };
}
