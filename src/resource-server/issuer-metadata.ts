/**
 * The issuer's discovery document (OpenID Connect Discovery / RFC 8414), fetched once per
 * issuer and kept for an hour. A failed fetch is not cached, so the next request retries.
 */
export interface IssuerMetadata {
  issuer: string;
  jwks_uri: string;
  introspection_endpoint?: string;
  [key: string]: unknown;
}

const METADATA_MAX_AGE_MS = 60 * 60 * 1000;
const FETCH_TIMEOUT_MS = 5000;

const cache = new Map<string, { at: number; metadata: Promise<IssuerMetadata> }>();

async function fetchMetadata(issuer: string): Promise<IssuerMetadata> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`issuer discovery failed: ${url} answered ${response.status}`);
  const metadata = (await response.json()) as IssuerMetadata;
  if (metadata.issuer !== issuer) throw new Error(`issuer discovery: ${url} names issuer ${metadata.issuer}, expected ${issuer}`);
  if (typeof metadata.jwks_uri !== 'string') throw new Error(`issuer discovery: ${url} has no jwks_uri`);
  return metadata;
}

export function discoverIssuer(issuer: string): Promise<IssuerMetadata> {
  const hit = cache.get(issuer);
  if (hit && Date.now() - hit.at < METADATA_MAX_AGE_MS) return hit.metadata;
  const metadata = fetchMetadata(issuer);
  const entry = { at: Date.now(), metadata };
  cache.set(issuer, entry);
  metadata.catch(() => {
    if (cache.get(issuer) === entry) cache.delete(issuer);
  });
  return metadata;
}
