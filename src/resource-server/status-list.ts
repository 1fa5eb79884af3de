import { jwtVerify, type JWTPayload } from 'jose';
import { invalidToken } from './access-token-error.ts';
import type { KeySet } from './issuer-key-set.ts';
import { decompressStatusList, getStatus, isStatusBits, STATUS_VALID, type StatusBits } from './status-list-bits.ts';

/**
 * Revocation that reaches JWT access tokens, per draft-ietf-oauth-status-list: a token that
 * carries `status: { status_list: { idx, uri } }` is checked against the issuer's Status List
 * Token at `uri` — a JWT (`typ: statuslist+jwt`) signed with the issuer's keys, whose
 * `status_list.lst` is a compressed bitstring. Lists are cached per URI for a few seconds,
 * so revocation reaches this API within (issuer cache + `cacheSeconds`) without calling
 * the issuer per request.
 *
 * Fail closed: a token that names a status list is refused when the list cannot be fetched
 * or verified (bad signature, wrong typ/iss/sub, expired) — never accepted on a guess.
 */
export interface StatusListOptions {
  /** How long a fetched list is reused, in seconds; default 5, at most 300, never past the list's `ttl` or `exp`. */
  cacheSeconds?: number;
  /**
   * Accept list URIs on other origins than the issuer's. Default false: `uri` must share the
   * issuer's origin (the token is signed by the issuer anyway; this also stops it from
   * pointing the API at arbitrary hosts).
   */
  allowOtherOrigins?: boolean;
}

export interface StatusReference {
  idx: number;
  uri: string;
}

interface StatusListEntry {
  list: Uint8Array;
  bits: StatusBits;
}

export const DEFAULT_STATUS_LIST_CACHE_SECONDS = 5;
const MAX_CACHE_SECONDS = 300;
/** After a failed fetch, requests for that list fail fast for this long instead of hammering the issuer. */
const FAILURE_BACKOFF_MS = 1000;
const FETCH_TIMEOUT_MS = 5000;
const MAX_LIST_TOKEN_BYTES = 1024 * 1024;

type Cached = { until: number; entry?: StatusListEntry; failed?: true; pending?: Promise<StatusListEntry> };
const cache = new Map<string, Cached>();

/** Reads the referenced-token claim; undefined when the token has none, throws when it is malformed. */
export function statusReferenceOf(claims: Record<string, unknown>): StatusReference | undefined {
  if (claims.status === undefined) return undefined;
  const ref = (claims.status as { status_list?: { idx?: unknown; uri?: unknown } } | null)?.status_list;
  if (!ref || !Number.isInteger(ref.idx) || (ref.idx as number) < 0 || typeof ref.uri !== 'string') {
    throw invalidToken("the access token's status claim is malformed");
  }
  return { idx: ref.idx as number, uri: ref.uri };
}

async function fetchStatusList(uri: string, issuer: string, keys: KeySet, algorithms: readonly string[], clockTolerance: number) {
  const response = await fetch(uri, { headers: { accept: 'application/statuslist+jwt' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' });
  if (!response.ok) throw new Error(`status list ${uri} answered ${response.status}`);
  const text = (await response.text()).trim();
  if (text.length > MAX_LIST_TOKEN_BYTES) throw new Error('status list token too large');
  const { payload } = await jwtVerify(text, keys, {
    issuer,
    subject: uri,
    typ: 'statuslist+jwt',
    algorithms: algorithms as string[],
    clockTolerance,
    requiredClaims: ['iat', 'sub'],
  });
  const statusList = (payload as JWTPayload & { status_list?: { bits?: unknown; lst?: unknown } }).status_list;
  if (!statusList || !isStatusBits(statusList.bits) || typeof statusList.lst !== 'string') throw new Error('status list token has no valid status_list');
  const entry = { list: decompressStatusList(statusList.lst), bits: statusList.bits };
  const ttl = typeof payload.ttl === 'number' && payload.ttl >= 0 ? payload.ttl : Infinity;
  return { entry, ttl, exp: payload.exp };
}

async function statusListFor(uri: string, issuer: string, keys: KeySet, algorithms: readonly string[], options: StatusListOptions, clockTolerance: number) {
  const key = `${issuer} ${uri}`;
  const now = Date.now();
  const hit = cache.get(key);
  if (hit && hit.until > now) {
    if (hit.entry) return hit.entry;
    if (hit.failed) throw new Error('status list recently unavailable');
  }
  if (hit?.pending) return hit.pending;
  const pending = fetchStatusList(uri, issuer, keys, algorithms, clockTolerance).then(
    ({ entry, ttl, exp }) => {
      const seconds = Math.min(Math.max(options.cacheSeconds ?? DEFAULT_STATUS_LIST_CACHE_SECONDS, 0), MAX_CACHE_SECONDS, ttl);
      const fetchedAt = Date.now();
      const until = Math.min(fetchedAt + seconds * 1000, typeof exp === 'number' ? exp * 1000 : Infinity);
      cache.set(key, { until, entry });
      return entry;
    },
    (error: unknown) => {
      cache.set(key, { until: Date.now() + FAILURE_BACKOFF_MS, failed: true });
      throw error;
    },
  );
  cache.set(key, { until: 0, pending });
  return pending;
}

/** Throws invalid_token when the referenced status is not VALID, or when it cannot be established. */
export async function assertNotRevoked(
  ref: StatusReference,
  context: { issuer: string; keys: KeySet; algorithms: readonly string[]; clockToleranceSeconds: number },
  options: StatusListOptions = {},
): Promise<void> {
  let uri: URL;
  try {
    uri = new URL(ref.uri);
  } catch {
    throw invalidToken("the access token's status list URI is invalid");
  }
  if (!options.allowOtherOrigins && uri.origin !== new URL(context.issuer).origin) {
    throw invalidToken("the access token's status list is not on the issuer's origin");
  }
  let entry: StatusListEntry;
  try {
    entry = await statusListFor(ref.uri, context.issuer, context.keys, context.algorithms, options, context.clockToleranceSeconds);
  } catch {
    throw invalidToken("the access token's revocation status cannot be checked right now");
  }
  const status = getStatus(entry.list, ref.idx, entry.bits);
  if (status === undefined) throw invalidToken("the access token's status is not in its status list");
  if (status !== STATUS_VALID) throw invalidToken('the access token has been revoked');
}

/** Forgets cached lists (tests, or an API that wants the next request to refetch). */
export function clearStatusListCache(): void {
  cache.clear();
}
