import type { Services } from '../context.ts';
import { storedTokenId } from '../storage/stored-ids.ts';

/**
 * New recovery codes waiting on the account page to be saved (POST → redirect → GET, so a
 * reload shows them again instead of "Method Not Allowed" or new codes). Held for one browser
 * session, at most SHOW_SECONDS, encrypted under ENCRYPTION_KEY (bound to the session), in
 * oidc_payload under a model oidc-provider never uses, so the purge job removes what is left;
 * "I have saved them" deletes them at once.
 */
const MODEL = 'LatchkeyShownRecoveryCodes';
const SHOW_SECONDS = 900;

type Deps = Pick<Services, 'db' | 'encryptor'>;

const context = (sessionUid: string) => `shown-recovery-codes:${sessionUid}`;

export async function holdCodesToShow(services: Deps, sessionUid: string, codes: string[]): Promise<void> {
  const sealed = services.encryptor.encrypt(JSON.stringify(codes), context(sessionUid));
  await services.db.sql.query(
    `INSERT INTO oidc_payload (model, id, payload, expires_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, expires_at = EXCLUDED.expires_at`,
    [MODEL, storedTokenId(sessionUid), JSON.stringify({ sealed }), new Date(Date.now() + SHOW_SECONDS * 1000)],
  );
}

export async function codesToShow(services: Deps, sessionUid: string): Promise<string[] | undefined> {
  const { rows } = await services.db.sql.query<{ payload: { sealed?: string } | string }>(
    'SELECT payload FROM oidc_payload WHERE model = $1 AND id = $2 AND expires_at > now()',
    [MODEL, storedTokenId(sessionUid)],
  );
  const payload = rows[0] && (typeof rows[0].payload === 'string' ? JSON.parse(rows[0].payload) : rows[0].payload);
  if (!payload?.sealed) return undefined;
  return JSON.parse(services.encryptor.decrypt(payload.sealed, context(sessionUid))) as string[];
}

export async function forgetCodesToShow(services: Pick<Services, 'db'>, sessionUid: string): Promise<void> {
  await services.db.sql.query('DELETE FROM oidc_payload WHERE model = $1 AND id = $2', [MODEL, storedTokenId(sessionUid)]);
}
