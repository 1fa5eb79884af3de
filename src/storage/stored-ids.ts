import { createHash, randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';

/**
 * How a bearer value is kept in `oidc_payload`: under its SHA-256 (base64url), never as
 * itself, and without itself inside the stored payload. A copy of the database (a backup, a
 * replica, a leaked dump) then holds no working refresh token, code, opaque access token,
 * session, interaction, PAR request_uri or registration token: the stored key is a hash, and
 * presenting it is hashed again and matches nothing.
 *
 * Plain SHA-256 rather than a keyed HMAC: every value hashed here is ≥ 128 bits of CSPRNG output
 * from oidc-provider (nanoid), so the hash cannot be inverted or guessed, and an unkeyed hash
 * lets the migration hash existing rows in SQL (`sha256()`, PostgreSQL ≥ 11 and PGlite) and
 * keeps every instance and the CLI in agreement without one more shared secret.
 *
 * Grants are the exception: a grant id is a reference between rows (tokens carry `grantId`, the
 * account page revokes by it), never presented as a credential, so it stays as it is.
 */
export const storedTokenId = (value: string): string => createHash('sha256').update(value).digest('base64url');

/** Models stored under their own id: grants (see above) and clients (their own tables). */
const PLAIN_ID_MODELS = new Set(['Grant', 'Client']);
export const hashesIds = (model: string): boolean => !PLAIN_ID_MODELS.has(model);

/**
 * A reference to a stored row handed back to oidc-provider where it needs an id it would look
 * up again (an Interaction's `parJti`, a Session found by uid): the row's stored key behind a
 * prefix random per process. It is never stored and never leaves the process, so a request
 * cannot present a stored hash and have it taken as already hashed (it would need the prefix:
 * 144 random bits).
 */
const LOCAL_REFERENCE = `lk-ref.${randomBytes(18).toString('base64url')}.`;
export const localReference = (storedKey: string): string => LOCAL_REFERENCE + storedKey;

/** The row key for a value oidc-provider gives the adapter: its hash, or the key a local reference carries. */
export function storedKeyOf(model: string, id: string): string {
  if (!hashesIds(model)) return id;
  return id.startsWith(LOCAL_REFERENCE) ? id.slice(LOCAL_REFERENCE.length) : storedTokenId(id);
}

/** Stands for the interaction's own uid inside its stored `returnTo` (an issuer URL has no '#'). */
const OWN_ID = '#uid#';

/** Fields of an Interaction that name another model's bearer value. */
const INTERACTION_REFERENCES = { parJti: 'PushedAuthorizationRequest', deviceCode: 'DeviceCode' } as const;

/**
 * The payload as stored: without `jti` (the row is found by the hash of it, and find is given
 * the value back), and for an Interaction without the bearer values it carries — its own uid
 * in `returnTo` (the resume URL), the session cookie value (`session.cookie`, which
 * oidc-provider copies in but never reads back) and the PAR / device code it continues (kept
 * as their stored keys).
 */
export function toStoredPayload(model: string, id: string, payload: AdapterPayload): AdapterPayload {
  if (!hashesIds(model)) return payload;
  const { jti: _jti, ...stored } = payload as AdapterPayload & Record<string, unknown>;
  if (model !== 'Interaction') return stored as AdapterPayload;
  if (typeof stored.returnTo === 'string') stored.returnTo = stored.returnTo.split(id).join(OWN_ID);
  if (stored.session && typeof stored.session === 'object') {
    const { cookie: _cookie, ...session } = stored.session as Record<string, unknown>;
    stored.session = session;
  }
  for (const [field, referenced] of Object.entries(INTERACTION_REFERENCES)) {
    if (typeof stored[field] === 'string') stored[field] = storedKeyOf(referenced, stored[field] as string);
  }
  return stored as AdapterPayload;
}

/** The payload oidc-provider expects back from find(id): what toStoredPayload took out, put back. */
export function fromStoredPayload(model: string, id: string, stored: AdapterPayload): AdapterPayload {
  if (!hashesIds(model)) return stored;
  const payload = { ...stored, jti: id } as AdapterPayload & Record<string, unknown>;
  if (model !== 'Interaction') return payload;
  if (typeof payload.returnTo === 'string') payload.returnTo = payload.returnTo.split(OWN_ID).join(id);
  for (const field of Object.keys(INTERACTION_REFERENCES)) {
    if (typeof payload[field] === 'string') payload[field] = localReference(payload[field] as string);
  }
  return payload;
}
