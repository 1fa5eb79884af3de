import { createHmac, createSecretKey } from 'node:crypto';

/** Name of the shared secret (src/keys/shared-secrets.ts) pairwise subjects are computed with. */
export const PAIRWISE_SECRET_NAME = 'pairwise-subject';

/** Hosts that say nothing about who runs an app: anyone can receive a redirect there on their own machine. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The sector an app's pairwise subjects are computed for (OIDC Core §8.1): the host of its
 * redirect URIs, so that apps one company runs on one host see the same subject. An app whose
 * redirect URIs do not name exactly one real host is a sector of its own (its client_id):
 * - several hosts: whoever lists a victim's host beside their own would otherwise receive codes
 *   at their own host and read the victim's subjects (§8.1 asks for a sector_identifier_uri
 *   then, which Latchkey does not fetch: the server never fetches client-supplied URLs);
 * - loopback or a custom scheme (native apps, local development): every native app on every
 *   machine shares those "hosts", so they identify nobody.
 * Moving an app to another host changes its sector, hence every subject it sees.
 */
export function sectorOf(client: { clientId: string; redirectUris?: readonly string[] }): string {
  const hosts = new Set<string>();
  for (const uri of client.redirectUris ?? []) {
    const url = URL.parse(uri);
    const host = url && (url.protocol === 'https:' || url.protocol === 'http:') ? url.hostname : '';
    if (!host || LOOPBACK_HOSTS.has(host) || host.endsWith('.localhost')) return `client:${client.clientId}`;
    hosts.add(host);
  }
  return hosts.size === 1 ? `host:${[...hosts][0]}` : `client:${client.clientId}`;
}

/**
 * Pairwise subjects: HMAC-SHA256 under a server-side secret (random, stored encrypted with
 * ENCRYPTION_KEY, the same on every instance) of the sector and the account id. Stable for a
 * sector, different across sectors, and not computable from the account id by anyone without
 * the secret — a database backup alone does not have it.
 */
export function pairwiseSubjects(secret: Buffer) {
  if (secret.length < 32) throw new Error('the pairwise-subject secret must be at least 32 bytes');
  // A KeyObject made once: createHmac with a raw Buffer key costs several times more per call on Node 24 (OpenSSL 3).
  const key = createSecretKey(secret);
  return (accountId: string, sector: string): string => createHmac('sha256', key).update(sector).update('\0').update(accountId).digest('base64url');
}
