/**
 * How soon a resource server refuses a revoked JWT: Latchkey rebuilds its status list at most
 * every SERVER_CACHE_SECONDS, the API (the kit in examples/notes-api) keeps its copy for
 * KIT_STATUS_CACHE_SECONDS; so a revocation must show within both, plus a margin for the
 * requests themselves. The tests poll the API for the refusal and measure how long it took.
 */
import { SERVER_CACHE_SECONDS } from '../../src/revocation/status-list-feed.ts';

/** The status-list cache the tests give the notes API (`statusList: { cacheSeconds }`). */
export const KIT_STATUS_CACHE_SECONDS = 2;
const MARGIN_MS = 1500;
export const REVOKED_WITHIN_MS = (SERVER_CACHE_SECONDS + KIT_STATUS_CACHE_SECONDS) * 1000 + MARGIN_MS;

export interface Refusal {
  /** from the start of the polling to the first refusal */
  ms: number;
  status: number;
  body: { error?: string; error_description?: string };
  /** the WWW-Authenticate header */
  challenge: string;
}

/** Calls GET `url` with the token until the API refuses it (a few seconds past the allowed time at most). */
export async function untilRefused(url: string, token: string): Promise<Refusal> {
  const started = Date.now();
  while (Date.now() - started < REVOKED_WITHIN_MS + 5000) {
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) {
      const text = await response.text();
      return { ms: Date.now() - started, status: response.status, body: text ? JSON.parse(text) : {}, challenge: response.headers.get('www-authenticate') ?? '' };
    }
    await response.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the token was never refused by ${url}`);
}
